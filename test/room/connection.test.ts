/**
 * RoomConnection over in-memory transports: a test-side Session plays the room server (no sockets). Real
 * websockets are in connection-ws.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isRoomrunnerError, RoomrunnerError } from '../../src/errors.js';
import { empty, json, packContent, unpackContent, type Content } from '../../src/protocol/content.js';
import type { FrameMessage } from '../../src/protocol/frame-reader.js';
import { MESSAGE_TYPES } from '../../src/protocol/messages.js';
import { unpackMessage, type JsonObject } from '../../src/protocol/packing.js';
import { RoomConnection, type Dialer, type RoomConnectionOptions } from '../../src/room/connection.js';
import { Session } from '../../src/room/session.js';
import { createMemoryTransportPair } from '../../src/room/transport.js';

/** One accepted connection, seen from the room server. */
interface ServerSide {
  readonly session: Session;
  readonly token: string;
  readonly url: string;
  /** Every message the client sent, in order. */
  readonly received: FrameMessage[];
  /** Resolves with the next message of `type` (already received ones count). */
  next(type: string): Promise<FrameMessage>;
  handshake(options?: { order?: 'ready-first' | 'connected-first'; participantId?: string; attributes?: JsonObject }): Promise<void>;
}

/** A fake room: a dialer plus a queue of server sides, one per dial. */
function memoryRoom(autoRespond: Record<string, (message: FrameMessage) => Content> = {}) {
  const accepted: ServerSide[] = [];
  const waiting: Array<(s: ServerSide) => void> = [];
  let refuse: Error | undefined;
  let dials = 0;
  const dial: Dialer = async ({ url, token }) => {
    dials += 1;
    if (refuse) throw refuse;
    const [client, server] = createMemoryTransportPair();
    const received: FrameMessage[] = [];
    const listeners: Array<() => void> = [];
    const session = new Session(server, {
      onUnhandled: async (message, self) => {
        const responder = autoRespond[message.type];
        if (responder) await self.respond(message.id, responder(message));
        received.push(message);
        for (const l of listeners.splice(0)) l();
      },
    });
    const side: ServerSide = {
      session,
      token,
      url,
      received,
      next(type) {
        return new Promise((resolve) => {
          const look = (): void => {
            const found = received.find((m) => m.type === type && !taken.has(m));
            if (found) {
              taken.add(found);
              resolve(found);
            } else listeners.push(look);
          };
          look();
        });
      },
      async handshake({ order = 'ready-first', participantId = `p${accepted.indexOf(side)}`, attributes = { name: 'host' } } = {}) {
        const ready = () => session.sendPacked(MESSAGE_TYPES.ROOM_READY, { room_name: 'test', room_url: url, session_id: 's1' });
        const connected = () => session.sendPacked(MESSAGE_TYPES.CONNECTED, { type: 'init', participantId, attributes });
        if (order === 'ready-first') {
          await ready();
          await connected();
        } else {
          await connected();
          await ready();
        }
      },
    };
    const taken = new Set<FrameMessage>();
    accepted.push(side);
    waiting.shift()?.(side);
    return client;
  };
  let served = 0;
  return {
    dial,
    get dials() {
      return dials;
    },
    refuseWith(error: Error | undefined) {
      refuse = error;
    },
    /** The next server side not yet handed out by this function. */
    accept(): Promise<ServerSide> {
      const index = served++;
      const existing = accepted[index];
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

const open: RoomConnection[] = [];
function connection(room: ReturnType<typeof memoryRoom>, options: Partial<RoomConnectionOptions> = {}): RoomConnection {
  const conn = new RoomConnection({
    url: 'ws://memory/rooms/test',
    token: 'jwt-1',
    dial: room.dial,
    backoff: { initialMs: 1, maxMs: 5 },
    ...options,
  });
  open.push(conn);
  return conn;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function header(message: FrameMessage): JsonObject {
  return unpackMessage(message.data).header;
}

async function rejection(promise: Promise<unknown>): Promise<RoomrunnerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RoomrunnerError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

function once<T>(conn: RoomConnection, event: 'ready' | 'closed' | 'reconnecting' | 'status' | 'message' | 'dismiss' | 'error'): Promise<T> {
  return new Promise((resolve) => conn.once(event, ((value: T) => resolve(value)) as never));
}

async function ready(room: ReturnType<typeof memoryRoom>, options: Partial<RoomConnectionOptions> = {}) {
  const conn = connection(room, options);
  const started = conn.start();
  const server = await room.accept();
  await server.handshake();
  await started;
  return { conn, server };
}

describe('RoomConnection handshake', () => {
  it('becomes ready once room_ready and connected have both arrived, room_ready first', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    expect(conn.state).toBe('ready');
    expect(conn.participantId).toBe('p0');
    expect(conn.roomName).toBe('test');
    expect(conn.sessionId).toBe('s1');
    expect(conn.attributes).toEqual({ name: 'host' });
    expect(server.token).toBe('jwt-1');
  });

  it('becomes ready with connected first too', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    const started = conn.start();
    const server = await room.accept();
    await server.handshake({ order: 'connected-first' });
    await started;
    expect(conn.state).toBe('ready');
  });

  it('is not ready with only one of the two messages', async () => {
    const room = memoryRoom();
    const conn = connection(room, { handshakeTimeoutMs: 30, reconnect: false });
    const started = conn.start();
    const server = await room.accept();
    await server.session.sendPacked(MESSAGE_TYPES.ROOM_READY, { room_name: 'test' });
    const error = await rejection(started);
    expect(error.code).toBe('RR_ROOM_NOT_READY');
    expect(error.message).toMatch(/did not arrive within 30 ms/);
    expect(conn.state).toBe('closed');
  });

  it('fails finally with RR_ROOM_NOT_READY and the reason when closed with 1000 before ready', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    const started = conn.start();
    const server = await room.accept();
    server.session.close(1000, 'room is full');
    const error = await rejection(started);
    expect(error.code).toBe('RR_ROOM_NOT_READY');
    expect(error.message).toMatch(/room is full/);
    expect(room.dials).toBe(1);
  });

  it('retries a close other than 1000 before ready, then succeeds', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    const retries: unknown[] = [];
    conn.on('reconnecting', (e) => retries.push(e));
    const started = conn.start();
    (await room.accept()).session.close(1011, 'warming up');
    const second = await room.accept();
    await second.handshake();
    await started;
    expect(retries).toEqual([expect.objectContaining({ attempt: 0, code: 1011, reason: 'warming up' })]);
    expect(conn.state).toBe('ready');
  });

  it('stops at a refused handshake (RR_ROOM_HANDSHAKE_REFUSED is final)', async () => {
    const room = memoryRoom();
    room.refuseWith(new RoomrunnerError('RR_ROOM_HANDSHAKE_REFUSED', 'websocket connect failed with status 403'));
    const conn = connection(room);
    const closed = once(conn, 'closed');
    const error = await rejection(conn.start());
    expect(error.code).toBe('RR_ROOM_HANDSHAKE_REFUSED');
    expect(room.dials).toBe(1);
    expect(await closed).toMatchObject({ error });
  });

  it('retries a dial failure and calls the token provider for every attempt', async () => {
    const room = memoryRoom();
    room.refuseWith(new Error('ECONNREFUSED'));
    let minted = 0;
    const conn = connection(room, { token: () => `jwt-${++minted}` });
    const started = conn.start();
    await once(conn, 'reconnecting');
    await once(conn, 'reconnecting');
    room.refuseWith(undefined);
    const server = await room.accept();
    await server.handshake();
    await started;
    expect(server.token).toBe(`jwt-${minted}`);
    expect(minted).toBeGreaterThanOrEqual(3);
  });

  it('rejects start() with RR_ROOM_ABORTED when its signal aborts, and stops', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    const controller = new AbortController();
    const started = conn.start(controller.signal);
    await room.accept();
    controller.abort();
    expect((await rejection(started)).code).toBe('RR_ROOM_ABORTED');
    expect(conn.state).toBe('closed');
  });

  it('rejects start() with the hook error when the first onReady fails', async () => {
    const room = memoryRoom();
    const conn = connection(room, {
      onReady: () => {
        throw new RoomrunnerError('RR_ROOM_SERVER_ERROR', 'register failed', { data: { code: 1001 } });
      },
    });
    const started = conn.start();
    const server = await room.accept();
    await server.handshake();
    const error = await rejection(started);
    expect(error.message).toBe('register failed');
    expect(conn.state).toBe('closed');
  });

  it('retries a 1000 close before ready whose reason says 1013 (try again later), as npm does', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    const started = conn.start();
    (await room.accept()).session.close(1000, 'overloaded (1013)');
    await (await room.accept()).handshake();
    await started;
    expect(room.dials).toBe(2);
  });

  it('fails for good when the token provider returns no token', async () => {
    const room = memoryRoom();
    const conn = connection(room, { token: () => '' });
    expect((await rejection(conn.start())).code).toBe('RR_TOKEN_MALFORMED');
    expect(room.dials).toBe(0);
  });

  it('sends attributes set before start() once the first handshake is done', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    await conn.setAttributes({ role: 'runner' });
    const started = conn.start();
    const server = await room.accept();
    await server.handshake();
    await started;
    expect(header(await server.next(MESSAGE_TYPES.SET_ATTRIBUTES))).toEqual({ role: 'runner' });
    expect(conn.attributes).toEqual({ name: 'host', role: 'runner' });
  });

  it('returns the same promise from a second start()', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    expect(conn.start()).toBe(conn.start());
    await (await room.accept()).handshake();
  });
});

describe('RoomConnection requests', () => {
  it('sends a request and resolves with the answer', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    const answer = conn.request('room.list_toolkits', { participant_name: 'x' });
    const request = await server.next('room.list_toolkits');
    expect(header(request)).toEqual({ participant_name: 'x' });
    await server.session.respond(request.id, json({ tools: {} }));
    expect(await answer).toEqual(json({ tools: {} }));
  });

  it('rejects with RR_ROOM_SERVER_ERROR carrying the room error code', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    const answer = conn.request('room.invoke_tool', {});
    const request = await server.next('room.invoke_tool');
    await server.session.respond(request.id, { type: 'error', text: 'not found', code: 1003 });
    const error = await rejection(answer);
    expect(error.code).toBe('RR_ROOM_SERVER_ERROR');
    expect(error.contentCode).toBe(1003);
  });

  it('times out a request the room never answers', async () => {
    const room = memoryRoom();
    const { conn } = await ready(room);
    expect((await rejection(conn.request('room.never', {}, undefined, { timeoutMs: 20 }))).code).toBe('RR_REQUEST_TIMEOUT');
  });

  it('aborts a request by its signal', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    const controller = new AbortController();
    const answer = conn.request('room.slow', {}, undefined, { signal: controller.signal });
    await server.next('room.slow');
    controller.abort();
    expect((await rejection(answer)).code).toBe('RR_REQUEST_ABORTED');
  });

  it('refuses requests before start() and after close()', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    expect((await rejection(conn.request('x', {}))).code).toBe('RR_ROOM_NOT_READY');
    await conn.close();
    expect((await rejection(conn.request('x', {}))).code).toBe('RR_ROOM_CLOSED');
  });

  it('holds a request made while connecting and sends it once ready', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    const started = conn.start();
    const answer = conn.request('room.early', { n: 1 });
    const server = await room.accept();
    await server.handshake();
    await started;
    const request = await server.next('room.early');
    await server.session.respond(request.id, empty());
    expect(await answer).toEqual(empty());
  });

  it('times out a request waiting for a room that does not get ready', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    void conn.start().catch(() => undefined);
    const error = await rejection(conn.request('room.early', {}, undefined, { timeoutMs: 20 }));
    expect(error.code).toBe('RR_REQUEST_TIMEOUT');
    expect(error.message).toMatch(/not ready/);
  });

  it('sends one-way messages', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    await conn.send('room.tool_call_response', { a: 1 });
    expect(header(await server.next('room.tool_call_response'))).toEqual({ a: 1 });
  });
});

describe('RoomConnection server-initiated messages', () => {
  it('routes exact and prefix handlers, and answers on the socket that asked', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    conn.handlePrefix('room.tool_call.', async (message, session) => {
      await session.send(MESSAGE_TYPES.TOOL_CALL_RESPONSE, packContent(json({ echoed: message.type })), message.id);
    });
    await server.session.sendPacked('room.tool_call.echo', { name: 'echo', arguments: { type: 'empty' } }, undefined, 41);
    const answer = await server.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE);
    expect(answer.id).toBe(41);
    expect(unpackContent(answer.data)).toEqual(json({ echoed: 'room.tool_call.echo' }));
  });

  it('answers a tool call for a toolkit it does not serve with error 1003', async () => {
    const room = memoryRoom();
    const { server } = await ready(room);
    await server.session.sendPacked('room.tool_call.nobody', { name: 'x', arguments: { type: 'empty' } }, undefined, 7);
    const answer = await server.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE);
    expect(answer.id).toBe(7);
    expect(unpackContent(answer.data)).toEqual({ type: 'error', text: "toolkit 'nobody' is not served by this participant", code: 1003 });
  });

  it('refuses to handle a type it handles itself, or one that already has a handler, with RR_ROOM_HANDLER_REFUSED', () => {
    const conn = connection(memoryRoom());
    expect(() => conn.handle(MESSAGE_TYPES.ROOM_READY, () => undefined)).toThrow(
      expect.objectContaining({ code: 'RR_ROOM_HANDLER_REFUSED', message: expect.stringMatching(/handled by the room connection/) }),
    );
    conn.handle('room.tool_call.tk', () => undefined);
    expect(() => conn.handle('room.tool_call.tk', () => undefined)).toThrow(
      expect.objectContaining({ code: 'RR_ROOM_HANDLER_REFUSED', message: 'a handler for room.tool_call.tk is already registered' }),
    );
    conn.handlePrefix('room.x.', () => undefined);
    expect(() => conn.handlePrefix('room.x.', () => undefined)).toThrow(expect.objectContaining({ code: 'RR_ROOM_HANDLER_REFUSED' }));
  });

  it('refuses a token that is neither a string nor a function, naming the option', () => {
    expect(() => new RoomConnection({ url: 'ws://memory/rooms/test', token: 42 as never })).toThrow(
      expect.objectContaining({ code: 'RR_OPTION_INVALID', message: 'token must be a participant token string or a function that returns one' }),
    );
  });

  it('emits status, message and dismiss events', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    const status = once(conn, 'status');
    await server.session.sendPacked(MESSAGE_TYPES.ROOM_STATUS, { status: 'busy', message: 'hold on' });
    expect(await status).toEqual({ status: 'busy', message: 'hold on' });

    const message = once(conn, 'message');
    const dismiss = once(conn, 'dismiss');
    await server.session.sendPacked(MESSAGE_TYPES.MESSAGING_SEND, { from_participant_id: 'p9', type: 'dismiss', message: {} }, new Uint8Array([1, 2]));
    expect(await message).toEqual({ fromParticipantId: 'p9', type: 'dismiss', message: {}, attachment: new Uint8Array([1, 2]) });
    expect(await dismiss).toMatchObject({ type: 'dismiss' });
  });

  it('reports a malformed event as an error event without closing', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    const error = once<unknown>(conn, 'error');
    await server.session.sendPacked(MESSAGE_TYPES.ROOM_STATUS, { nope: true });
    expect(isRoomrunnerError(await error, 'RR_MESSAGE_INVALID')).toBe(true);
    expect(conn.state).toBe('ready');
  });
});

describe('RoomConnection reconnects', () => {
  const registering = () => memoryRoom({ 'room.register_toolkit': () => json({ id: 'reg' }) });

  it('reconnects after a close other than 1000, re-sends attributes, re-runs onReady and keeps handlers', async () => {
    const room = registering();
    const hooks: boolean[] = [];
    const { conn, server } = await ready(room, {
      onReady: async (c, { reconnected }) => {
        hooks.push(reconnected);
        await c.request('room.register_toolkit', { name: 'tk', tools: {} });
      },
    });
    conn.handle('room.tool_call.tk', async (message, session) => {
      await session.send(MESSAGE_TYPES.TOOL_CALL_RESPONSE, packContent(json('still here')), message.id);
    });
    await conn.setAttributes({ mood: 'fine' });
    expect(header(await server.next(MESSAGE_TYPES.SET_ATTRIBUTES))).toEqual({ mood: 'fine' });

    const reconnecting = once(conn, 'reconnecting');
    const readyAgain = once(conn, 'ready');
    server.session.close(1011, 'server restart');
    expect(await reconnecting).toMatchObject({ attempt: 0, code: 1011, reason: 'server restart' });
    expect(conn.state).toBe('reconnecting');

    const second = await room.accept();
    await second.handshake({ participantId: 'p-new', attributes: { name: 'host' } });
    expect(await readyAgain).toEqual({ reconnected: true });
    expect(hooks).toEqual([false, true]);
    expect(conn.participantId).toBe('p-new');
    expect(conn.attributes).toEqual({ name: 'host', mood: 'fine' });

    // set_attributes comes before the re-registration, and ids restart on the new socket (§D.2).
    const types = second.received.map((m) => m.type);
    expect(types.slice(0, 2)).toEqual([MESSAGE_TYPES.SET_ATTRIBUTES, 'room.register_toolkit']);
    expect(header(second.received[0] as FrameMessage)).toEqual({ name: 'host', mood: 'fine' });
    expect((second.received[1] as FrameMessage).id).toBe(1);

    await second.session.sendPacked('room.tool_call.tk', { name: 'x', arguments: { type: 'empty' } }, undefined, 3);
    expect(unpackContent((await second.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE)).data)).toEqual(json('still here'));
  });

  it('fails requests in flight when the socket drops, and sends new ones after the reconnect', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    const inFlight = conn.request('room.slow', {});
    await server.next('room.slow');
    server.session.close(1012, 'restart');
    expect((await rejection(inFlight)).code).toBe('RR_ROOM_CLOSED');

    const later = conn.request('room.later', {});
    const second = await room.accept();
    await second.handshake();
    const request = await second.next('room.later');
    await second.session.respond(request.id, empty());
    expect(await later).toEqual(empty());
  });

  it('closes for good on 1000: closed event, pending requests fail, no reconnect', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    const pending = conn.request('room.slow', {});
    await server.next('room.slow');
    const closed = once(conn, 'closed');
    server.session.close(1000, 'bye');
    expect(await closed).toEqual({ code: 1000, reason: 'bye' });
    expect((await rejection(pending)).code).toBe('RR_ROOM_CLOSED');
    expect(conn.state).toBe('closed');
    expect(room.dials).toBe(1);
    expect(await conn.closed).toEqual({ code: 1000, reason: 'bye' });
  });

  it('closes instead of reconnecting with reconnect: false', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room, { reconnect: false });
    const closed = once(conn, 'closed');
    server.session.close(1011, 'crash');
    expect(await closed).toEqual({ code: 1011, reason: 'crash' });
    expect(room.dials).toBe(1);
  });

  it('drops the socket and tries again when re-registration fails after a reconnect', async () => {
    let calls = 0;
    const room = memoryRoom();
    const { conn, server } = await ready(room, {
      onReady: (_c, { reconnected }) => {
        calls += 1;
        if (reconnected && calls === 2) throw new Error('registration refused');
      },
    });
    const errors: unknown[] = [];
    conn.on('error', (e) => errors.push(e));
    const retries: unknown[] = [];
    conn.on('reconnecting', (e) => retries.push(e));
    server.session.close(1011);
    const second = await room.accept();
    await second.handshake();
    await second.session.closed;
    const third = await room.accept();
    const readyAgain = once(conn, 'ready');
    await third.handshake();
    expect(await readyAgain).toEqual({ reconnected: true });
    expect(errors).toEqual([new Error('registration refused')]);
    expect(calls).toBe(3);
    // The second retry is caused by the failed hook, not by a close of the room's.
    expect(retries).toEqual([expect.objectContaining({ code: 1011 }), { attempt: 1, delayMs: expect.any(Number), error: new Error('registration refused') }]);
  });

  it('ends with the refusal when the room closes 1008 during a re-registration', async () => {
    let release: (() => void) | undefined;
    const room = memoryRoom();
    const { conn, server } = await ready(room, {
      onReady: (_c, { reconnected }) => (reconnected ? new Promise<void>((resolve) => (release = resolve)) : undefined),
    });
    server.session.close(1011, 'restart');
    const second = await room.accept();
    await second.handshake();
    await vi.waitFor(() => expect(release).toBeDefined());
    second.session.close(1008, 'no longer allowed');
    const closed = await conn.closed;
    expect(closed).toMatchObject({ code: 1008, reason: 'no longer allowed' });
    expect(isRoomrunnerError(closed.error, 'RR_ROOM_HANDSHAKE_REFUSED')).toBe(true);
    expect(room.dials).toBe(2);
    release?.();
  });

  it('close() during the backoff stops reconnecting and is idempotent', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    const reconnecting = once(conn, 'reconnecting');
    server.session.close(1011);
    await reconnecting;
    const first = conn.close();
    expect(conn.close()).toBe(first);
    await first;
    expect(conn.state).toBe('closed');
    expect(room.dials).toBe(1);
  });

  it('close() on a ready connection closes its socket with the code and resolves when closed', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room);
    const closed = once(conn, 'closed');
    await conn.close(1000, 'done');
    expect(await server.session.closed).toEqual({ code: 1000, reason: 'done' });
    expect(await closed).toEqual({ code: 1000, reason: 'done' });
    await conn.close();
  });
});

describe('RoomConnection refusals and join bounds', () => {
  it('stops at close 1008 before ready: the room refused us, a retry would be refused again', async () => {
    const room = memoryRoom();
    const conn = connection(room);
    const started = conn.start();
    (await room.accept()).session.close(1008, 'not allowed');
    const error = await rejection(started);
    expect(error.code).toBe('RR_ROOM_HANDSHAKE_REFUSED');
    expect(error.message).toContain('not allowed');
    expect(error.data).toMatchObject({ closeCode: 1008, retryable: false });
    expect(room.dials).toBe(1);
  });

  it('reports the first failed attempt to start() with retryBeforeReady: false, with its own error', async () => {
    const room = memoryRoom();
    room.refuseWith(new RoomrunnerError('RR_ROOM_NOT_READY', 'websocket connect to ws://memory/rooms/test failed: connect ECONNREFUSED 10.0.0.7:443'));
    const conn = connection(room, { retryBeforeReady: false });
    const error = await rejection(conn.start());
    expect(error.message).toContain('ECONNREFUSED 10.0.0.7:443');
    expect(room.dials).toBe(1);
    expect(conn.state).toBe('closed');
  });

  it('still reconnects after the first ready with retryBeforeReady: false', async () => {
    const room = memoryRoom();
    const { conn, server } = await ready(room, { retryBeforeReady: false });
    const readyAgain = once(conn, 'ready');
    server.session.close(1011, 'restart');
    await (await room.accept()).handshake();
    expect(await readyAgain).toEqual({ reconnected: true });
  });

  it("rejects start() with its signal's reason and code, naming what never came and from where", async () => {
    const room = memoryRoom();
    const conn = connection(room);
    const controller = new AbortController();
    const started = conn.start(controller.signal);
    await room.accept();
    await new Promise((resolve) => setTimeout(resolve, 5)); // the dial has returned: now waiting for room_ready
    controller.abort(new RoomrunnerError('RR_ROOM_JOIN_TIMEOUT', 'join attempt did not finish within 50 ms'));
    const error = await rejection(started);
    expect(error.code).toBe('RR_ROOM_JOIN_TIMEOUT');
    expect(error.message).toBe('join attempt did not finish within 50 ms (while waiting for room_ready from ws://memory/rooms/test)');
    expect(error.data).toMatchObject({ phase: 'handshake', url: 'ws://memory/rooms/test' });
  });

  it('takes a registration turn only once the handshake is done, and gives it back after registering', async () => {
    const room = memoryRoom({ 'room.register_toolkit': () => json({ id: 'reg' }) });
    const turns: string[] = [];
    const conn = connection(room, {
      registrationSlot: async () => {
        turns.push('take');
        return () => turns.push('give back');
      },
      onReady: async (c) => {
        turns.push('register');
        await c.request('room.register_toolkit', { name: 'tk', tools: {} });
      },
    });
    const started = conn.start();
    const server = await room.accept();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(turns).toEqual([]);
    await server.handshake();
    await started;
    expect(turns).toEqual(['take', 'register', 'give back']);
  });

  it('stops waiting for a registration turn when the socket closes, and holds none', async () => {
    const room = memoryRoom();
    let waitSignal: AbortSignal | undefined;
    const conn = connection(room, {
      registrationSlot: (signal) => {
        waitSignal = signal;
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      },
    });
    const started = conn.start();
    const first = await room.accept();
    await first.handshake();
    await vi.waitFor(() => expect(waitSignal).toBeDefined());
    first.session.close(1011, 'gone');
    await vi.waitFor(() => expect(waitSignal?.aborted).toBe(true));
    expect(conn.state).toBe('connecting');
    await conn.close();
    expect((await rejection(started)).code).toBe('RR_ROOM_ABORTED');
  });

  it('never becomes ready without its registration when the registration turn is refused, and fails the attempt', async () => {
    const room = memoryRoom();
    let registered = false;
    const conn = connection(room, {
      retryBeforeReady: false,
      registrationSlot: async () => {
        throw new RoomrunnerError('RR_ROOM_JOIN_TIMEOUT', 'no join slot in time');
      },
      onReady: async () => {
        registered = true;
      },
    });
    const readies: unknown[] = [];
    conn.on('ready', (info) => readies.push(info));
    const started = conn.start();
    const server = await room.accept();
    await server.handshake();
    const error = await rejection(started);
    expect(error.code).toBe('RR_ROOM_JOIN_TIMEOUT');
    expect(registered).toBe(false);
    expect(readies).toEqual([]);
    expect((await server.session.closed).code).toBe(1011);
  });
});

describe('RoomConnection backoff after drops', () => {
  /** A connection on a fake clock whose room accepts, becomes ready, stays up `upFor[i]` ms and closes 1011. */
  async function flapping(upFor: readonly number[]): Promise<Array<{ attempt: number; delayMs: number }>> {
    const room = memoryRoom();
    let clock = 0;
    const conn = connection(room, { now: () => clock, random: () => 0, backoff: { initialMs: 1, maxMs: 64, jitter: 0, resetAfterMs: 1_000 } });
    const retries: Array<{ attempt: number; delayMs: number }> = [];
    conn.on('reconnecting', (e) => retries.push({ attempt: e.attempt, delayMs: e.delayMs }));
    const started = conn.start();
    for (const ms of upFor) {
      const server = await room.accept();
      const readyNow = once(conn, 'ready');
      await server.handshake();
      await readyNow;
      clock += ms;
      server.session.close(1011, 'internal error');
    }
    await started;
    await vi.waitFor(() => expect(retries).toHaveLength(upFor.length));
    return retries;
  }

  it('backs off more and more when the room closes 1011 right after every registration', async () => {
    const retries = await flapping([10, 10, 10, 10, 10]);
    expect(retries.map((r) => r.delayMs)).toEqual([1, 2, 4, 8, 16]);
  });

  it('starts the backoff again once a connection stayed up for resetAfterMs', async () => {
    const retries = await flapping([10, 10, 1_000, 10]);
    expect(retries.map((r) => r.attempt)).toEqual([0, 1, 0, 1]);
  });
});
