/**
 * The connection's lifecycle and reconnect policy as pure values: the moves of the state diagram, the public
 * state each value shows, what each close or failure means, and the verdict for every ending (docs/protocol.md §G).
 */
import { describe, expect, it } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import {
  canMove,
  classifyClose,
  classifyFailure,
  decide,
  hasBeenReady,
  publicState,
  type Ending,
  type EndingKind,
  type Lifecycle,
  type LifecycleKind,
  type Verdict,
} from '../../src/room/connection-state.js';
import { Session } from '../../src/room/session.js';
import { createMemoryTransportPair } from '../../src/room/transport.js';

const close = (code: number, reason = '') => ({ code, reason });

/** One ending of every kind. */
const ENDINGS: Readonly<Record<EndingKind, Ending>> = {
  refused: { kind: 'refused', error: new RoomrunnerError('RR_ROOM_HANDSHAKE_REFUSED', 'status 403') },
  'normal-close': { kind: 'normal-close', close: close(1000, 'bye') },
  busy: { kind: 'busy', close: close(1000, 'overloaded (1013)'), error: new RoomrunnerError('RR_ROOM_NOT_READY', 'busy') },
  dropped: { kind: 'dropped', close: close(1006) },
  timeout: { kind: 'timeout', phase: 'handshake', error: new RoomrunnerError('RR_ROOM_NOT_READY', 'no room_ready') },
  failed: { kind: 'failed', error: new Error('connect ECONNREFUSED 10.0.0.7:443') },
  'hook-failed': { kind: 'hook-failed', error: new Error('register failed') },
  aborted: { kind: 'aborted', error: new RoomrunnerError('RR_ROOM_ABORTED', 'given up') },
};

/** The §G rules with the default options: [before the first ready, after it]. */
const VERDICTS: Readonly<Record<EndingKind, readonly [Verdict, Verdict]>> = {
  refused: ['final', 'final'],
  'normal-close': ['final', 'final'],
  busy: ['retry', 'retry'],
  dropped: ['retry', 'retry'],
  timeout: ['retry', 'retry'],
  failed: ['retry', 'retry'],
  'hook-failed': ['final', 'retry'],
  aborted: ['final', 'final'],
};

const KINDS = Object.keys(ENDINGS) as EndingKind[];

describe('decide, the reconnect policy', () => {
  const defaults = { reconnect: true, retryBeforeReady: true };

  it.each(KINDS.flatMap((kind) => [false, true].map((everReady) => [kind, everReady] as const)))(
    'with the default options, decides %s (ever ready: %s) as §G says',
    (kind, everReady) => {
      expect(decide(ENDINGS[kind], { ...defaults, everReady })).toBe(VERDICTS[kind][everReady ? 1 : 0]);
    },
  );

  it.each(KINDS)('makes %s final before and after the first ready with reconnect: false', (kind) => {
    for (const everReady of [false, true]) {
      for (const retryBeforeReady of [false, true]) {
        expect(decide(ENDINGS[kind], { everReady, reconnect: false, retryBeforeReady })).toBe('final');
      }
    }
  });

  it.each(KINDS)('makes %s final before the first ready with retryBeforeReady: false, and keeps the rule after it', (kind) => {
    expect(decide(ENDINGS[kind], { everReady: false, reconnect: true, retryBeforeReady: false })).toBe('final');
    expect(decide(ENDINGS[kind], { everReady: true, reconnect: true, retryBeforeReady: false })).toBe(VERDICTS[kind][1]);
  });
});

describe('classifyClose', () => {
  it.each([
    [1008, 'not allowed', 'refused', 'RR_ROOM_HANDSHAKE_REFUSED'],
    [1000, 'room is full', 'normal-close', 'RR_ROOM_NOT_READY'],
    [1000, 'overloaded (1013)', 'busy', 'RR_ROOM_NOT_READY'],
    [1000, '1013 try again later', 'busy', 'RR_ROOM_NOT_READY'],
    [1000, 'error 10130', 'normal-close', 'RR_ROOM_NOT_READY'],
    [1011, 'warming up', 'dropped', 'RR_ROOM_NOT_READY'],
    [1006, '', 'dropped', 'RR_ROOM_NOT_READY'],
    [1013, 'try again later', 'dropped', 'RR_ROOM_NOT_READY'],
  ] as const)('reads close %i %j before ready as %s, with a %s error naming the close', (code, reason, kind, errorCode) => {
    const ending = classifyClose(close(code, reason), { beforeReady: true });
    expect(ending).toMatchObject({ kind, close: { code, reason } });
    expect(ending.error).toBeInstanceOf(RoomrunnerError);
    expect(ending.error).toMatchObject({ code: errorCode, data: { closeCode: code, reason } });
    if (reason) expect((ending.error as RoomrunnerError).message).toContain(reason);
  });

  it.each([
    [1000, 'bye', 'normal-close'],
    [1000, 'overloaded (1013)', 'normal-close'],
    [1008, 'policy', 'dropped'],
    [1011, 'server restart', 'dropped'],
    [1006, '', 'dropped'],
  ] as const)('reads close %i %j after ready as %s, with no error', (code, reason, kind) => {
    expect(classifyClose(close(code, reason), { beforeReady: false })).toEqual({ kind, close: { code, reason } });
  });
});

describe('classifyFailure', () => {
  it.each([
    ['RR_ROOM_HANDSHAKE_REFUSED', 'refused'],
    ['RR_ROOM_HANDOFF_SOCKET_USED', 'refused'],
    ['RR_TOKEN_MALFORMED', 'refused'],
    ['RR_TOKEN_EXPIRED', 'refused'],
    ['RR_ROOM_ABORTED', 'aborted'],
    ['RR_ROOM_NOT_READY', 'failed'],
  ] as const)('reads a dial that failed with %s as %s, keeping the error', (code, kind) => {
    const error = new RoomrunnerError(code, 'it failed');
    expect(classifyFailure(error)).toEqual({ kind, error });
  });

  it('decides by the code alone, not by data the error carries', () => {
    const error = new RoomrunnerError('RR_ROOM_NOT_READY', 'status 500', { data: { retryable: false } });
    expect(classifyFailure(error)).toEqual({ kind: 'failed', error });
  });

  it('reads anything else thrown (an Error, a string) as a failure to retry', () => {
    const error = new Error('getaddrinfo ENOTFOUND');
    expect(classifyFailure(error)).toEqual({ kind: 'failed', error });
    expect(classifyFailure('token vault down')).toEqual({ kind: 'failed', error: 'token vault down' });
  });
});

describe('the lifecycle', () => {
  const ALLOWED: Readonly<Record<LifecycleKind, readonly LifecycleKind[]>> = {
    idle: ['connecting', 'closing'],
    connecting: ['connecting', 'ready', 'backing-off', 'closing', 'closed'],
    ready: ['backing-off', 'closing', 'closed'],
    'backing-off': ['connecting', 'closing', 'closed'],
    closing: ['closed'],
    closed: [],
  };
  const STATES = Object.keys(ALLOWED) as LifecycleKind[];

  it.each(STATES)('allows from %s exactly the moves of the diagram', (from) => {
    expect(STATES.filter((to) => canMove(from, to))).toEqual(ALLOWED[from]);
  });

  it('shows each value under its public name', () => {
    const [transport] = createMemoryTransportPair();
    const session = new Session(transport);
    const abort = new AbortController();
    const wake = (): void => undefined;
    const shown = (state: Lifecycle) => [publicState(state), hasBeenReady(state)];
    expect(shown({ kind: 'idle' })).toEqual(['connecting', false]);
    expect(shown({ kind: 'connecting', attempt: 0, everReady: false, phase: 'dialing', abort })).toEqual(['connecting', false]);
    expect(shown({ kind: 'connecting', attempt: 2, everReady: true, phase: 'handshake', abort, session })).toEqual(['reconnecting', true]);
    expect(shown({ kind: 'ready', session, since: 0 })).toEqual(['ready', true]);
    expect(shown({ kind: 'backing-off', attempt: 1, everReady: false, delayMs: 500, phase: 'dialing', wake })).toEqual(['connecting', false]);
    expect(shown({ kind: 'backing-off', attempt: 1, everReady: true, delayMs: 500, phase: 'dialing', wake })).toEqual(['reconnecting', true]);
    expect(shown({ kind: 'closing', request: close(1000), shown: 'ready', everReady: true })).toEqual(['ready', true]);
    expect(shown({ kind: 'closed', event: close(1000), everReady: false })).toEqual(['closed', false]);
  });
});
