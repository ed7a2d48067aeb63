/**
 * A participant's reconnecting connection to one room (docs/protocol.md §C, §E.1, §G).
 *
 * One {@link Session} per socket: a reconnect builds a fresh Session, so ids restart (§D.2). The connection
 * owns what outlives a socket: the handlers registered with {@link RoomConnection.handle}, the local
 * attributes (re-sent after a reconnect, §E.1) and the caller's `onReady` hook, which runs after every
 * handshake so toolkits can be registered again (§E.2).
 *
 * Close rules (§G), decided in one place (`decide` in ./connection-state.ts): close 1000 is final; any other
 * close, a dropped socket or a missed pong reconnects with backoff (see ../util/backoff.ts) until
 * {@link RoomConnection.close}. A refusal is final whenever it comes: 401, 403, 404 or 423 at the HTTP upgrade,
 * or close 1008 before `room_ready`. Before the first ready, close 1000 is final too (unless its reason asks to
 * try again later); everything else is retried, or reported to start() at once with `retryBeforeReady: false`
 * (the orchestrator retries joins itself).
 *
 * The backoff counts on across drops until a connection has stayed up for `backoff.resetAfterMs`: a room that
 * accepts, registers and closes 1011 at once is redialed later and later, not every half second.
 *
 * Requests while the room is not ready (initial connect, reconnecting) wait for it, within the request's own
 * timeout and AbortSignal; they are sent on the new socket once it is ready. Requests already sent when a
 * socket drops fail with RR_ROOM_CLOSED: the room forgot them, and only the caller knows whether to repeat.
 */
import type { ClientOptions } from 'ws';
import { isRoomrunnerError, RoomrunnerError } from '../errors.js';
import { silentLogger, withBindings, type Logger } from '../logger.js';
import { errorContent, packContent, type Content } from '../protocol/content.js';
import type { FrameMessage } from '../protocol/frame-reader.js';
import { ConnectedSchema, MESSAGE_TYPES, MessagingSendSchema, parseHeader, RoomReadySchema, RoomStatusSchema } from '../protocol/messages.js';
import { unpackMessage, type JsonObject } from '../protocol/packing.js';
import { nonNegativeMs, positiveMs } from '../util/options.js';
import { attemptAfterDrop, backoffDelayMs, resolveBackoffOptions, type BackoffOptions } from '../util/backoff.js';
import { errorMessage } from '../util/error-message.js';
import {
  canMove,
  classifyClose,
  classifyFailure,
  decide,
  hasBeenReady,
  PHASE_TEXT,
  publicState,
  type AttemptPhase,
  type ClosedEvent,
  type Ending,
  type Lifecycle,
  type RoomConnectionState,
  type Verdict,
} from './connection-state.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, Session, type CloseInfo, type MessageHandler } from './session.js';
import type { Transport } from './transport.js';
import { Emitter } from './emitter.js';
import { NODE_TIMERS, type Timers } from './timers.js';
import { createWebSocketDialer, DEFAULT_PING_INTERVAL_MS, type Dialer } from './ws-dialer.js';

export type { ClosedEvent, RoomConnectionState } from './connection-state.js';
export type { Dialer, DialRequest, WebSocketDialerOptions } from './ws-dialer.js';
export { createWebSocketDialer, DEFAULT_PING_INTERVAL_MS } from './ws-dialer.js';
export type { Timers } from './timers.js';
import { roomNameFromUrl, roomUrl } from './url.js';

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 15_000;
/** Close code we send when the re-registration hook fails after a reconnect, so the next attempt starts clean. */
const CLOSE_HOOK_FAILED = 1011;

export interface ReadyInfo {
  /** False after the first handshake, true after every reconnect. */
  readonly reconnected: boolean;
}

export interface ReconnectingEvent {
  /** 0 for the first retry after a drop or failed attempt; resets once a socket stayed ready for `backoff.resetAfterMs`. */
  readonly attempt: number;
  readonly delayMs: number;
  /** The close that caused this retry, if a socket closed. */
  readonly code?: number;
  readonly reason?: string;
  /** The failure that caused this retry: a failed attempt, a close before the socket was ready, a failed re-registration. */
  readonly error?: unknown;
}

export interface StatusEvent {
  readonly status: string;
  readonly message: string | null;
}

/** A `messaging.send` pushed by the room (§E.6). */
export interface RoomMessage {
  readonly fromParticipantId: string | null;
  readonly type: string;
  readonly message: unknown;
  readonly attachment?: Uint8Array;
}

export interface RoomConnectionEvents {
  /** A socket finished its handshake and `onReady` succeeded. */
  ready: [ReadyInfo];
  /** A retry is scheduled (before the first ready, or after a drop). */
  reconnecting: [ReconnectingEvent];
  /** Terminal: close 1000, close(), a final start failure, or a drop with `reconnect: false`. Emitted once. */
  closed: [ClosedEvent];
  /** `room.status` (§E.1). */
  status: [StatusEvent];
  /** Every `messaging.send` (§E.6). */
  message: [RoomMessage];
  /** A `messaging.send` of type `dismiss`: the room asks this participant to leave (§A.6). */
  dismiss: [RoomMessage];
  /** A failure that did not end the connection: a bad frame, a handler that threw, a failed re-registration. */
  error: [unknown];
}

export interface RoomConnectionOptions {
  /** Room URL `.../rooms/<name>` (see roomUrl in ./url.ts); http(s) becomes ws(s). */
  url: string;
  /** A participant token, or a provider called before every attempt so a reconnect can use a fresh one. */
  token: string | (() => string | Promise<string>);
  logger?: Logger;
  /** Default timeout for {@link RoomConnection.request}, including any wait for the room; 0 disables. */
  requestTimeoutMs?: number;
  /** Budget for dialing plus `room_ready` + `connected`; default 15 s. A timeout is retried. */
  handshakeTimeoutMs?: number;
  maxMessageBytes?: number;
  /** Websocket ping interval; a socket with no pong one interval later is dropped (and reconnected). 0 disables. */
  pingIntervalMs?: number;
  /** Reconnect after drops and retry failed start attempts (default true). False: the first failure is final. */
  reconnect?: boolean;
  /**
   * Retry failed attempts before the first ready (default true). False: start() rejects with the first
   * attempt's own error (e.g. `connect ECONNREFUSED …`), for callers that retry with their own bound; drops
   * after the first ready still reconnect.
   */
  retryBeforeReady?: boolean;
  /**
   * Waits for a turn before each (re-)registration (`onReady`) and returns the function that ends it. The signal
   * aborts when the socket closes or the connection is closed meanwhile. Callers bound the CPU-heavy part of many
   * joins with it (the orchestrator's join slots) without holding a turn while a room is slow to answer.
   */
  registrationSlot?: (signal: AbortSignal) => Promise<() => void>;
  backoff?: BackoffOptions;
  random?: () => number;
  timers?: Timers;
  now?: () => number;
  /** The caller's (re-)registration hook, run after every handshake before the connection reports ready. */
  onReady?: (connection: RoomConnection, info: ReadyInfo) => void | Promise<void>;
  /** Passed to `ws`; `perMessageDeflate` is always off and `Authorization` always set. */
  wsOptions?: ClientOptions;
  /** Replace the websocket dialer (tests use in-memory transports). */
  dial?: Dialer;
}

export interface ConnectionRequestOptions {
  /** Total budget: waiting for the room to be ready plus waiting for the answer. 0 disables. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

type Waiter = { resolve(session: Session): void; reject(error: unknown): void };

/** Message types the connection itself handles; {@link RoomConnection.handle} refuses them. */
const RESERVED_TYPES: ReadonlySet<string> = new Set([
  MESSAGE_TYPES.RESPONSE,
  MESSAGE_TYPES.ROOM_READY,
  MESSAGE_TYPES.CONNECTED,
  MESSAGE_TYPES.ROOM_STATUS,
  MESSAGE_TYPES.MESSAGING_SEND,
]);

/**
 * The connection's lifecycle is one {@link Lifecycle} value (./connection-state.ts); every move goes through one
 * check, which throws on a move the diagram does not have. `state` shows the public name in brackets.
 *
 * ```text
 *                 start()                  handshake + onReady
 *     idle ───────────────► connecting ─────────────────────────► ready
 *  [connecting]         [connecting or reconnecting]             [ready]
 *                          │      ▲                                │
 *        ending: retry     │      │ delay over                     │ socket closed: retry
 *                          ▼      │                                │
 *                       backing-off ◄──────────────────────────────┘
 *                   [connecting or reconnecting]
 *
 *     connecting, ready ──── ending: final ────► closed    (terminal; `closed` event, `closed` promise)
 *     idle, connecting, ready, backing-off ── close() ──► closing ── socket closed, loop stopped ──► closed
 *                                                [keeps the name it had]
 *     any state but closed ──── internal error (a bug in the loop) ────► closed
 * ```
 *
 * `connecting` and `backing-off` show `reconnecting` once a socket has been ready (`everReady`). Every way an
 * attempt or a socket ends is an {@link Ending}, and `decide` alone says whether it is retried (§G).
 */
export class RoomConnection {
  readonly #url: string;
  readonly #token: RoomConnectionOptions['token'];
  readonly #log: Logger;
  readonly #requestTimeoutMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #maxMessageBytes: number | undefined;
  readonly #reconnect: boolean;
  readonly #retryBeforeReady: boolean;
  readonly #registrationSlot: RoomConnectionOptions['registrationSlot'];
  readonly #backoff: Required<BackoffOptions>;
  readonly #random: () => number;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #onReady: RoomConnectionOptions['onReady'];
  readonly #dial: Dialer;
  readonly #events = new Emitter<RoomConnectionEvents>((error) => this.#log.warn({ err: error }, 'room connection listener threw'));

  readonly #handlers = new Map<string, MessageHandler>();
  readonly #prefixHandlers = new Map<string, MessageHandler>();
  #applied = new Map<string, () => void>();

  /** The one lifecycle field; changed only by {@link #transition}. */
  #state: Lifecycle = { kind: 'idle' };
  #closePromise: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  /** The handshake in progress, if any: where room_ready and connected of its socket go. */
  #handshakeSink: HandshakeSink | undefined;
  #waiters = new Set<Waiter>();
  #start: { promise: Promise<void>; resolve(): void; reject(error: unknown): void; settled: boolean } | undefined;
  readonly #closed: Promise<ClosedEvent>;
  #resolveClosed!: (event: ClosedEvent) => void;

  #participantId: string | undefined;
  #roomName: string | undefined;
  #roomUrl: string | undefined;
  #sessionId: string | undefined;
  #attributes: JsonObject = {};
  /** Attributes set before the first handshake, sent once it completes. */
  #unsentAttributes: JsonObject | undefined;

  constructor(options: RoomConnectionOptions) {
    this.#url = roomUrl(options.url);
    this.#token = options.token;
    if (typeof this.#token !== 'string' && typeof this.#token !== 'function') {
      throw new RoomrunnerError('RR_OPTION_INVALID', 'token must be a participant token string or a function that returns one');
    }
    this.#roomName = roomNameFromUrl(this.#url);
    this.#log = withBindings(options.logger ?? silentLogger(), { room: this.#roomName });
    this.#requestTimeoutMs = nonNegativeMs('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    this.#handshakeTimeoutMs = positiveMs('handshakeTimeoutMs', options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#reconnect = options.reconnect ?? true;
    this.#retryBeforeReady = options.retryBeforeReady ?? true;
    this.#registrationSlot = options.registrationSlot;
    this.#backoff = resolveBackoffOptions(options.backoff);
    this.#random = options.random ?? Math.random;
    this.#timers = options.timers ?? NODE_TIMERS;
    this.#now = options.now ?? Date.now;
    this.#onReady = options.onReady;
    this.#dial =
      options.dial ??
      createWebSocketDialer({
        timers: this.#timers,
        pingIntervalMs: nonNegativeMs('pingIntervalMs', options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS),
        ...(options.wsOptions ? { wsOptions: options.wsOptions } : {}),
      });
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get state(): RoomConnectionState {
    return publicState(this.#state);
  }
  /** The room URL this connection dials (without the token). */
  get url(): string {
    return this.#url;
  }
  /** This participant's id from the latest `connected` (a fresh one per socket). */
  get participantId(): string | undefined {
    return this.#participantId;
  }
  /** From `room_ready`, else from the URL. */
  get roomName(): string | undefined {
    return this.#roomName;
  }
  get roomUrl(): string | undefined {
    return this.#roomUrl;
  }
  get sessionId(): string | undefined {
    return this.#sessionId;
  }
  /** Local attributes: the room's view from `connected`, merged with what {@link setAttributes} set. */
  get attributes(): Readonly<JsonObject> {
    return { ...this.#attributes };
  }
  /** Resolves once, when the connection becomes `closed`. Never rejects. */
  get closed(): Promise<ClosedEvent> {
    return this.#closed;
  }

  on<K extends keyof RoomConnectionEvents>(event: K, listener: (...args: RoomConnectionEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }
  once<K extends keyof RoomConnectionEvents>(event: K, listener: (...args: RoomConnectionEvents[K]) => void): () => void {
    return this.#events.once(event, listener);
  }
  off<K extends keyof RoomConnectionEvents>(event: K, listener: (...args: RoomConnectionEvents[K]) => void): void {
    this.#events.off(event, listener);
  }

  /**
   * Connect. Resolves on the first ready (handshake + `onReady`); rejects on a final failure
   * (RR_ROOM_HANDSHAKE_REFUSED, RR_ROOM_NOT_READY, the hook's error), with RR_ROOM_ABORTED when close() is
   * called first, and when `signal` aborts with its reason (a RoomrunnerError keeps its code) plus what the
   * attempt was waiting for and the URL. `signal` only bounds the start. A second call returns the same promise.
   */
  start(signal?: AbortSignal): Promise<void> {
    if (this.#start) return this.#start.promise;
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const start = { promise, resolve, reject, settled: false };
    this.#start = start;
    if (this.#stopping) {
      start.settled = true;
      reject(new RoomrunnerError('RR_ROOM_ABORTED', 'room connection was closed before start()'));
      return promise;
    }
    if (signal) {
      const onAbort = (): void => void this.#close({ code: 1000, reason: 'start aborted' }, givenUp(signal.reason, this.#phase, this.#url));
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        const detach = (): void => signal.removeEventListener('abort', onAbort);
        promise.then(detach, detach);
      }
    }
    if (!this.#stopping) {
      // #run moves to `connecting` before its first await, so the connection is started when start() returns.
      this.#loop = this.#run().catch((error: unknown) => this.#finish({ code: 1011, reason: 'internal error' }, error));
    }
    return promise;
  }

  /**
   * Send a request on the current socket and wait for its answer. While the room is connecting or reconnecting
   * the request waits for it to be ready, within the same timeout. Rejects with RR_ROOM_SERVER_ERROR for an
   * `error` answer (`data.code`, `contentCode`), RR_REQUEST_TIMEOUT, RR_REQUEST_ABORTED or RR_ROOM_CLOSED.
   */
  async request(type: string, header: JsonObject, payload?: Uint8Array, options: ConnectionRequestOptions = {}): Promise<Content> {
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    const started = this.#now();
    const session = await this.#usableSession(type, timeoutMs, options.signal);
    const remaining = timeoutMs === 0 ? 0 : Math.max(1, timeoutMs - (this.#now() - started));
    return session.request(type, header, payload, { timeoutMs: remaining, ...(options.signal ? { signal: options.signal } : {}) });
  }

  /** Send a one-way message (no answer expected), waiting for the room like {@link request}. */
  async send(type: string, header: JsonObject, payload?: Uint8Array, options: ConnectionRequestOptions = {}): Promise<void> {
    const session = await this.#usableSession(type, options.timeoutMs ?? this.#requestTimeoutMs, options.signal);
    await session.sendPacked(type, header, payload);
  }

  /**
   * Merge attributes into the local ones and send `set_attributes` (one-way, §E.1). While not connected they
   * are only stored: the whole set is re-sent after the next handshake.
   */
  async setAttributes(attributes: JsonObject): Promise<void> {
    this.#attributes = { ...this.#attributes, ...attributes };
    const session = this.#session;
    if (!session?.isOpen) {
      if (!hasBeenReady(this.#state)) this.#unsentAttributes = { ...this.#unsentAttributes, ...attributes };
      return;
    }
    await session.sendPacked(MESSAGE_TYPES.SET_ATTRIBUTES, attributes).catch((error: unknown) => {
      this.#log.debug({ err: error }, 'set_attributes not sent; it is re-sent after reconnecting');
    });
  }

  /**
   * Serve messages of exactly `type` (e.g. a server-initiated `room.tool_call.<toolkit>`) on every socket,
   * the current one and each one after a reconnect. Answer on the `session` the handler gets: ids belong to
   * one socket. Returns a function that removes the handler.
   */
  handle(type: string, handler: MessageHandler): () => void {
    if (RESERVED_TYPES.has(type))
      throw new RoomrunnerError('RR_ROOM_HANDLER_REFUSED', `${type} is handled by the room connection; listen to its events instead`);
    if (this.#handlers.has(type)) throw new RoomrunnerError('RR_ROOM_HANDLER_REFUSED', `a handler for ${type} is already registered`);
    this.#handlers.set(type, handler);
    this.#apply(`=${type}`, (s) => s.on(type, handler));
    return () => {
      if (this.#handlers.get(type) !== handler) return;
      this.#handlers.delete(type);
      this.#unapply(`=${type}`);
    };
  }

  /** As {@link handle}, for every type starting with `prefix` that no exact handler claims. */
  handlePrefix(prefix: string, handler: MessageHandler): () => void {
    if (this.#prefixHandlers.has(prefix)) throw new RoomrunnerError('RR_ROOM_HANDLER_REFUSED', `a handler for prefix ${prefix} is already registered`);
    this.#prefixHandlers.set(prefix, handler);
    this.#apply(`^${prefix}`, (s) => s.onPrefix(prefix, handler));
    return () => {
      if (this.#prefixHandlers.get(prefix) !== handler) return;
      this.#prefixHandlers.delete(prefix);
      this.#unapply(`^${prefix}`);
    };
  }

  /**
   * Stop reconnecting, close the socket with `code`, and resolve once it has closed. Idempotent: later calls
   * return the first call's promise. Pending requests fail with RR_ROOM_CLOSED.
   */
  close(code = 1000, reason = ''): Promise<void> {
    return this.#close({ code, reason });
  }

  /** close(), and for start()'s signal the error start() rejects with (`startError`). */
  #close(request: CloseInfo, startError?: RoomrunnerError): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    const from = this.#state;
    if (from.kind !== 'closed') {
      this.#transition({
        kind: 'closing',
        request,
        shown: publicState(from),
        everReady: hasBeenReady(from),
        ...(startError ? { startError } : {}),
      });
      if (from.kind === 'connecting') {
        from.abort.abort(new RoomrunnerError('RR_ROOM_ABORTED', `room connection closed before it became ready${request.reason ? `: ${request.reason}` : ''}`));
      }
      if (from.kind === 'backing-off') from.wake();
      if (from.kind === 'connecting' || from.kind === 'ready') from.session?.close(request.code, request.reason);
    }
    const loop = this.#loop ?? Promise.resolve();
    this.#closePromise = loop.then(() => this.#finish(request));
    return this.#closePromise;
  }

  // --- the lifecycle ---

  /** The one way the lifecycle changes. A move the diagram (see the class comment) does not have is a bug: it throws. */
  #transition(next: Lifecycle): void {
    const from = this.#state.kind;
    if (!canMove(from, next.kind)) throw new Error(`room connection: illegal state change ${from} → ${next.kind}`);
    this.#state = next;
  }

  /** close() was called or the connection is closed: the loop stops at its next step. */
  get #stopping(): boolean {
    return this.#state.kind === 'closing' || this.#state.kind === 'closed';
  }

  /** How far the current (or last failed) attempt got, for a start() given up by its signal. */
  get #phase(): AttemptPhase {
    const state = this.#state;
    return state.kind === 'connecting' || state.kind === 'backing-off' ? state.phase : 'dialing';
  }

  /** The socket's session from its creation (handshake included) until the loop moves past it. */
  get #socketSession(): Session | undefined {
    const state = this.#state;
    return state.kind === 'connecting' || state.kind === 'ready' ? state.session : undefined;
  }

  /** The socket's session once its handshake is done: requests may use it (`onReady` makes some). */
  get #session(): Session | undefined {
    const state = this.#state;
    if (state.kind === 'ready') return state.session;
    if (state.kind === 'connecting' && (state.phase === 'waiting for a registration turn' || state.phase === 'registering')) return state.session;
    return undefined;
  }

  /** The reconnect policy's verdict on `ending`, for this connection's options and history. */
  #verdict(ending: Ending): Verdict {
    return decide(ending, { everReady: hasBeenReady(this.#state), reconnect: this.#reconnect, retryBeforeReady: this.#retryBeforeReady });
  }

  /** Record a new phase (and the socket's session) of the attempt in progress; nothing once close() was called. */
  #enterPhase(phase: AttemptPhase, session?: Session): void {
    const state = this.#state;
    if (state.kind !== 'connecting') return;
    const socket = session ?? state.session;
    this.#transition({ ...state, phase, ...(socket ? { session: socket } : {}) });
  }

  // --- the connect/reconnect loop ---

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      const everReady = hasBeenReady(this.#state);
      const abort = new AbortController();
      this.#transition({ kind: 'connecting', attempt: failures, everReady, phase: 'dialing', abort });
      const ending = await this.#attempt(abort, everReady);
      if (ending === undefined) return; // close() was called: it finishes the connection
      const wasReady = this.#state.kind === 'ready';
      if (this.#state.kind === 'ready') {
        // Only a connection that stayed up for a while starts the backoff again (see ../util/backoff.ts).
        failures = attemptAfterDrop(failures, this.#now() - this.#state.since, this.#backoff);
      }
      if (this.#verdict(ending) === 'final') {
        this.#finish(finalClose(ending), ending.error);
        return;
      }
      if (this.#stopping) return;
      const { code, reason, error } = retryCause(ending);
      const fields = { attempt: failures, ending: ending.kind, code, reason, err: error };
      if (wasReady) this.#log.warn(fields, 'room connection lost; reconnecting');
      else this.#log.info(fields, 'room connect attempt failed');
      await this.#backOff(failures++, ending);
    }
  }

  /**
   * One attempt and the life of its socket: dial, handshake, registration turn, `onReady`, ready until the
   * socket closes. Resolves with why it ended, or undefined when close() was called meanwhile.
   */
  async #attempt(abort: AbortController, reconnected: boolean): Promise<Ending | undefined> {
    const connected = await this.#connectAttempt(abort);
    if (this.#stopping) return undefined;
    if (!(connected instanceof Session)) return connected;
    const session = connected;
    this.#enterPhase(this.#registrationSlot ? 'waiting for a registration turn' : 'registering');
    this.#sendAttributesAfterHandshake(session, reconnected);
    const turn = await this.#takeRegistrationSlot(session, abort.signal);
    if (this.#stopping) {
      if (typeof turn === 'function') turn();
      return undefined;
    }
    let hook: HookResult = { ok: true };
    if (typeof turn === 'function') {
      try {
        this.#enterPhase('registering');
        hook = await this.#runReadyHook(session, reconnected);
      } finally {
        turn();
      }
    } else if (session.isOpen) {
      // No turn was given (the slot refused) on a socket that is still open: this attempt failed. It never
      // becomes ready without its registration.
      session.close(CLOSE_HOOK_FAILED, 'no registration turn');
      await session.closed;
      return classifyFailure(turn.error);
    }
    if (this.#stopping) return undefined;
    if (!hook.ok && session.isOpen) {
      const ending: Ending = { kind: 'hook-failed', error: hook.error };
      if (this.#verdict(ending) === 'final') {
        // The first registration failed: report it to start() rather than retrying a likely bug forever.
        session.close(1000, 'ready hook failed');
      } else {
        this.#log.warn({ err: hook.error }, 'room re-registration failed; reconnecting');
        this.#events.emit('error', hook.error);
        session.close(CLOSE_HOOK_FAILED, 'ready hook failed');
      }
      await session.closed;
      return ending;
    }
    if (session.isOpen) this.#markReady(session, reconnected);
    const info = await session.closed;
    if (this.#stopping) return undefined;
    return classifyClose(info, { beforeReady: this.#state.kind !== 'ready' });
  }

  /** Dial and wait for `room_ready` + `connected`, within the handshake timeout: the session, or why not. */
  async #connectAttempt(abort: AbortController): Promise<Session | Ending> {
    const timeout = new RoomrunnerError('RR_ROOM_NOT_READY', `room_ready and connected did not arrive within ${this.#handshakeTimeoutMs} ms`, {
      data: { retryable: true, timeoutMs: this.#handshakeTimeoutMs },
    });
    const timer = this.#timers.setTimeout(() => abort.abort(timeout), this.#handshakeTimeoutMs);
    const { signal } = abort;
    try {
      const token = await abortable(this.#resolveToken(), signal);
      const transport = await abortable(this.#dial({ url: this.#url, token, signal }), signal, (t) => t.close(1000, 'connect abandoned'));
      return await this.#handshake(transport, signal);
    } catch (error) {
      if (error === timeout) return { kind: 'timeout', phase: this.#phase, error: timeout };
      return classifyFailure(error);
    } finally {
      this.#timers.clearTimeout(timer);
    }
  }

  /** Resolves with the session once room_ready and connected have come, or with the close that came first. */
  #handshake(transport: Transport, signal: AbortSignal): Promise<Session | Ending> {
    return new Promise<Session | Ending>((resolve, reject) => {
      let done = false;
      let ready: RoomReadyHeader | undefined;
      let connected: ConnectedHeader | undefined;
      // Everything below lives only until the handshake settles: the
      // socket's `closed` reaches this scope through `watch`, which drops it, so none of it outlives the handshake.
      // room_ready and connected reach it through #handshakeSink, also dropped then.
      const watch: { onClosed: ((info: CloseInfo) => void) | undefined } = { onClosed: undefined };
      const settle = (): void => {
        done = true;
        watch.onClosed = undefined;
        signal.removeEventListener('abort', onAbort);
        if (this.#handshakeSink === sink) this.#handshakeSink = undefined;
      };
      const onAbort = (): void => {
        if (done) return;
        settle();
        session.close(1000, 'handshake abandoned');
        void session.closed.then(() => reject(signal.reason));
      };
      const check = (): void => {
        if (done || !ready || !connected) return;
        settle();
        this.#roomName = ready.room_name;
        this.#roomUrl = ready.room_url;
        this.#sessionId = ready.session_id;
        this.#participantId = connected.participantId;
        // The room's view first, ours over it: what we set survives a reconnect (npm does the same).
        this.#attributes = { ...connected.attributes, ...this.#attributes };
        resolve(session);
      };
      const session = this.#createSession(transport);
      const sink: HandshakeSink = {
        session,
        roomReady: (header) => {
          ready = header;
          check();
        },
        connected: (header) => {
          connected = header;
          check();
        },
      };
      this.#handshakeSink = sink;
      watch.onClosed = (info) => {
        if (done) return;
        settle();
        resolve(classifyClose(info, { beforeReady: true }));
      };
      this.#enterPhase('handshake', session);
      watchClosed(session, watch);
      // Only now may frames (buffered ones included) reach the handlers above.
      session.start();
      if (signal.aborted) onAbort();
      else if (!done) signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A Session with every per-socket handler on it (the handshake adds its own); frames flow once it is started. */
  #createSession(transport: Transport): Session {
    const session = new Session(transport, {
      autoStart: false,
      requestTimeoutMs: this.#requestTimeoutMs,
      ...(this.#maxMessageBytes === undefined ? {} : { maxMessageBytes: this.#maxMessageBytes }),
      onError: this.#onSessionError,
      onUnhandled: this.#onUnhandledMessage,
    });
    session.on(MESSAGE_TYPES.ROOM_READY, this.#onRoomReady);
    session.on(MESSAGE_TYPES.CONNECTED, this.#onConnected);
    session.on(MESSAGE_TYPES.ROOM_STATUS, this.#onRoomStatus);
    session.on(MESSAGE_TYPES.MESSAGING_SEND, this.#onMessagingSend);
    this.#applied = new Map();
    for (const [type, handler] of this.#handlers) this.#applied.set(`=${type}`, session.on(type, handler));
    for (const [prefix, handler] of this.#prefixHandlers) this.#applied.set(`^${prefix}`, session.onPrefix(prefix, handler));
    return session;
  }

  // Per-socket handlers, made once per connection rather than once per socket.
  readonly #onSessionError = (error: unknown, context: { id?: number; type?: string }): void => {
    this.#log.warn({ err: error, ...context }, 'room message failed');
    this.#events.emit('error', error);
  };

  readonly #onUnhandledMessage: MessageHandler = (message, s) => this.#onUnhandled(message, s);

  /** room_ready and connected go to the handshake of their socket while it runs, and are ignored after it. */
  readonly #onRoomReady: MessageHandler = (m, s) => {
    const header = parseHeader(RoomReadySchema, unpackMessage(m.data).header, m.type);
    const sink = this.#handshakeSink;
    if (sink?.session === s) sink.roomReady(header);
  };

  readonly #onConnected: MessageHandler = (m, s) => {
    const header = parseHeader(ConnectedSchema, unpackMessage(m.data).header, m.type);
    const sink = this.#handshakeSink;
    if (header.type === 'init' && sink?.session === s) sink.connected(header);
  };

  readonly #onRoomStatus: MessageHandler = (m) => {
    const header = parseHeader(RoomStatusSchema, unpackMessage(m.data).header, m.type);
    this.#events.emit('status', { status: header.status, message: header.message ?? null });
  };

  readonly #onMessagingSend: MessageHandler = (m) => {
    const { header, payload } = unpackMessage(m.data);
    const parsed = parseHeader(MessagingSendSchema, header, m.type);
    const message: RoomMessage = {
      fromParticipantId: parsed.from_participant_id ?? null,
      type: parsed.type,
      message: parsed.message ?? null,
      ...(payload.length > 0 ? { attachment: payload } : {}),
    };
    this.#events.emit('message', message);
    if (message.type === 'dismiss') this.#events.emit('dismiss', message);
  };

  /** Unknown tool calls get an error answer, or the room's caller would wait forever (§E.10); other types are dropped (§D.2). */
  async #onUnhandled(message: FrameMessage, session: Session): Promise<void> {
    if (message.type.startsWith(MESSAGE_TYPES.TOOL_CALL_PREFIX)) {
      const toolkit = message.type.slice(MESSAGE_TYPES.TOOL_CALL_PREFIX.length);
      const error = new RoomrunnerError('RR_ROOM_TOOLKIT_NOT_HOSTED', `toolkit '${toolkit}' is not served by this participant`);
      await session.send(MESSAGE_TYPES.TOOL_CALL_RESPONSE, packContent(errorContent(error.message, error.contentCode)), message.id);
      return;
    }
    this.#log.debug({ type: message.type, id: message.id }, 'room message with no handler dropped');
  }

  #sendAttributesAfterHandshake(session: Session, reconnected: boolean): void {
    const attributes = reconnected ? this.#attributes : this.#unsentAttributes;
    this.#unsentAttributes = undefined;
    if (!attributes || Object.keys(attributes).length === 0) return;
    session.sendPacked(MESSAGE_TYPES.SET_ATTRIBUTES, attributes).catch((error: unknown) => {
      this.#log.debug({ err: error }, 'set_attributes not sent after handshake');
    });
  }

  /**
   * Waits for a registration turn (the `registrationSlot` option); resolves with the function that ends it, or
   * with why no turn is held: the socket closed, the connection was closed, or the slot refused (its error).
   */
  async #takeRegistrationSlot(session: Session, attempt: AbortSignal): Promise<(() => void) | { readonly error: unknown }> {
    const take = this.#registrationSlot;
    if (take === undefined) return () => undefined;
    const controller = new AbortController();
    const stop = (): void => controller.abort(new RoomrunnerError('RR_ROOM_CLOSED', 'the socket closed while waiting for a registration turn'));
    const giveUp = (): void => controller.abort(attempt.reason);
    void session.closed.then(stop);
    if (attempt.aborted) giveUp();
    else attempt.addEventListener('abort', giveUp, { once: true });
    try {
      const release = await take(controller.signal);
      if (!session.isOpen || this.#stopping) {
        release();
        return { error: new RoomrunnerError('RR_ROOM_CLOSED', 'the socket closed while waiting for a registration turn') };
      }
      return release;
    } catch (error) {
      return { error };
    } finally {
      attempt.removeEventListener('abort', giveUp);
    }
  }

  /** Run onReady, but stop waiting if the socket closes under it (its late result is ignored). */
  async #runReadyHook(session: Session, reconnected: boolean): Promise<HookResult> {
    if (!this.#onReady) return { ok: true };
    const hook = (async () => this.#onReady?.(this, { reconnected }))().then(
      () => ({ ok: true as const }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    return Promise.race([hook, session.closed.then(() => ({ ok: true as const }))]);
  }

  #markReady(session: Session, reconnected: boolean): void {
    this.#transition({ kind: 'ready', session, since: this.#now() });
    // The first ready at debug: the orchestrator's 'agents attached' says it with the participant, once per room.
    if (reconnected) this.#log.info({ participantId: this.#participantId, reconnected }, 'room reconnected');
    else this.#log.debug({ participantId: this.#participantId, reconnected }, 'room ready');
    const start = this.#start;
    if (start && !start.settled) {
      start.settled = true;
      start.resolve();
    }
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.resolve(session);
    this.#events.emit('ready', { reconnected });
  }

  /**
   * Wait before retry number `attempt`, in `backing-off`. The `reconnecting` event goes out first; a listener
   * may call close() from it, which wakes the wait at once.
   */
  async #backOff(attempt: number, ending: Ending): Promise<void> {
    const delayMs = backoffDelayMs(attempt, this.#random, this.#backoff);
    let wake!: () => void;
    const slept = new Promise<void>((resolve) => (wake = resolve));
    this.#transition({ kind: 'backing-off', attempt, delayMs, everReady: hasBeenReady(this.#state), phase: this.#phase, wake });
    this.#events.emit('reconnecting', { attempt, delayMs, ...retryCause(ending) });
    if (this.#stopping) return;
    const handle = this.#timers.setTimeout(wake, delayMs);
    await slept;
    this.#timers.clearTimeout(handle);
  }

  /** Move to `closed` (once): settle start(), fail the requests waiting for the room, emit `closed`. */
  #finish(info: CloseInfo, error?: unknown): void {
    const from = this.#state;
    if (from.kind === 'closed') return;
    const event: ClosedEvent = error === undefined ? { code: info.code, reason: info.reason } : { code: info.code, reason: info.reason, error };
    this.#transition({ kind: 'closed', event, everReady: hasBeenReady(from) });
    const start = this.#start;
    if (start && !start.settled) {
      start.settled = true;
      start.reject(
        error ??
          (from.kind === 'closing'
            ? (from.startError ??
              new RoomrunnerError('RR_ROOM_ABORTED', `room connection closed before it became ready${info.reason ? `: ${info.reason}` : ''}`))
            : classifyClose(info, { beforeReady: true }).error),
      );
    }
    const closedError = new RoomrunnerError('RR_ROOM_CLOSED', `room connection closed (${info.code}${info.reason ? `: ${info.reason}` : ''})`, {
      data: { closeCode: info.code, reason: info.reason },
    });
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.reject(closedError);
    // Debug: the orchestrator's 'room detached' says why the room was left, once per room.
    this.#log.debug({ code: info.code, reason: info.reason }, 'room connection closed');
    this.#events.emit('closed', event);
    this.#resolveClosed(event);
  }

  // --- helpers ---

  #usableSession(type: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<Session> {
    if (signal?.aborted) return Promise.reject(new RoomrunnerError('RR_REQUEST_ABORTED', `${type} was aborted`, { cause: signal.reason, data: { type } }));
    if (this.#stopping) {
      return Promise.reject(new RoomrunnerError('RR_ROOM_CLOSED', `room connection is closed; ${type} not sent`, { data: { type } }));
    }
    if (this.#state.kind === 'idle') {
      return Promise.reject(new RoomrunnerError('RR_ROOM_NOT_READY', `room connection not started; call start() before ${type}`, { data: { type } }));
    }
    const session = this.#session;
    if (session?.isOpen) return Promise.resolve(session);
    return new Promise<Session>((resolve, reject) => {
      let timer: unknown;
      const onAbort = (): void => waiter.reject(new RoomrunnerError('RR_REQUEST_ABORTED', `${type} was aborted`, { cause: signal?.reason, data: { type } }));
      const cleanup = (): void => {
        if (timer !== undefined) this.#timers.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        resolve: (s) => {
          cleanup();
          resolve(s);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      if (timeoutMs > 0) {
        timer = this.#timers.setTimeout(
          () =>
            waiter.reject(
              new RoomrunnerError('RR_REQUEST_TIMEOUT', `${type} not sent: the room was not ready within ${timeoutMs} ms`, { data: { type, timeoutMs } }),
            ),
          timeoutMs,
        );
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  async #resolveToken(): Promise<string> {
    const token = typeof this.#token === 'function' ? await this.#token() : this.#token;
    if (typeof token !== 'string' || token.length === 0) {
      throw new RoomrunnerError('RR_TOKEN_MALFORMED', 'the token provider returned no participant token');
    }
    return token;
  }

  #apply(key: string, register: (session: Session) => () => void): void {
    const session = this.#socketSession;
    if (session?.isOpen) this.#applied.set(key, register(session));
  }

  #unapply(key: string): void {
    this.#applied.get(key)?.();
    this.#applied.delete(key);
  }
}

type HookResult = { ok: true } | { ok: false; error: unknown };
type HandshakeSink = { readonly session: Session; roomReady(header: RoomReadyHeader): void; connected(header: ConnectedHeader): void };
type RoomReadyHeader = { room_name: string; room_url?: string | undefined; session_id?: string | undefined };
type ConnectedHeader = { participantId: string; attributes: Record<string, unknown> };

// --- small pieces ---

/**
 * Call `watch.onClosed` when the session closes, if it is still set then. A function of its own so the reaction
 * holds `watch` and not the scope of the handshake that made it.
 */
function watchClosed(session: Session, watch: { onClosed: ((info: CloseInfo) => void) | undefined }): void {
  void session.closed.then((info) => watch.onClosed?.(info));
}

/** start() given up by its signal: the caller's reason (its code kept), with what the attempt was waiting for. */
function givenUp(reason: unknown, phase: AttemptPhase, url: string): RoomrunnerError {
  const where = `${PHASE_TEXT[phase]} ${url}`;
  if (isRoomrunnerError(reason))
    return new RoomrunnerError(reason.code, `${reason.message} (${where})`, { cause: reason, data: { ...reason.data, phase, url } });
  const text = reason === undefined ? 'aborted' : errorMessage(reason);
  return new RoomrunnerError('RR_ROOM_ABORTED', `room connection given up ${where}: ${text}`, { cause: reason, data: { phase, url } });
}

/** The close a final ending reports in the `closed` event: the socket's, or 1006 (no close frame) for a failed attempt. */
function finalClose(ending: Ending): CloseInfo {
  switch (ending.kind) {
    case 'refused':
      return ending.close ?? { code: 1006, reason: ending.error.message };
    case 'normal-close':
    case 'busy':
    case 'dropped':
      return ending.close;
    case 'hook-failed':
      return { code: 1000, reason: 'ready hook failed' };
    case 'timeout':
    case 'failed':
    case 'aborted':
      return { code: 1006, reason: errorMessage(ending.error) };
  }
}

/** What the `reconnecting` event says caused the retry: the close, if a socket closed, and the failure, if any. */
function retryCause(ending: Ending): { code?: number; reason?: string; error?: unknown } {
  const close = 'close' in ending ? ending.close : undefined;
  return {
    ...(close ? { code: close.code, reason: close.reason } : {}),
    ...(ending.error === undefined ? {} : { error: ending.error }),
  };
}

/** Race a promise with a signal; a value that arrives after the abort is handed to `discard`. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal, discard?: (value: T) => void): Promise<T> {
  if (signal.aborted) {
    promise.then(
      (v) => discard?.(v),
      () => undefined,
    );
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) discard?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
