import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Meshagent, RoomClient, WebSocketClientProtocol } from '@meshagent/meshagent';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { signJwt } from '../../src/auth/jwt.js';
import { agentDefaultApiScope, mintParticipantToken, verifyParticipantToken } from '../../src/auth/token.js';
import { pythonDumps, verifyWebhook } from '../../src/webhooks/signatures/index.js';

const SECRET = 'emulator-e2e-secret';
const WEBHOOK_SECRET = 'receiver-secret';
const PROJECT = '0b7c4a52-3f7e-4d1a-9a55-2c1f0e9d8b6a';

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly json: { event: string; data: Record<string, unknown> };
}

/** Records every POST; answers 200 unless a path is scripted to fail. Waits are on arrivals, never on time. */
class Receiver {
  readonly requests: Received[] = [];
  readonly failing = new Set<string>();
  readonly #server: Server;
  readonly #waiters: { match: (request: Received) => boolean; resolve: (request: Received) => void }[] = [];

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const request: Received = { path: req.url ?? '/', headers: req.headers, body, json: JSON.parse(body.toString('utf8')) };
        this.requests.push(request);
        for (const waiter of [...this.#waiters]) {
          if (waiter.match(request)) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
            waiter.resolve(request);
          }
        }
        res.writeHead(this.failing.has(request.path) ? 500 : 200, { 'content-type': 'application/json' }).end('{"ok": true}');
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The first request (already received or still to come) for `event` on `path`. */
  next(event: string, path = '/hook'): Promise<Received> {
    const match = (request: Received): boolean => request.json.event === event && request.path === path;
    const seen = this.requests.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }
}

describe('startEmulator', () => {
  let receiver: Receiver;
  let emulator: Emulator;
  const auth = { authorization: `Bearer ${signJwt({ sub: PROJECT }, SECRET)}` };

  // biome-ignore lint/suspicious/noExplicitAny: the answers of many REST routes, read field by field in the expectations
  const rest = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const response = await fetch(`${emulator.url}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
  };

  beforeEach(async () => {
    receiver = new Receiver();
    await receiver.start();
    emulator = await startEmulator({
      port: 0,
      secret: SECRET,
      projectId: PROJECT,
      webhooks: [{ url: `${receiver.url}/hook`, secret: WEBHOOK_SECRET, scheme: 'meshagent', events: ['room.started', 'room.ended'] }],
      webhookDelivery: { minTimeoutMs: 5, jitter: 0 },
    });
  });

  afterEach(async () => {
    await emulator.close();
    await receiver.stop();
  });

  it('listens on 127.0.0.1 and reports its http and websocket bases', () => {
    expect(emulator.url).toBe(`http://127.0.0.1:${emulator.port}`);
    expect(emulator.wsUrl).toBe(`ws://127.0.0.1:${emulator.port}`);
    expect(emulator.roomUrl('demo')).toBe(`ws://127.0.0.1:${emulator.port}/rooms/demo`);
    expect(emulator.port).toBeGreaterThan(0);
  });

  it('sends the test ping to the subscription given at start', async () => {
    const ping = await receiver.next('webhook.ping');
    const [subscription] = emulator.webhooks.list();
    expect(ping.json.data).toEqual({ webhook_id: subscription?.id });
  });

  it('posts a signed room.started when a session starts and room.ended when it ends', async () => {
    const started = await rest('POST', '/_emulator/rooms/demo/start');
    expect(started.status).toBe(200);
    const sessionId = started.json.room.sessionId as string;

    const roomStarted = await receiver.next('room.started');
    // session_id is our extension: receivers use it to tell one session of a room from the next.
    const expectedData = { room_name: 'demo', room_url: `ws://127.0.0.1:${emulator.port}/rooms/demo`, session_id: sessionId };
    expect(roomStarted.json).toEqual({ event: 'room.started', data: expectedData });
    expect(roomStarted.body.toString('utf8')).toBe(pythonDumps({ event: 'room.started', data: expectedData }));
    expect(() => verifyWebhook('meshagent', { rawBody: roomStarted.body, headers: roomStarted.headers, secrets: [WEBHOOK_SECRET] })).not.toThrow();

    const active = await rest('GET', `/accounts/projects/${PROJECT}/sessions/active`);
    expect(active.json.sessions).toEqual([expect.objectContaining({ id: sessionId, room_name: 'demo', state: 'active' })]);

    expect((await rest('POST', '/_emulator/rooms/demo/end')).json).toMatchObject({ ended: true });
    const roomEnded = await receiver.next('room.ended');
    expect(roomEnded.json).toEqual({ event: 'room.ended', data: { room_name: 'demo', session_id: sessionId } });
    expect(() => verifyWebhook('meshagent', { rawBody: roomEnded.body, headers: roomEnded.headers, secrets: [WEBHOOK_SECRET] })).not.toThrow();
    expect((await rest('GET', `/accounts/projects/${PROJECT}/sessions/active`)).json).toEqual({ sessions: [] });

    await emulator.webhooks.idle();
    const log = await rest('GET', `/accounts/projects/${PROJECT}/webhooks/${emulator.webhooks.list()[0]?.id}/deliveries`);
    expect(log.json.deliveries.map((delivery: { event: string; status: string }) => `${delivery.event}:${delivery.status}`)).toEqual([
      'webhook.ping:delivered',
      'room.started:delivered',
      'room.ended:delivered',
    ]);
  });

  it('lets the official RoomClient join with a REST connect token, and delivers its room.call with a token for the callee', async () => {
    const connect = await rest('POST', `/accounts/projects/${PROJECT}/rooms/calls/connect`, {});
    expect(connect.status).toBe(200);
    expect(connect.json.room_url).toBe(emulator.roomUrl('calls'));

    const room = new RoomClient({
      protocolFactory: WebSocketClientProtocol.createFactory({ url: connect.json.room_url, token: connect.json.jwt }),
      reconnectTimeout: 0,
    });
    room.ready.catch(() => undefined);
    await room.start();
    try {
      await room.call({ name: 'helper', url: `${receiver.url}/hook`, arguments: { task: 'sum' } });
      const call = await receiver.next('room.call');
      expect(call.json.data).toMatchObject({ room_name: 'calls', room_url: emulator.roomUrl('calls'), arguments: { task: 'sum' } });
      // Signed like the subscription whose URL it is.
      expect(() => verifyWebhook('meshagent', { rawBody: call.body, headers: call.headers, secrets: [WEBHOOK_SECRET] })).not.toThrow();
      const claims = verifyParticipantToken(call.json.data['token'] as string, { secret: SECRET, room: 'calls' });
      expect(claims).toMatchObject({ name: 'helper', role: 'agent', projectId: PROJECT });

      // A URL no subscription names gets an unsigned call.
      await room.call({ name: 'other', url: `${receiver.url}/elsewhere`, arguments: {} });
      const unsigned = await receiver.next('room.call', '/elsewhere');
      expect(unsigned.headers['meshagent-signature']).toBeUndefined();

      // A callee that keeps failing fails the request once the retries are spent.
      receiver.failing.add('/down');
      await expect(room.call({ name: 'x', url: `${receiver.url}/down`, arguments: {} })).rejects.toThrow(/room\.call/);
      expect(receiver.requests.filter((request) => request.path === '/down')).toHaveLength(4);
    } finally {
      room.dispose();
    }
  });

  it('tells an official client that joins before any session the id of the session a user then starts', async () => {
    const jwt = mintParticipantToken({ name: 'early-agent', room: 'early', role: 'agent', secret: SECRET, api: agentDefaultApiScope() });
    const agent = new RoomClient({
      protocolFactory: WebSocketClientProtocol.createFactory({ url: emulator.roomUrl('early'), token: jwt }),
      reconnectTimeout: 0,
    });
    agent.ready.catch(() => undefined);
    await agent.start();
    try {
      expect(agent.sessionId).toEqual(expect.any(String));
      expect((await rest('GET', `/accounts/projects/${PROJECT}/sessions/active`)).json).toEqual({ sessions: [] });
      const started = await rest('POST', '/_emulator/rooms/early/start');
      expect(started.json.room.sessionId).toBe(agent.sessionId);
    } finally {
      agent.dispose();
    }
  });

  it('answers the official client’s listActiveSessions with participants counted by role', async () => {
    const connect = await rest('POST', `/accounts/projects/${PROJECT}/rooms/counted/connect`, {});
    const user = new RoomClient({
      protocolFactory: WebSocketClientProtocol.createFactory({ url: connect.json.room_url, token: connect.json.jwt }),
      reconnectTimeout: 0,
    });
    user.ready.catch(() => undefined);
    await user.start();
    const agentJwt = mintParticipantToken({ name: 'bot', room: 'counted', role: 'agent', secret: SECRET, api: agentDefaultApiScope() });
    const agent = new RoomClient({
      protocolFactory: WebSocketClientProtocol.createFactory({ url: emulator.roomUrl('counted'), token: agentJwt }),
      reconnectTimeout: 0,
    });
    agent.ready.catch(() => undefined);
    await agent.start();
    try {
      const platform = new Meshagent({ baseUrl: emulator.url, token: signJwt({ sub: PROJECT }, SECRET) });
      const sessions = await platform.listActiveSessions(PROJECT);
      expect(sessions).toEqual([
        {
          id: user.sessionId,
          roomId: expect.any(String),
          roomName: 'counted',
          createdAt: expect.any(Date),
          isActive: true,
          participants: { user: 1, agent: 1 },
        },
      ]);
      expect(await platform.listRecentSessions(PROJECT)).toEqual([expect.objectContaining({ id: user.sessionId, isActive: true })]);
    } finally {
      agent.dispose();
      user.dispose();
    }
  });

  it('disables a room through the control route: start, connect and the upgrade answer 423 until it is enabled', async () => {
    expect((await rest('POST', '/_emulator/rooms/locked/disable')).json.room).toMatchObject({ name: 'locked', disabled: true });
    expect((await rest('POST', '/_emulator/rooms/locked/start')).status).toBe(423);
    const connect = await rest('POST', `/accounts/projects/${PROJECT}/rooms/locked/connect`, {});
    expect(connect).toEqual({ status: 423, json: { error: { code: 'RR_EMULATOR_ROOM_DISABLED', message: 'This room is currently disabled.' } } });
    const jwt = mintParticipantToken({ name: 'late', room: 'locked', role: 'user', secret: SECRET, api: agentDefaultApiScope() });
    const socket = new WebSocket(`${emulator.roomUrl('locked')}?token=${jwt}`);
    socket.on('error', () => undefined);
    const status = await new Promise<number | undefined>((resolve) => socket.on('unexpected-response', (_req, response) => resolve(response.statusCode)));
    expect(status).toBe(423);
    expect((await rest('POST', '/_emulator/rooms/locked/enable')).json.room).toMatchObject({ disabled: false });
    expect((await rest('POST', `/accounts/projects/${PROJECT}/rooms/locked/connect`, {})).status).toBe(200);
  });

  it('closes websocket upgrades that are not for /rooms/<name>', async () => {
    const socket = new WebSocket(`${emulator.wsUrl}/elsewhere`);
    const outcome = await new Promise<string>((resolve) => {
      socket.on('open', () => resolve('open'));
      socket.on('error', () => resolve('error'));
    });
    expect(outcome).toBe('error');
  });

  it('sends room.ended for running sessions when it closes', async () => {
    await rest('POST', '/_emulator/rooms/last/start');
    await receiver.next('room.started');
    const ended = receiver.next('room.ended');
    await emulator.close();
    expect((await ended).json.data).toEqual({ room_name: 'last', session_id: expect.any(String) });
    await emulator.close(); // idempotent
  });
});
