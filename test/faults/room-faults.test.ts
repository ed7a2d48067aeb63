/**
 * Fault suite, rooms, over real sockets: a room server killed mid-call, a server that accepts and
 * never answers, a server that never answers a request, a slow agent, agents whose promises reject late, and
 * oversize messages. Every bound is checked as "answered by the code's own timeout", never by a clock.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type JsonContent, RoomClient as OfficialRoomClient, RoomServerException, WebSocketClientProtocol } from '@meshagent/meshagent';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { joinRoom, type JoinedRoom } from '../../src/agents/host.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { isRoomrunnerError, type RoomrunnerError } from '../../src/errors.js';
import { defineAgent, type Toolkit } from '../../src/index.js';
import { FrameReader, type FrameMessage } from '../../src/protocol/frame-reader.js';
import { encodeFrames } from '../../src/protocol/frames.js';
import { packContent } from '../../src/protocol/content.js';
import { packMessage } from '../../src/protocol/packing.js';
import { RoomConnection, type RoomConnectionOptions } from '../../src/room/connection.js';
import { RoomClient } from '../../src/room/room-client.js';
import { agentDefaultApiScope, mintParticipantToken } from '../../src/auth/token.js';
import { CountingTimers, freePort, turns, watchProcessFaults } from './support.js';

watchProcessFaults();

const SECRET = 'room-faults-secret';
const FAST_BACKOFF = { initialMs: 10, maxMs: 100 } as const;

const cleanups: Array<() => unknown> = [];
const savedApiKey = process.env['MESHAGENT_API_KEY'];
beforeAll(() => {
  delete process.env['MESHAGENT_API_KEY'];
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  if (savedApiKey !== undefined) process.env['MESHAGENT_API_KEY'] = savedApiKey;
  vi.restoreAllMocks();
});

function quietOfficialClient(): void {
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  vi.spyOn(console, 'debug').mockImplementation(() => undefined);
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Settles to the rejection reason; fails the test when the promise resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.unreachable(`expected a rejection, got ${JSON.stringify(value)}`),
    (error: unknown) => error,
  );
}

const userToken = (room: string): string => mintParticipantToken({ name: 'person', room, role: 'user', secret: SECRET, api: agentDefaultApiScope() });

async function emulatorUp(options: Parameters<typeof startEmulator>[0] = {}): Promise<Emulator> {
  const emulator = await startEmulator({ port: 0, secret: SECRET, idleGraceMs: 60_000, ...options });
  cleanups.push(() => emulator.close());
  return emulator;
}

async function host(emulator: Emulator, room: string, toolkits: readonly Toolkit[]): Promise<JoinedRoom> {
  const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room && e.toolkit === toolkits.at(-1)?.name, {
    includePast: true,
  });
  const joined = await joinRoom({
    url: emulator.roomUrl(room),
    room,
    toolkits,
    token: () => mintParticipantToken({ name: 'roomrunner', room, role: 'agent', secret: SECRET }),
    backoff: FAST_BACKOFF,
  });
  cleanups.push(() => joined.leave());
  await registered;
  return joined;
}

/** A caller on our own room client. */
async function ourCaller(emulator: Emulator, room: string, options: Partial<RoomConnectionOptions> = {}): Promise<RoomClient> {
  const connection = new RoomConnection({ url: emulator.roomUrl(room), token: () => userToken(room), backoff: FAST_BACKOFF, ...options });
  cleanups.push(() => connection.close());
  await connection.start();
  return new RoomClient(connection);
}

/** A caller on the official @meshagent/meshagent client. */
async function officialCaller(emulator: Emulator, room: string): Promise<OfficialRoomClient> {
  const client = new OfficialRoomClient({ protocolFactory: WebSocketClientProtocol.createFactory({ url: emulator.roomUrl(room), token: userToken(room) }) });
  client.ready.catch(() => undefined);
  cleanups.push(() => client.dispose());
  await client.start();
  return client;
}

const ask = (client: OfficialRoomClient, toolkit: string, args: Record<string, unknown>) => client.agents.invokeTool({ toolkit, tool: 'ask', arguments: args });

// ---------------------------------------------------------------------------------------------------------------

describe('a room server killed mid-call', () => {
  it('fails the calls in flight, moves the host to reconnecting, and re-registers it once a room server listens on the port again', async () => {
    // The official client reports its reconnect attempts on console.warn and console.debug, some after dispose().
    quietOfficialClient();
    const port = await freePort();
    const room = 'killed';
    const first = await startEmulator({ port, secret: SECRET, idleGraceMs: 60_000 });
    cleanups.push(() => first.close());
    const sockets = new Set<Socket>();
    first.app.server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });

    const running: AbortSignal[] = [];
    const bothRunning = deferred();
    const slow = defineAgent({
      name: 't.slow',
      input: z.object({}),
      output: z.object({}),
      timeoutMs: 30_000,
      run: (_args, ctx) =>
        new Promise<Record<string, never>>((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          running.push(ctx.signal);
          if (running.length === 2) bothRunning.resolve();
        }),
    });
    const joined = await host(first, room, [adder, slow]);
    const before = joined.connection.participantId;
    const ours = await ourCaller(first, room);
    const official = await officialCaller(first, room);

    const ourCall = rejection(ours.invokeTool({ toolkit: 't.slow', tool: 'ask', arguments: {}, timeoutMs: 20_000 }));
    const officialCall = rejection(ask(official, 't.slow', {}));
    await bothRunning.promise;

    // Kill: every TCP connection dropped without a close frame, and nothing listens on the port any more.
    const hostReconnecting = new Promise<{ code?: number }>((resolve) => joined.connection.once('reconnecting', resolve));
    for (const socket of sockets) socket.destroy();
    await first.close();

    const ourError = await ourCall;
    expect(isRoomrunnerError(ourError, 'RR_ROOM_CLOSED'), String(ourError)).toBe(true);
    expect((ourError as RoomrunnerError).contentCode).toBe(1006);
    expect(await officialCall).toBeInstanceOf(RoomServerException);

    expect(await hostReconnecting).toMatchObject({ code: 1006 });
    expect(joined.connection.state).toBe('reconnecting');
    // The calls the host was running were aborted with the socket that carried them.
    await expect.poll(() => running.every((signal) => signal.aborted)).toBe(true);

    // A new room server on the same port: the host comes back by itself and registers its agents again.
    const second = await startEmulator({ port, secret: SECRET, idleGraceMs: 60_000 });
    cleanups.push(() => second.close());
    const again = await second.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room && e.toolkit === 't.slow', {
      includePast: true,
    });
    expect(again.participantId).toBe(joined.connection.participantId);
    expect(again.participantId).not.toBe(before);
    await expect.poll(() => joined.connection.state).toBe('ready');

    const caller = await officialCaller(second, room);
    expect(((await ask(caller, 'samples.adder', { a: 20, b: 22 })) as JsonContent).json).toEqual({ result: 42 });
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** A websocket server on a free port; `onConnection` decides what it says. */
async function rawServer(onConnection: (ws: WebSocket) => void): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    onConnection(ws);
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  );
  const { port } = wss.address() as { port: number };
  return { wss, url: `ws://127.0.0.1:${port}/rooms/silent` };
}

describe('a room server that accepts the socket and never says anything', () => {
  it('fails start() with RR_ROOM_NOT_READY at the handshake timeout when reconnecting is off, leaving no timer and no socket', async () => {
    const { wss, url } = await rawServer(() => undefined);
    const timers = new CountingTimers();
    const connection = new RoomConnection({ url, token: 'unchecked', handshakeTimeoutMs: 150, pingIntervalMs: 40, reconnect: false, timers });
    const error = await rejection(connection.start());
    expect(isRoomrunnerError(error, 'RR_ROOM_NOT_READY'), String(error)).toBe(true);
    expect((error as Error).message).toBe('room_ready and connected did not arrive within 150 ms');
    expect(connection.state).toBe('closed');
    await connection.close();
    expect(timers.created).toBeGreaterThan(0);
    expect(timers.armed).toBe(0);
    await expect.poll(() => wss.clients.size).toBe(0);
  });

  it('retries with RR_ROOM_NOT_READY, times out requests waiting for the room, and leaves no timer once closed', async () => {
    const { wss, url } = await rawServer(() => undefined);
    const timers = new CountingTimers();
    const connection = new RoomConnection({ url, token: 'unchecked', handshakeTimeoutMs: 100, pingIntervalMs: 40, backoff: FAST_BACKOFF, timers });
    const retries: unknown[] = [];
    const twoRetries = deferred();
    connection.on('reconnecting', (event) => {
      retries.push(event.error);
      if (retries.length === 2) twoRetries.resolve();
    });
    const started = rejection(connection.start());
    const waiting = await rejection(connection.request('room.list_toolkits', {}, undefined, { timeoutMs: 120 }));
    expect(isRoomrunnerError(waiting, 'RR_REQUEST_TIMEOUT'), String(waiting)).toBe(true);
    expect((waiting as Error).message).toBe('room.list_toolkits not sent: the room was not ready within 120 ms');

    await twoRetries.promise;
    for (const cause of retries) expect(isRoomrunnerError(cause, 'RR_ROOM_NOT_READY'), String(cause)).toBe(true);
    expect(connection.state).toBe('connecting');

    await connection.close();
    expect(isRoomrunnerError(await started, 'RR_ROOM_ABORTED')).toBe(true);
    expect(timers.armed).toBe(0);
    await expect.poll(() => wss.clients.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** Frames of one message as the room would send it. */
function send(ws: WebSocket, id: number, type: string, data: Uint8Array): void {
  for (const frame of encodeFrames(id, type, data)) ws.send(frame);
}

describe('a room server that completes the handshake and never answers a request', () => {
  it('fails the request with RR_REQUEST_TIMEOUT at its timeout, ignores the late answer, and keeps the connection', async () => {
    const received: Array<{ ws: WebSocket; message: FrameMessage }> = [];
    const request = deferred();
    const { url } = await rawServer((ws) => {
      send(ws, 0, 'room_ready', packMessage({ room_name: 'silent', room_url: url, session_id: 's-1' }));
      send(ws, 1, 'connected', packMessage({ type: 'init', participantId: 'p-1', attributes: {} }));
      const reader = new FrameReader();
      ws.on('message', (data: Buffer) => {
        const result = reader.push(data);
        if (result?.kind !== 'message') return;
        received.push({ ws, message: result.message });
        if (result.message.type === 'room.list_toolkits') request.resolve();
      });
    });
    const timers = new CountingTimers();
    const connection = new RoomConnection({ url, token: 'unchecked', pingIntervalMs: 40, timers });
    const errors: unknown[] = [];
    connection.on('error', (error) => errors.push(error));
    await connection.start();

    const error = await rejection(connection.request('room.list_toolkits', {}, undefined, { timeoutMs: 150 }));
    await request.promise;
    expect(isRoomrunnerError(error, 'RR_REQUEST_TIMEOUT'), String(error)).toBe(true);
    expect((error as RoomrunnerError).contentCode).toBe(1009);
    expect((error as RoomrunnerError).data).toMatchObject({ type: 'room.list_toolkits' });

    // The answer comes after all: it is dropped, and the connection serves on.
    const asked = received.find((r) => r.message.type === 'room.list_toolkits') as { ws: WebSocket; message: FrameMessage };
    send(asked.ws, asked.message.id, '__response__', packContent({ type: 'json', json: { tools: {} } }));
    const client = new RoomClient(connection);
    const second = await rejection(client.invokeTool({ toolkit: 'x', tool: 'y', arguments: {}, timeoutMs: 100 }));
    expect(isRoomrunnerError(second, 'RR_REQUEST_TIMEOUT'), String(second)).toBe(true);
    expect(connection.state).toBe('ready');
    expect(errors).toEqual([]);

    await connection.close();
    expect(timers.armed).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('agents that are slow or leak promises', () => {
  let emulator: Emulator;
  const sharedCleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    emulator = await startEmulator({ port: 0, secret: SECRET, idleGraceMs: 60_000 });
    sharedCleanups.push(() => emulator.close());
  });
  afterAll(async () => {
    for (const cleanup of sharedCleanups.splice(0).reverse()) await cleanup();
  });

  it('answers a slow agent with 1009 at its deadline while other calls are answered, and drops its late result', async () => {
    const room = 'slow-agent';
    const runStarted = deferred();
    const release = deferred();
    const slow = defineAgent({
      name: 't.slow',
      input: z.object({}),
      output: z.object({ late: z.boolean() }),
      timeoutMs: 1_500,
      // Ignores ctx.signal on purpose: a badly written agent.
      run: async () => {
        runStarted.resolve();
        await release.promise;
        return { late: true };
      },
    });
    await host(emulator, room, [adder, slow]);
    const caller = await officialCaller(emulator, room);

    let slowSettled = false;
    const slowCall = rejection(ask(caller, 't.slow', {})).finally(() => (slowSettled = true));
    await runStarted.promise;
    const sums = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(caller, 'samples.adder', { a: i, b: 1 })));
    expect(sums.map((r) => (r as JsonContent).json)).toEqual(Array.from({ length: 20 }, (_, i) => ({ result: i + 1 })));
    expect(slowSettled).toBe(false);

    const error = await slowCall;
    expect(error).toBeInstanceOf(RoomServerException);
    expect(error).toMatchObject({ code: 1009, message: 'agent t.slow did not answer within 1500 ms' });

    release.resolve();
    // A later call on the same socket is a barrier: anything the late result sent would have arrived first.
    expect(((await ask(caller, 'samples.adder', { a: 1, b: 1 })) as JsonContent).json).toEqual({ result: 2 });
    const answers = emulator.roomServer.events.filter((e) => e.kind === 'tool.answered' && e.room === room && e.toolkit === 't.slow');
    expect(answers).toHaveLength(1);
  });

  it('swallows the late rejection of a run that fails after its deadline, after its caller left, or after the host left the room', async () => {
    const room = 'late-reject';
    const runs: Array<Deferred<Record<string, never>>> = [];
    const started: Array<Deferred<void>> = [deferred(), deferred(), deferred()];
    const lateRejecter = defineAgent({
      name: 't.late',
      input: z.object({}),
      output: z.object({}),
      timeoutMs: 300,
      // Ignores ctx.signal and rejects only when the test says so: after roomrunner has answered the call.
      run: () => {
        const run = deferred<Record<string, never>>();
        started[runs.length]?.resolve();
        runs.push(run);
        return run.promise;
      },
    });
    const joined = await host(emulator, room, [adder, lateRejecter]);
    const caller = await officialCaller(emulator, room);
    const leaver = await officialCaller(emulator, room);

    const timedOut = rejection(ask(caller, 't.late', {}));
    const abandoned = rejection(ask(leaver, 't.late', {}));
    await Promise.all([started[0]?.promise, started[1]?.promise]);
    leaver.dispose();
    await abandoned;
    expect(await timedOut).toMatchObject({ code: 1009 });

    const aborted = rejection(ask(caller, 't.late', {}));
    await started[2]?.promise;
    await joined.leave({ reason: 'the room ended' });
    expect(await aborted).toMatchObject({ code: 1006, message: 'call to agent t.late was aborted: the room ended' });

    for (const run of runs) run.reject(new Error('late failure inside the agent'));
    await turns(5);
    // watchProcessFaults() fails this test if any of the three late rejections went unhandled.
  });

  it('answers a run that rejects with a non-Error before its deadline with 1008, and keeps serving', async () => {
    const room = 'odd-reject';
    const odd = defineAgent({ name: 't.odd', input: z.object({}), output: z.object({}), run: () => Promise.reject(undefined) });
    await host(emulator, room, [adder, odd]);
    const caller = await officialCaller(emulator, room);
    expect(await rejection(ask(caller, 't.odd', {}))).toMatchObject({ code: 1008, message: 'the agent failed' });
    expect(((await ask(caller, 'samples.adder', { a: 3, b: 4 })) as JsonContent).json).toEqual({ result: 7 });
  });

  it('answers the call of an agent that leaks its own rejected promise, which then meets Node’s default policy (the process exits 1)', async () => {
    const script = fileURLToPath(new URL('./fixtures/leaky-agent.ts', import.meta.url));
    const result = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd: fileURLToPath(new URL('../..', import.meta.url)) }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(result.stdout).toContain('answer {"ok":true}');
    expect(result.stdout).not.toContain('still running');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('rejection leaked by the agent');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('oversize messages', () => {
  const ROOM_MAX_BYTES = 256 * 1024;
  const CALLER_MAX_BYTES = 64 * 1024;
  const length = defineAgent({
    name: 't.length',
    input: z.object({ text: z.string() }),
    output: z.object({ length: z.int() }),
    run: ({ text }) => ({ length: text.length }),
  });
  const big = defineAgent({
    name: 't.big',
    input: z.object({ bytes: z.int() }),
    output: z.object({ text: z.string() }),
    run: ({ bytes }) => ({ text: 'x'.repeat(bytes) }),
  });

  it('refuses a request over the room maximum with 1002 (RR_MESSAGE_TOO_LARGE) and serves the next one on the same socket, 200 KB included', async () => {
    const emulator = await emulatorUp({ roomServer: { maxMessageBytes: ROOM_MAX_BYTES } });
    await host(emulator, 'oversize', [length, big]);
    const caller = await ourCaller(emulator, 'oversize');
    const before = caller.connection.participantId;
    const frameError = emulator.roomServer.waitForEvent((e) => e.kind === 'frame.error' && e.room === 'oversize');

    const refused = await rejection(caller.invokeTool({ toolkit: 't.length', tool: 'ask', arguments: { text: 'y'.repeat(300_000) }, timeoutMs: 10_000 }));
    expect(isRoomrunnerError(refused, 'RR_ROOM_SERVER_ERROR'), String(refused)).toBe(true);
    expect((refused as RoomrunnerError).contentCode).toBe(1002);
    expect((refused as Error).message).toMatch(/more than the maximum of 262144/);
    expect(await frameError).toMatchObject({ code: 1002, type: 'room.invoke_tool', reason: expect.stringMatching(/^message announces/) });

    const fine = await caller.invokeTool({ toolkit: 't.length', tool: 'ask', arguments: { text: 'z'.repeat(200_000) } });
    expect(fine).toEqual({ type: 'json', json: { length: 200_000 } });
    expect(caller.connection.participantId).toBe(before);
    expect(caller.connection.state).toBe('ready');

    const official = await officialCaller(emulator, 'oversize');
    expect(((await ask(official, 't.length', { text: 'w'.repeat(200_000) })) as JsonContent).json).toEqual({ length: 200_000 });
  });

  it('tells the caller with 1002 when a host answers over the room maximum, and the host keeps serving', async () => {
    const emulator = await emulatorUp({ roomServer: { maxMessageBytes: ROOM_MAX_BYTES } });
    await host(emulator, 'oversize-answer', [length, big]);
    const caller = await ourCaller(emulator, 'oversize-answer');
    const refused = await rejection(caller.invokeTool({ toolkit: 't.big', tool: 'ask', arguments: { bytes: 300_000 }, timeoutMs: 10_000 }));
    expect(isRoomrunnerError(refused, 'RR_ROOM_SERVER_ERROR'), String(refused)).toBe(true);
    expect((refused as RoomrunnerError).contentCode).toBe(1002);
    expect((refused as Error).message).toContain("the response of toolkit 't.big' could not be read");
    expect(await caller.invokeTool({ toolkit: 't.big', tool: 'ask', arguments: { bytes: 3 } })).toEqual({ type: 'json', json: { text: 'xxx' } });
  });

  it('drops an answer over the caller’s own maximum with an RR_MESSAGE_TOO_LARGE error event, fails that request, and serves the next one', async () => {
    const emulator = await emulatorUp({ roomServer: { maxMessageBytes: ROOM_MAX_BYTES } });
    await host(emulator, 'oversize-reply', [length, big]);
    const caller = await ourCaller(emulator, 'oversize-reply', { maxMessageBytes: CALLER_MAX_BYTES });
    const errorEvent = new Promise<unknown>((resolve) => caller.connection.once('error', resolve));

    const failed = await rejection(caller.invokeTool({ toolkit: 't.big', tool: 'ask', arguments: { bytes: 100_000 }, timeoutMs: 500 }));
    const dropped = await errorEvent;
    expect(isRoomrunnerError(dropped, 'RR_MESSAGE_TOO_LARGE'), String(dropped)).toBe(true);
    expect((dropped as RoomrunnerError).closeCode).toBe(1009);
    // Today the request fails at its own timeout; failing it at once with RR_MESSAGE_TOO_LARGE would be better.
    expect(isRoomrunnerError(failed, 'RR_REQUEST_TIMEOUT') || isRoomrunnerError(failed, 'RR_MESSAGE_TOO_LARGE'), String(failed)).toBe(true);

    expect(await caller.invokeTool({ toolkit: 't.big', tool: 'ask', arguments: { bytes: 1_000 } })).toEqual({
      type: 'json',
      json: { text: 'x'.repeat(1_000) },
    });
    expect(caller.connection.state).toBe('ready');
  });
});
