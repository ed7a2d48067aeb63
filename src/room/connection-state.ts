/**
 * The lifecycle of a `RoomConnection` as one value, and the reconnect rules of docs/protocol.md §G in one
 * place:
 *
 * - {@link Lifecycle}: the connection's states, one discriminated union held in one field;
 * - {@link canMove}: the moves allowed between them (the diagram is on `RoomConnection`);
 * - {@link Ending}: why an attempt or a socket ended, classified where sockets close and dials fail
 *   ({@link classifyClose}, {@link classifyFailure});
 * - {@link decide}: the one reconnect policy, from an ending and what the connection has been through.
 *
 * Pure: no sockets, no timers. The connection holds the value and acts on the verdicts.
 *
 * @module
 */
import { isRoomrunnerError, RoomrunnerError } from '../errors.js';
import type { CloseInfo, Session } from './session.js';

/** The four public states, in the order a connection moves through them. `closed` is terminal. */
export type RoomConnectionState = 'connecting' | 'ready' | 'reconnecting' | 'closed';

export interface ClosedEvent {
  readonly code: number;
  readonly reason: string;
  /** Set when the connection ended because of a failure (a refused handshake, a start that failed). */
  readonly error?: unknown;
}

/** Where a connection attempt is, so a give-up can say what never came. */
export type AttemptPhase = 'dialing' | 'handshake' | 'waiting for a registration turn' | 'registering';

export const PHASE_TEXT: Readonly<Record<AttemptPhase, string>> = {
  dialing: 'while connecting to',
  handshake: 'while waiting for room_ready from',
  'waiting for a registration turn': 'while waiting for a registration turn for',
  registering: 'while registering in',
};

/**
 * Where the connection is. `everReady` (false until a socket first became ready) is carried by every state
 * where it can be either: it decides `connecting` against `reconnecting`, and the policy before the first ready.
 */
export type Lifecycle =
  /** Constructed; start() not called yet. */
  | { readonly kind: 'idle' }
  /**
   * One attempt: dial, then the handshake on `session`, then the registration turn and `onReady` on it.
   * `attempt` is the retry number it follows (0 for the first try). `abort` gives the attempt up (timeout, close()).
   */
  | {
      readonly kind: 'connecting';
      readonly attempt: number;
      readonly everReady: boolean;
      readonly phase: AttemptPhase;
      readonly abort: AbortController;
      readonly session?: Session;
    }
  /** A socket finished its handshake and `onReady`; `since` is when, for the backoff reset (see ../util/backoff.ts). */
  | { readonly kind: 'ready'; readonly session: Session; readonly since: number }
  /** Waiting `delayMs` before retry number `attempt`. `phase` is how far the failed attempt got; `wake` ends the wait. */
  | {
      readonly kind: 'backing-off';
      readonly attempt: number;
      readonly everReady: boolean;
      readonly delayMs: number;
      readonly phase: AttemptPhase;
      readonly wake: () => void;
    }
  /**
   * close() was called (or start()'s signal aborted, with `startError`); the socket is closing. `shown` is the
   * public state the connection had, which it keeps until it is closed.
   */
  | {
      readonly kind: 'closing';
      readonly request: CloseInfo;
      readonly shown: RoomConnectionState;
      readonly everReady: boolean;
      readonly startError?: RoomrunnerError;
    }
  /** Terminal. */
  | { readonly kind: 'closed'; readonly event: ClosedEvent; readonly everReady: boolean };

export type LifecycleKind = Lifecycle['kind'];

/** The allowed moves. `connecting → connecting` records a new phase; anything may end `closed` (a final ending, an internal error). */
const MOVES: Readonly<Record<LifecycleKind, readonly LifecycleKind[]>> = {
  idle: ['connecting', 'closing'],
  connecting: ['connecting', 'ready', 'backing-off', 'closing', 'closed'],
  ready: ['backing-off', 'closing', 'closed'],
  'backing-off': ['connecting', 'closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

export function canMove(from: LifecycleKind, to: LifecycleKind): boolean {
  return MOVES[from].includes(to);
}

/** The public state a lifecycle value shows (`RoomConnection.state`). */
export function publicState(state: Lifecycle): RoomConnectionState {
  switch (state.kind) {
    case 'idle':
      return 'connecting';
    case 'connecting':
    case 'backing-off':
      return state.everReady ? 'reconnecting' : 'connecting';
    case 'ready':
      return 'ready';
    case 'closing':
      return state.shown;
    case 'closed':
      return 'closed';
  }
}

/** Whether a socket of this connection has been ready at least once. */
export function hasBeenReady(state: Lifecycle): boolean {
  if (state.kind === 'idle') return false;
  if (state.kind === 'ready') return true;
  return state.everReady;
}

/**
 * Why an attempt or a socket ended. Closes before the socket was ready carry the typed error that start() and
 * the events report (`error`); closes after ready carry none (the room simply closed or dropped us).
 */
export type Ending =
  /**
   * Refused, and a retry would be refused again: HTTP 401/403/404/423 at the upgrade, close 1008 before ready
   * (RR_ROOM_HANDSHAKE_REFUSED), a token problem (RR_TOKEN_*), a handoff socket already used.
   */
  | { readonly kind: 'refused'; readonly error: RoomrunnerError; readonly close?: CloseInfo }
  /** Close 1000: the room ended this participant's session (before ready: it does not want us). */
  | { readonly kind: 'normal-close'; readonly close: CloseInfo; readonly error?: RoomrunnerError }
  /** Close 1000 before ready whose reason carries 1013 ("try again later"): a busy room. */
  | { readonly kind: 'busy'; readonly close: CloseInfo; readonly error: RoomrunnerError }
  /** Any other close (1001, 1011, 1012, 4xxx…, 1008 after ready), a dropped socket (1006), a missed pong. */
  | { readonly kind: 'dropped'; readonly close: CloseInfo; readonly error?: RoomrunnerError }
  /** room_ready and connected did not arrive within the handshake timeout. */
  | { readonly kind: 'timeout'; readonly phase: AttemptPhase; readonly error: RoomrunnerError }
  /** The dial or the token provider failed otherwise: a network error, another HTTP status, a provider that threw. */
  | { readonly kind: 'failed'; readonly error: unknown }
  /** The caller's `onReady` hook threw. */
  | { readonly kind: 'hook-failed'; readonly error: unknown }
  /** A dialer gave up by itself with RR_ROOM_ABORTED. */
  | { readonly kind: 'aborted'; readonly error: RoomrunnerError };

export type EndingKind = Ending['kind'];

/** A close the room sends to refuse a participant (policy violation); final before ready (§G). */
export const CLOSE_POLICY_VIOLATION = 1008;

/**
 * What a socket's close means. Before the socket was ready: 1008 is a refusal, 1000 a normal close unless its
 * reason carries 1013 (busy), anything else a drop. After ready: 1000 is a normal close whatever its reason,
 * anything else (1008 included) a drop.
 */
export function classifyClose(close: CloseInfo, when: { readonly beforeReady: boolean }): Ending {
  if (!when.beforeReady) return close.code === 1000 ? { kind: 'normal-close', close } : { kind: 'dropped', close };
  const text = `${close.code}${close.reason ? `: ${close.reason}` : ''}`;
  const data = { closeCode: close.code, reason: close.reason };
  if (close.code === CLOSE_POLICY_VIOLATION) {
    const error = new RoomrunnerError('RR_ROOM_HANDSHAKE_REFUSED', `the room refused the connection before it became ready (${text})`, {
      data: { ...data, retryable: false },
    });
    return { kind: 'refused', error, close };
  }
  const notReady = (retryable: boolean): RoomrunnerError =>
    new RoomrunnerError('RR_ROOM_NOT_READY', `room connection closed before the room became ready (${text})`, { data: { ...data, retryable } });
  if (close.code !== 1000) return { kind: 'dropped', close, error: notReady(true) };
  if (saysTryAgainLater(close.reason)) return { kind: 'busy', close, error: notReady(true) };
  return { kind: 'normal-close', close, error: notReady(false) };
}

/**
 * A 1000 close whose reason carries 1013 ("try again later") is a busy room, not a refusal: MeshAgent's npm
 * client retries it (docs/protocol.md §G). The reason text is the only place the protocol puts that code.
 */
function saysTryAgainLater(reason: string): boolean {
  return /\b1013\b/.test(reason);
}

/** What a failed dial or token provider means, by the error's code (the `Dialer` contract, see ./ws-dialer.ts). */
export function classifyFailure(error: unknown): Ending {
  if (isRoomrunnerError(error)) {
    if (error.code === 'RR_ROOM_HANDSHAKE_REFUSED' || error.code === 'RR_ROOM_HANDOFF_SOCKET_USED' || error.code.startsWith('RR_TOKEN_')) {
      return { kind: 'refused', error };
    }
    if (error.code === 'RR_ROOM_ABORTED') return { kind: 'aborted', error };
  }
  return { kind: 'failed', error };
}

/** True for an error that a retry would meet again: a refused handshake, a token problem, a used handoff socket. */
export function isRefusal(error: unknown): boolean {
  return classifyFailure(error).kind === 'refused';
}

/** What the connection has been through and was asked to do, for {@link decide}. */
export interface PolicyContext {
  /** A socket of this connection has been ready before (this one included). */
  readonly everReady: boolean;
  /** The `reconnect` option. */
  readonly reconnect: boolean;
  /** The `retryBeforeReady` option. */
  readonly retryBeforeReady: boolean;
}

export type Verdict = 'retry' | 'final';

/**
 * The reconnect policy (docs/protocol.md §G): retry an ending, or let it end the connection.
 *
 * - `reconnect: false` makes every ending final; so does `retryBeforeReady: false` before the first ready.
 * - Final: a refusal, a normal close (1000; before ready too, unless busy), a dialer's own abort, and a failed
 *   first `onReady` (likely a bug: reported to start() rather than retried forever).
 * - Retried: a busy room, a drop, a handshake timeout, a failed dial, and a failed re-registration after a
 *   reconnect (the socket is dropped so the next attempt starts clean).
 */
export function decide(ending: Ending, context: PolicyContext): Verdict {
  if (!context.reconnect) return 'final';
  if (!context.everReady && !context.retryBeforeReady) return 'final';
  switch (ending.kind) {
    case 'refused':
    case 'normal-close':
    case 'aborted':
      return 'final';
    case 'hook-failed':
      return context.everReady ? 'retry' : 'final';
    case 'busy':
    case 'dropped':
    case 'timeout':
    case 'failed':
      return 'retry';
  }
}
