/**
 * Test helpers over the emulator's event log: follow every registration of one toolkit as the room server
 * records it, and check the coordination invariant "a room never has two live registrations of an agent".
 *
 * A registration is live from `toolkit.registered` to its `toolkit.unregistered` (or its participant's
 * `disconnected`). Waiting is event-driven: `until(predicate)` re-checks after every recorded event.
 */
import type { EmulatorEvent } from '../../src/emulator/room-events.js';
import type { RoomServer } from '../../src/emulator/room-server.js';

export interface Registration {
  readonly room: string;
  readonly participantId: string;
  /** The participant's name (the replica's identity), from its `connected` event. */
  readonly participantName: string | undefined;
  readonly registrationId: string;
  readonly seq: number;
  readonly at: number;
}

export interface Violation {
  readonly room: string;
  readonly seq: number;
  readonly at: number;
  /** The live registrations at that moment (two or more). */
  readonly live: readonly Registration[];
}

export class RegistrationTracker {
  readonly toolkit: string;
  /** Every registration seen, in order. */
  readonly history: Registration[] = [];
  /** Every moment a room had more than one live registration. */
  readonly violations: Violation[] = [];
  readonly #live = new Map<string, Map<string, Registration>>();
  readonly #names = new Map<string, string>();
  readonly #waiters = new Set<() => void>();
  readonly #roomServer: RoomServer;
  readonly #listener: (event: EmulatorEvent) => void;

  /** Replays the events recorded so far, then follows new ones. */
  constructor(roomServer: RoomServer, toolkit: string) {
    this.toolkit = toolkit;
    this.#roomServer = roomServer;
    this.#listener = (event) => {
      this.#apply(event);
      for (const wake of [...this.#waiters]) wake();
    };
    for (const event of roomServer.events) this.#apply(event);
    roomServer.on('event', this.#listener);
  }

  /** Live registrations of the room now. */
  live(room: string): Registration[] {
    return [...(this.#live.get(room)?.values() ?? [])];
  }

  /** Rooms with exactly one live registration. */
  servedRooms(): string[] {
    return [...this.#live.entries()].filter(([, regs]) => regs.size === 1).map(([room]) => room);
  }

  /** Resolves once `predicate` holds (checked now and after every event); rejects when `signal` aborts. */
  until(predicate: () => boolean, signal?: AbortSignal): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.#waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
      };
      const check = (): void => {
        if (!predicate()) return;
        done();
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      this.#waiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.#roomServer.off('event', this.#listener);
    this.#waiters.clear();
  }

  #apply(event: EmulatorEvent): void {
    if (event.kind === 'connected' && event.participantId !== undefined && event.participantName !== undefined) {
      this.#names.set(event.participantId, event.participantName);
      return;
    }
    if (event.kind === 'toolkit.registered' && event.toolkit === this.toolkit && event.participantId && event.registrationId) {
      const registration: Registration = {
        room: event.room,
        participantId: event.participantId,
        participantName: this.#names.get(event.participantId),
        registrationId: event.registrationId,
        seq: event.seq,
        at: event.at,
      };
      this.history.push(registration);
      let live = this.#live.get(event.room);
      if (live === undefined) {
        live = new Map();
        this.#live.set(event.room, live);
      }
      live.set(event.registrationId, registration);
      if (live.size > 1) this.violations.push({ room: event.room, seq: event.seq, at: event.at, live: [...live.values()] });
      return;
    }
    if (event.kind === 'toolkit.unregistered' && event.toolkit === this.toolkit && event.registrationId) {
      this.#live.get(event.room)?.delete(event.registrationId);
      return;
    }
    if (event.kind === 'disconnected' && event.participantId) {
      const live = this.#live.get(event.room);
      for (const [id, registration] of live ?? []) if (registration.participantId === event.participantId) live?.delete(id);
    }
  }
}
