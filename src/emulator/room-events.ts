/**
 * What the emulated room server saw, for tests and benches (docs/architecture.md §Style 11: the emulator records what it saw).
 *
 * A bounded ring buffer of {@link EmulatorEvent}s plus listeners, so a test can await "the host registered its
 * toolkit again" instead of polling or sleeping.
 */
import { wholeNumber } from '../util/options.js';

export type EmulatorEventKind =
  | 'room.created'
  /** The room was disabled (its upgrades answer HTTP 423) or enabled again. */
  | 'room.disabled'
  | 'room.enabled'
  | 'session.started'
  | 'session.ended'
  /**
   * A connection was refused: a websocket accepted and then closed at once because its token was refused
   * (§G, `code` is the close code), or an upgrade answered HTTP 423 because the room is disabled (`code` 423).
   */
  | 'refused'
  | 'connected'
  | 'disconnected'
  | 'attributes.set'
  | 'toolkit.registered'
  | 'toolkit.unregistered'
  | 'tool.called'
  /** The host answered (`ok` false when the answer is an `error` content); `type` is the content type. */
  | 'tool.answered'
  /** A call ended without an answer from its host (the host left, or the relay failed). */
  | 'tool.failed'
  | 'messaging.enabled'
  | 'messaging.disabled'
  | 'messaging.sent'
  | 'room.called'
  | 'status.pushed'
  | 'dismissed'
  /** A request was answered with an `error` content by the server itself (unknown type, bad header, grants). */
  | 'request.failed'
  /** The frame reader refused a frame (garbage, out of order, oversize). */
  | 'frame.error';

export interface EmulatorEvent {
  /** Increases by one per recorded event, across all rooms. */
  readonly seq: number;
  /** Milliseconds since the epoch (the server's `now`). */
  readonly at: number;
  readonly room: string;
  readonly kind: EmulatorEventKind;
  readonly sessionId?: string | undefined;
  readonly participantId?: string | undefined;
  readonly participantName?: string | undefined;
  readonly role?: string | undefined;
  readonly toolkit?: string | undefined;
  readonly tool?: string | undefined;
  readonly registrationId?: string | undefined;
  readonly public?: boolean | undefined;
  readonly toolCallId?: string | undefined;
  readonly callerId?: string | undefined;
  /** A websocket close code, or an `error` content code. */
  readonly code?: number | undefined;
  /** A close reason or an error text. */
  readonly reason?: string | undefined;
  /** A message type (`request.failed`), a content type (`tool.answered`), or a messaging type (`messaging.sent`). */
  readonly type?: string | undefined;
  readonly ok?: boolean | undefined;
}

export type EmulatorEventInput = Omit<EmulatorEvent, 'seq' | 'at'>;
export type EmulatorEventListener = (event: EmulatorEvent) => void;

export interface WaitForEventOptions {
  /** Also match events already in the buffer (oldest first). Default false: only events recorded from now on. */
  includePast?: boolean;
  signal?: AbortSignal;
}

/** Default number of events kept. */
export const DEFAULT_EVENT_CAPACITY = 10_000;

export class EmulatorEventLog {
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #buffer: EmulatorEvent[] = [];
  readonly #listeners = new Set<EmulatorEventListener>();
  #head = 0;
  #seq = 0;

  constructor(options: { capacity?: number; now?: () => number } = {}) {
    this.#capacity = wholeNumber('event capacity', options.capacity ?? DEFAULT_EVENT_CAPACITY, 1);
    this.#now = options.now ?? Date.now;
  }

  /** The kept events, oldest first (a copy). */
  snapshot(): EmulatorEvent[] {
    if (this.#buffer.length < this.#capacity) return [...this.#buffer];
    return [...this.#buffer.slice(this.#head), ...this.#buffer.slice(0, this.#head)];
  }

  record(input: EmulatorEventInput): EmulatorEvent {
    const event: EmulatorEvent = Object.freeze({ seq: ++this.#seq, at: this.#now(), ...dropUndefined(input) }) as EmulatorEvent;
    if (this.#buffer.length < this.#capacity) {
      this.#buffer.push(event);
    } else {
      this.#buffer[this.#head] = event;
      this.#head = (this.#head + 1) % this.#capacity;
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // A listener that throws must not break the server that records.
      }
    }
    return event;
  }

  subscribe(listener: EmulatorEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with the first event matching `predicate`; rejects if `signal` aborts. */
  waitFor(predicate: (event: EmulatorEvent) => boolean, options: WaitForEventOptions = {}): Promise<EmulatorEvent> {
    if (options.includePast) {
      const past = this.snapshot().find(predicate);
      if (past) return Promise.resolve(past);
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        unsubscribe();
        reject(signal?.reason);
      };
      const unsubscribe = this.subscribe((event) => {
        if (!predicate(event)) return;
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        resolve(event);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function dropUndefined<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = v;
  return out as T;
}
