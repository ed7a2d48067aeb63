/**
 * The protocol engine of one connection, either side (docs/protocol.md §D.2): message ids, requests
 * matched to `__response__` by id, routing of incoming messages by type (exact, then prefix), per-request
 * timeouts and AbortSignal. It knows nothing about websockets; a {@link Transport} moves its frames.
 *
 * Sends are serial: each message's frames are encoded and handed to the transport in one synchronous step,
 * so two messages never interleave (§D.1).
 */
import { RoomrunnerError } from '../errors.js';
import { contentFromParts, packContent, type Content, type ErrorContent } from '../protocol/content.js';
import { encodeFrames } from '../protocol/frames.js';
import { FrameReader, type FrameMessage } from '../protocol/frame-reader.js';
import { MESSAGE_TYPES } from '../protocol/messages.js';
import { packMessage, unpackMessage, type JsonObject } from '../protocol/packing.js';
import type { Transport } from './transport.js';

/** Default per-request timeout. MeshAgent itself has none (§E.10); a lost answer must not hang a caller forever. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export type MessageHandler = (message: FrameMessage, session: Session) => void | Promise<void>;

export interface SessionOptions {
  /** Largest message the reader assembles (see FrameReader). */
  maxMessageBytes?: number;
  /** Default timeout for {@link Session.request}; 0 disables it. */
  requestTimeoutMs?: number;
  /** First id this side uses. npm starts at 0, Python at 1 (§D.2). */
  firstId?: number;
  /** Called for frames the reader refuses and for handler failures. Never throws into the socket. */
  onError?: (error: unknown, context: { id?: number; type?: string }) => void;
  /** Called for a message no handler claims. */
  onUnhandled?: MessageHandler;
  /**
   * Start the transport in the constructor (default true). Pass false to register handlers first and then call
   * {@link Session.start}: a transport may deliver buffered frames synchronously when it starts.
   */
  autoStart?: boolean;
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Pending {
  resolve(packedContent: Uint8Array): void;
  reject(error: unknown): void;
  cleanup(): void;
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

export class Session {
  readonly #transport: Transport;
  readonly #reader: FrameReader;
  readonly #options: SessionOptions;
  readonly #handlers = new Map<string, MessageHandler>();
  readonly #prefixHandlers: Array<[string, MessageHandler]> = [];
  readonly #pending = new Map<number, Pending>();
  readonly #closed: Promise<CloseInfo>;
  #resolveClosed!: (info: CloseInfo) => void;
  #closeInfo: CloseInfo | undefined;
  #nextId: number;
  #started = false;

  constructor(transport: Transport, options: SessionOptions = {}) {
    this.#transport = transport;
    this.#options = options;
    this.#nextId = options.firstId ?? 0;
    this.#reader = new FrameReader(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes });
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    if (options.autoStart !== false) this.start();
  }

  /** Start delivering frames to the handlers. Idempotent; the constructor calls it unless `autoStart` is false. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#transport.start({
      onFrame: (frame) => this.#onFrame(frame),
      onClose: (code, reason) => this.#onClose(code, reason),
    });
  }

  /** Resolves once, when the transport closes, with its close code and reason. */
  get closed(): Promise<CloseInfo> {
    return this.#closed;
  }

  get closeInfo(): CloseInfo | undefined {
    return this.#closeInfo;
  }

  get isOpen(): boolean {
    return this.#closeInfo === undefined && this.#transport.isOpen;
  }

  get transport(): Transport {
    return this.#transport;
  }

  /** Take the next id of this side's id space. */
  nextId(): number {
    return this.#nextId++;
  }

  /** Route messages of exactly `type` to `handler`. Returns a function that removes it. */
  on(type: string, handler: MessageHandler): () => void {
    if (this.#handlers.has(type)) throw new RoomrunnerError('RR_ROOM_HANDLER_REFUSED', `a handler for ${type} is already registered`);
    this.#handlers.set(type, handler);
    return () => {
      if (this.#handlers.get(type) === handler) this.#handlers.delete(type);
    };
  }

  /** Route messages whose type starts with `prefix` (e.g. `room.tool_call.`) when no exact handler claims them. */
  onPrefix(prefix: string, handler: MessageHandler): () => void {
    const entry: [string, MessageHandler] = [prefix, handler];
    this.#prefixHandlers.push(entry);
    return () => {
      const i = this.#prefixHandlers.indexOf(entry);
      if (i >= 0) this.#prefixHandlers.splice(i, 1);
    };
  }

  /** Send raw message data with a given (or fresh) id. Resolves with the id once the socket has the frames. */
  async send(type: string, data: Uint8Array, id: number = this.nextId()): Promise<number> {
    if (!this.isOpen) throw this.#closedError();
    await this.#transport.sendFrames(encodeFrames(id, type, data));
    return id;
  }

  /** Send a packed header (+ payload) as a one-way message or event. */
  sendPacked(type: string, header: JsonObject, payload?: Uint8Array, id?: number): Promise<number> {
    return this.send(type, packMessage(header, payload), id);
  }

  /** Answer request `id` with a content (`__response__`, §D.2). */
  respond(id: number, content: Content): Promise<number> {
    return this.send(MESSAGE_TYPES.RESPONSE, packContent(content), id);
  }

  /** Answer request `id` with bytes already packed as a content (relays keep the bytes unchanged, §E.5). */
  respondRaw(id: number, packedContent: Uint8Array): Promise<number> {
    return this.send(MESSAGE_TYPES.RESPONSE, packedContent, id);
  }

  /**
   * Send a request and wait for its `__response__`. An `error` content rejects with RR_ROOM_SERVER_ERROR (its
   * `data.code` is the content's code); a timeout with RR_REQUEST_TIMEOUT; an abort with RR_REQUEST_ABORTED; a
   * close with RR_ROOM_CLOSED.
   */
  request(type: string, header: JsonObject, payload?: Uint8Array, options: RequestOptions = {}): Promise<Content> {
    return this.requestRaw(type, packMessage(header, payload), options).then(unpackResponse);
  }

  /** As {@link request}, resolving with the packed response bytes instead of a decoded content. */
  requestRaw(type: string, data: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (!this.isOpen) return Promise.reject(this.#closedError());
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(type, signal));
    const id = this.nextId();
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => settle(() => reject(abortError(type, signal as AbortSignal)));
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
      };
      const settle = (fn: () => void): void => {
        cleanup();
        fn();
      };
      if (timeoutMs > 0) {
        timer = setTimeout(
          () => settle(() => reject(new RoomrunnerError('RR_REQUEST_TIMEOUT', `${type} got no answer within ${timeoutMs} ms`, { data: { type, timeoutMs } }))),
          timeoutMs,
        );
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (bytes) => settle(() => resolve(bytes)),
        reject: (error) => settle(() => reject(error)),
        cleanup,
      });
      this.send(type, data, id).catch((error: unknown) => this.#pending.get(id)?.reject(error));
    });
  }

  /** Close the transport. Pending requests fail with RR_ROOM_CLOSED. Idempotent. */
  close(code = 1000, reason = ''): void {
    this.#transport.close(code, reason);
  }

  #onFrame(frame: Uint8Array): void {
    const result = this.#reader.push(frame);
    if (!result) return;
    if (result.kind === 'error') {
      // A refused answer (too large, say) fails its request now rather than at its timeout.
      if (result.type === MESSAGE_TYPES.RESPONSE && result.id !== undefined) this.#pending.get(result.id)?.reject(result.error);
      this.#reportError(result.error, { ...(result.id === undefined ? {} : { id: result.id }), ...(result.type === undefined ? {} : { type: result.type }) });
      return;
    }
    this.#dispatch(result.message);
  }

  #dispatch(message: FrameMessage): void {
    if (message.type === MESSAGE_TYPES.RESPONSE) {
      // A late or unknown response id is ignored (§D.2).
      this.#pending.get(message.id)?.resolve(message.data);
      return;
    }
    const handler = this.#handlers.get(message.type) ?? this.#prefixHandlers.find(([p]) => message.type.startsWith(p))?.[1] ?? this.#options.onUnhandled;
    if (!handler) return;
    try {
      const result = handler(message, this);
      if (result) result.catch((error: unknown) => this.#reportError(error, { id: message.id, type: message.type }));
    } catch (error) {
      this.#reportError(error, { id: message.id, type: message.type });
    }
  }

  #reportError(error: unknown, context: { id?: number; type?: string }): void {
    try {
      this.#options.onError?.(error, context);
    } catch {
      // An error reporter that throws must not take the socket down.
    }
  }

  #onClose(code: number, reason: string): void {
    if (this.#closeInfo) return;
    this.#closeInfo = { code, reason };
    const error = this.#closedError();
    for (const pending of [...this.#pending.values()]) pending.reject(error);
    this.#resolveClosed(this.#closeInfo);
  }

  #closedError(): RoomrunnerError {
    const info = this.#closeInfo;
    return new RoomrunnerError(
      'RR_ROOM_CLOSED',
      info ? `room connection closed (${info.code}${info.reason ? `: ${info.reason}` : ''})` : 'room connection is not open',
      {
        data: info ? { closeCode: info.code, reason: info.reason } : {},
      },
    );
  }
}

/** Decode a `__response__`: contents resolve, `error` contents reject with RR_ROOM_SERVER_ERROR. */
export function unpackResponse(bytes: Uint8Array): Content {
  const { header, payload } = unpackMessage(bytes);
  const content = contentFromParts(header, payload);
  if (content.type === 'error') throw serverError(content);
  return content;
}

/** The RR_ROOM_SERVER_ERROR for an `error` content; `data.code` stays unset when the content has no code. */
export function serverError(content: ErrorContent): RoomrunnerError {
  return new RoomrunnerError('RR_ROOM_SERVER_ERROR', content.text, { data: content.code === undefined ? {} : { code: content.code } });
}

function abortError(type: string, signal: AbortSignal): RoomrunnerError {
  return new RoomrunnerError('RR_REQUEST_ABORTED', `${type} was aborted`, { cause: signal.reason, data: { type } });
}
