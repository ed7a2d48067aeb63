/**
 * RoomConnection over real websockets: a bare `ws` server on 127.0.0.1:0, driven by hand with a server-side
 * Session. Covers what only a socket shows: headers and query, HTTP statuses at the upgrade, drops, pings.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { RoomrunnerError } from '../../src/errors.js';
import { empty, json, text, unpackContent } from '../../src/protocol/content.js';
import type { FrameMessage } from '../../src/protocol/frame-reader.js';
import { MESSAGE_TYPES } from '../../src/protocol/messages.js';
import { unpackMessage, type JsonObject } from '../../src/protocol/packing.js';
import { RoomConnection, type RoomConnectionOptions } from '../../src/room/connection.js';
import { RoomClient } from '../../src/room/room-client.js';
import { Session } from '../../src/room/session.js';
import { WebSocketTransport } from '../../src/room/transport.js';

interface ServerSide {
  readonly ws: WebSocket;
  readonly session: Session;
  readonly request: IncomingMessage;
  readonly received: FrameMessage[];
  next(type: string): Promise<FrameMessage>;
  handshake(order?: 'ready-first' | 'connected-first'): Promise<void>;
}

interface WsRoom {
  readonly url: string;
  /** Every upgrade request, refused or not. */
  readonly upgrades: IncomingMessage[];
  /** Answer the next upgrades with these HTTP statuses instead of accepting them. */
  refuse(...statuses: number[]): void;
  accept(): Promise<ServerSide>;
  close(): Promise<void>;
}

const rooms: WsRoom[] = [];
const connections: RoomConnection[] = [];

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close()));
  await Promise.all(rooms.splice(0).map((r) => r.close()));
});

async function wsRoom(options: { autoPong?: boolean } = {}): Promise<WsRoom> {
  const http: Server = createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, autoPong: options.autoPong ?? true });
  const upgrades: IncomingMessage[] = [];
  const refusals: number[] = [];
  const accepted: ServerSide[] = [];
  const waiting: Array<(s: ServerSide) => void> = [];
  let served = 0;

  http.on('upgrade', (request: IncomingMessage, socket, head) => {
    upgrades.push(request);
    const status = refusals.shift();
    if (status !== undefined) {
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const received: FrameMessage[] = [];
      const taken = new Set<FrameMessage>();
      const listeners: Array<() => void> = [];
      const session = new Session(new WebSocketTransport(ws), {
        onUnhandled: (message) => {
          received.push(message);
          for (const l of listeners.splice(0)) l();
        },
      });
      const side: ServerSide = {
        ws,
        session,
        request,
        received,
        next: (type) =>
          new Promise((resolve) => {
            const look = (): void => {
              const found = received.find((m) => m.type === type && !taken.has(m));
              if (found) {
                taken.add(found);
                resolve(found);
              } else listeners.push(look);
            };
            look();
          }),
        async handshake(order = 'ready-first') {
          const ready = () => session.sendPacked(MESSAGE_TYPES.ROOM_READY, { room_name: 'test', room_url: 'ws://x/rooms/test', session_id: 's' });
          const connected = () =>
            session.sendPacked(MESSAGE_TYPES.CONNECTED, { type: 'init', participantId: `p${accepted.indexOf(side)}`, attributes: { name: 'host' } });
          if (order === 'ready-first') {
            await ready();
            await connected();
          } else {
            await connected();
            await ready();
          }
        },
      };
      accepted.push(side);
      waiting.shift()?.(side);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const room: WsRoom = {
    url: `ws://127.0.0.1:${port}/rooms/test`,
    upgrades,
    refuse: (...statuses) => refusals.push(...statuses),
    accept() {
      const existing = accepted[served++];
      return existing ? Promise.resolve(existing) : new Promise((resolve) => waiting.push(resolve));
    },
    async close() {
      for (const side of accepted) side.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  rooms.push(room);
  return room;
}

function connect(room: WsRoom, options: Partial<RoomConnectionOptions> = {}): RoomConnection {
  const conn = new RoomConnection({ url: room.url, token: 'jwt.abc', backoff: { initialMs: 5, maxMs: 20 }, ...options });
  connections.push(conn);
  return conn;
}

async function ready(room: WsRoom, options: Partial<RoomConnectionOptions> = {}) {
  const conn = connect(room, options);
  const started = conn.start();
  const server = await room.accept();
  await server.handshake();
  await started;
  return { conn, server };
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

const header = (m: FrameMessage): JsonObject => unpackMessage(m.data).header;

describe('RoomConnection over a websocket', () => {
  it('sends the token both as Authorization: Bearer and as ?token=, without permessage-deflate', async () => {
    const room = await wsRoom();
    await ready(room);
    const [upgrade] = room.upgrades;
    expect(upgrade?.headers.authorization).toBe('Bearer jwt.abc');
    expect(new URL(upgrade?.url ?? '', 'ws://x').pathname).toBe('/rooms/test');
    expect(new URL(upgrade?.url ?? '', 'ws://x').searchParams.get('token')).toBe('jwt.abc');
    expect(upgrade?.headers['sec-websocket-extensions']).toBeUndefined();
  });

  it('completes the handshake with connected before room_ready', async () => {
    const room = await wsRoom();
    const conn = connect(room);
    const started = conn.start();
    await (await room.accept()).handshake('connected-first');
    await started;
    expect(conn.state).toBe('ready');
    expect(conn.participantId).toBe('p0');
  });

  it('matches a request to its answer, times out an unanswered one, and aborts another', async () => {
    const room = await wsRoom();
    const { conn, server } = await ready(room);
    const big = 'x'.repeat(5000); // several data frames each way
    const answer = conn.request('room.echo', { big });
    const request = await server.next('room.echo');
    expect(header(request)).toEqual({ big });
    await server.session.respond(request.id, text(big));
    expect(await answer).toEqual(text(big));

    expect((await rejection(conn.request('room.never', {}, undefined, { timeoutMs: 25 }))).code).toBe('RR_REQUEST_TIMEOUT');

    const controller = new AbortController();
    const aborted = conn.request('room.slow', {}, undefined, { signal: controller.signal });
    await server.next('room.slow');
    controller.abort();
    expect((await rejection(aborted)).code).toBe('RR_REQUEST_ABORTED');
  });

  it('answers a server-initiated tool call with the id the room chose', async () => {
    const room = await wsRoom();
    const { conn, server } = await ready(room);
    new RoomClient(conn).serveToolkit('calc', async (call) => json({ tool: call.name, args: call.arguments, caller: call.callerId }));
    await server.session.sendPacked(
      'room.tool_call.calc',
      { name: 'add', arguments: { type: 'json', json: { a: 1 } }, caller_id: 'c1', tool_call_id: 't1' },
      undefined,
      1234,
    );
    const response = await server.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE);
    expect(response.id).toBe(1234);
    expect(unpackContent(response.data)).toEqual(json({ tool: 'add', args: json({ a: 1 }), caller: 'c1' }));
  });

  it('reconnects after close 1011: set_attributes again, then onReady with reconnected: true', async () => {
    const room = await wsRoom();
    const seen: boolean[] = [];
    const { conn, server } = await ready(room, { onReady: (_c, info) => void seen.push(info.reconnected) });
    const readyAgain = new Promise((resolve) => conn.once('ready', resolve));
    server.session.close(1011, 'restarting');
    const second = await room.accept();
    await second.handshake();
    expect(await readyAgain).toEqual({ reconnected: true });
    expect(seen).toEqual([false, true]);
    expect(header(await second.next(MESSAGE_TYPES.SET_ATTRIBUTES))).toEqual({ name: 'host' });
    expect(room.upgrades).toHaveLength(2);
    expect(room.upgrades[1]?.headers.authorization).toBe('Bearer jwt.abc');
  });

  it('reconnects after the TCP socket is dropped without a close frame', async () => {
    const room = await wsRoom();
    const { conn, server } = await ready(room);
    const reconnecting = new Promise((resolve) => conn.once('reconnecting', resolve));
    server.ws.terminate();
    expect(await reconnecting).toMatchObject({ code: 1006 });
    await (await room.accept()).handshake();
    await new Promise((resolve) => conn.once('ready', resolve));
    expect(conn.state).toBe('ready');
  });

  it('drops and reconnects a socket whose pings go unanswered', async () => {
    const room = await wsRoom({ autoPong: false });
    const { conn } = await ready(room, { pingIntervalMs: 20 });
    const reconnecting = new Promise((resolve) => conn.once('reconnecting', resolve));
    expect(await reconnecting).toMatchObject({ code: 1006 });
  });

  it('treats close 1000 as final', async () => {
    const room = await wsRoom();
    const { conn, server } = await ready(room);
    const closed = new Promise((resolve) => conn.once('closed', resolve));
    server.session.close(1000, 'room ended');
    expect(await closed).toEqual({ code: 1000, reason: 'room ended' });
    expect(conn.state).toBe('closed');
    expect(room.upgrades).toHaveLength(1);
  });

  it.each([401, 403, 404, 423])('stops at a %i handshake with RR_ROOM_HANDSHAKE_REFUSED', async (status) => {
    const room = await wsRoom();
    room.refuse(status);
    const conn = connect(room);
    const error = await rejection(conn.start());
    expect(error.code).toBe('RR_ROOM_HANDSHAKE_REFUSED');
    expect(error.message).toContain(`status ${status}`);
    expect(error.data).toMatchObject({ status });
    expect(room.upgrades).toHaveLength(1);
    expect(conn.state).toBe('closed');
  });

  it('retries a 500 handshake and then succeeds', async () => {
    const room = await wsRoom();
    room.refuse(500, 500);
    const conn = connect(room);
    const failures: unknown[] = [];
    conn.on('reconnecting', (e) => failures.push(e.error));
    const started = conn.start();
    await (await room.accept()).handshake();
    await started;
    expect(room.upgrades).toHaveLength(3);
    expect(failures).toEqual([expect.objectContaining({ code: 'RR_ROOM_NOT_READY', data: expect.objectContaining({ status: 500 }) }), expect.anything()]);
  });

  it('fails a refused start with reconnect: false on the first 500', async () => {
    const room = await wsRoom();
    room.refuse(500);
    const error = await rejection(connect(room, { reconnect: false }).start());
    expect(error.code).toBe('RR_ROOM_NOT_READY');
    expect(error.data).toMatchObject({ status: 500 });
  });

  it('closes idempotently and leaves no timers behind', async () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const room = await wsRoom();
    const before = timeouts();
    const { conn, server } = await ready(room, { pingIntervalMs: 10_000 });
    const pending = conn.request('room.slow', {}, undefined, { timeoutMs: 60_000 });
    await server.next('room.slow');
    const first = conn.close();
    const second = conn.close();
    expect(second).toBe(first);
    await first;
    expect((await rejection(pending)).code).toBe('RR_ROOM_CLOSED');
    expect(await server.session.closed).toMatchObject({ code: 1000 });
    expect(timeouts()).toBeLessThanOrEqual(before);
  });

  it('does not crash on a connection refused at the TCP level, and stops when closed', async () => {
    const room = await wsRoom();
    const url = room.url;
    await room.close();
    rooms.splice(rooms.indexOf(room), 1);
    const conn = new RoomConnection({ url, token: 't', backoff: { initialMs: 5, maxMs: 5 } });
    connections.push(conn);
    const started = conn.start();
    await new Promise((resolve) => conn.once('reconnecting', resolve));
    await conn.close();
    expect((await rejection(started)).code).toBe('RR_ROOM_ABORTED');
  });

  it('names the URL and the socket error when the TCP connect is refused, and keeps the token out', async () => {
    const room = await wsRoom();
    const url = room.url;
    await room.close();
    rooms.splice(rooms.indexOf(room), 1);
    const conn = new RoomConnection({ url, token: 'secret-token', retryBeforeReady: false });
    connections.push(conn);
    const error = await rejection(conn.start());
    expect(error.code).toBe('RR_ROOM_NOT_READY');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain(new URL(url).host);
    expect(error.message).not.toContain('secret-token');
    expect(error.data).toMatchObject({ retryable: true });
  });

  it('sends an empty request and reads an empty answer over the socket', async () => {
    const room = await wsRoom();
    const { conn, server } = await ready(room);
    const answer = conn.request('room.unregister_toolkit', { id: 'r1' });
    await server.session.respond((await server.next('room.unregister_toolkit')).id, empty());
    expect(await answer).toEqual(empty());
  });
});
