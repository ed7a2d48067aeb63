/**
 * The websocket handoff of room.call, against real sockets on both sides: the emulator hands a room to
 * roomrunner as a project service (GET /webhook with Upgrade: websocket, signed), plays the room server on that
 * socket, and the OFFICIAL @meshagent/meshagent client calls the Adder through it.
 */
import type { JsonContent, RoomClient } from '@meshagent/meshagent';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import type { RoomClient as OurRoomClient } from '../../src/room/room-client.js';
import { mintParticipantToken } from '../../src/auth/token.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { adderRegistered, officialPerson } from '../support/emulator-people.js';

const SECRET = 'handoff-room-secret';
const PROJECT = 'handoff-project';
const WEBHOOK_SECRET = 'handoff-webhook-secret';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emulatorUp(): Promise<Emulator> {
  const emulator = await startEmulator({
    port: 0,
    secret: SECRET,
    projectId: PROJECT,
    idleGraceMs: 100,
    serviceSecret: WEBHOOK_SECRET,
    webhookDelivery: { minTimeoutMs: 20, maxTimeoutMs: 100, pingOnCreate: false },
  });
  cleanups.push(() => emulator.close());
  return emulator;
}

async function roomrunner(emulator: Emulator) {
  const config = loadConfig(
    {
      secret: SECRET,
      projectId: PROJECT,
      apiUrl: emulator.url,
      webhookSecrets: [WEBHOOK_SECRET],
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      drainTimeoutMs: 2_000,
    },
    {},
  );
  const server = new RemoteTaskRunnerServer({
    agents: [adder],
    config,
    defaultMetrics: false,
    reconcileIntervalMs: 0,
    retry: { minTimeoutMs: 20, maxTimeoutMs: 200, attemptTimeoutMs: 5_000 },
  });
  const address = await server.start();
  cleanups.push(() => server.close());
  await server.reconcile();
  return { server, address };
}

/** roomrunner as an external project service whose /webhook endpoint is at `url`. */
function serviceAt(url: string) {
  return {
    version: 'v1',
    kind: 'Service',
    metadata: { name: 'roomrunner' },
    external: { url },
    ports: [{ num: '*', endpoints: [{ path: '/webhook', meshagent: { identity: 'roomrunner', api: { agents: {} } } }] }],
  };
}

const person = (emulator: Emulator, room: string): Promise<RoomClient> => officialPerson(emulator, room, SECRET, cleanups);

const registered = adderRegistered;

/** Dial roomrunner's /webhook as the platform would, and report the HTTP status it answered (101 = upgraded). */
async function dialHandoff(base: string, envelope: string | undefined, secret: string | undefined): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = {};
  if (envelope !== undefined) headers['meshagent-webhook'] = envelope;
  if (secret !== undefined) Object.assign(headers, signWebhook('meshagent', { body: envelope ?? '', secret }));
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/webhook`, { headers });
  ws.on('error', () => undefined);
  return new Promise((resolve) => {
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    ws.once('open', () => {
      ws.close(1000);
      resolve({ status: 101, body: '' });
    });
  });
}

describe('the websocket handoff (GET /webhook with Upgrade: websocket)', () => {
  it('attaches the Adder over a signed handoff socket, and a participant call through the emulator is answered', async () => {
    const emulator = await emulatorUp();
    const { server, address } = await roomrunner(emulator);
    emulator.services.create(serviceAt(address.url.replace(/^http/, 'ws')));
    const room = 'handed-off';
    const attached = registered(emulator, room);
    const user = await person(emulator, room);
    const registration = await attached;

    const result = await user.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 20, b: 22 } });
    expect((result as JsonContent).json).toEqual({ result: 42 });
    await expect.poll(() => server.attachments.status()).toMatchObject([{ room, state: 'attached', trigger: 'room.call' }]);
    // Over the handoff socket: one signed upgrade in the emulator's log, no POST, no connect-back to /rooms.
    expect(emulator.handoffs.deliveries()).toMatchObject([{ event: 'room.call', status: 'delivered', attempts: [{ status: 101, error: null }] }]);
    expect(emulator.webhooks.deliveries()).toEqual([]);
    const joins = emulator.roomServer.events.filter((e) => e.kind === 'connected' && e.room === room && e.participantId === registration.participantId);
    expect(joins).toHaveLength(1);
  });

  it('refuses a forged handoff with 401 and a room.started handoff with 400, upgrading nothing', async () => {
    const emulator = await emulatorUp();
    const { server, address } = await roomrunner(emulator);
    const token = mintParticipantToken({ name: 'roomrunner', room: 'r', role: 'agent', secret: SECRET });
    const call = pythonDumps({ event: 'room.call', data: { room_name: 'r', room_url: emulator.roomUrl('r'), token, arguments: null } });
    const started = pythonDumps({ event: 'room.started', data: { room_name: 'r', room_url: emulator.roomUrl('r') } });

    const forged = await dialHandoff(address.url, call, 'not-the-secret');
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body)).toMatchObject({ ok: false, error: { code: 'RR_WEBHOOK_SIGNATURE_MISMATCH' } });
    expect((await dialHandoff(address.url, call, undefined)).status).toBe(401);
    const notCall = await dialHandoff(address.url, started, WEBHOOK_SECRET);
    expect(notCall.status).toBe(400);
    expect(JSON.parse(notCall.body)).toMatchObject({ error: { code: 'RR_WEBHOOK_HANDOFF_NOT_CALL' } });
    const malformed = await dialHandoff(address.url, '{"event": "room.call", "data": {"room_name": "r"}}', WEBHOOK_SECRET);
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body)).toMatchObject({ error: { code: 'RR_WEBHOOK_ENVELOPE_INVALID' } });
    expect((await dialHandoff(address.url, 'not json', WEBHOOK_SECRET)).status).toBe(400);
    expect(server.attachments.size).toBe(0);
    expect(emulator.roomServer.events.filter((e) => e.kind === 'connected')).toEqual([]);
  });

  it('leaves the room cleanly, without reconnecting, when the platform closes the handoff socket', async () => {
    const emulator = await emulatorUp();
    const { server, address } = await roomrunner(emulator);
    emulator.services.create(serviceAt(address.url.replace(/^http/, 'ws')));
    const room = 'closed-by-platform';
    const attached = registered(emulator, room);
    await person(emulator, room);
    const registration = await attached;
    await expect.poll(() => server.attachments.state(room)).toBe('attached');

    // 1011 would make a dialed connection reconnect; a handoff socket is never dialed again.
    emulator.roomServer.closeParticipant(room, registration.participantId as string, 1011, 'platform restart');
    await expect.poll(() => server.attachments.size).toBe(0);
    const joins = emulator.roomServer.events.filter((e) => e.kind === 'connected' && e.room === room && e.participantName === 'roomrunner');
    expect(joins).toHaveLength(1);
    expect(server.attachments.status()).toEqual([]);
  });

  it('still attaches over a POST room.call when the endpoint URL is http://', async () => {
    const emulator = await emulatorUp();
    const { server, address } = await roomrunner(emulator);
    emulator.services.create(serviceAt(address.url));
    const room = 'posted';
    const attached = registered(emulator, room);
    const user = await person(emulator, room);
    await attached;
    const result = await user.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 1, b: 2 } });
    expect((result as JsonContent).json).toEqual({ result: 3 });
    expect(emulator.webhooks.deliveries()).toMatchObject([{ event: 'room.call', status: 'delivered', attempts: [{ status: 200 }] }]);
    expect(emulator.handoffs.deliveries()).toEqual([]);
    await expect.poll(() => server.attachments.status()).toMatchObject([{ room, state: 'attached', trigger: 'room.call' }]);
  });

  it('hands onCallAnswered a ready room client on the platform socket, and retries a refused handoff', async () => {
    const emulator = await emulatorUp();
    const answered: Array<{ room: string | undefined; event: string }> = [];
    let resolveAnswered!: (client: OurRoomClient) => void;
    const gotClient = new Promise<OurRoomClient>((resolve) => (resolveAnswered = resolve));
    const server = new WebhookServer({
      port: 0,
      host: '127.0.0.1',
      secrets: [WEBHOOK_SECRET],
      defaultMetrics: false,
      config: loadConfig({ logLevel: 'silent' }, {}),
      onCallAnswered: (client, event) => {
        answered.push({ room: client.connection.roomName, event: event.event });
        resolveAnswered(client);
      },
    });
    const address = await server.start();
    cleanups.push(() => server.close());
    // First a wrong URL path (404 on every attempt is retried, then given up), then the right one.
    emulator.services.create({ ...serviceAt(`${address.url.replace(/^http/, 'ws')}/nowhere`) });
    emulator.services.create(serviceAt(address.url.replace(/^http/, 'ws')));
    await person(emulator, 'answered');
    const client = await gotClient;
    expect(answered).toEqual([{ room: 'answered', event: 'room.call' }]);
    expect(client.connection.state).toBe('ready');
    await expect
      .poll(() =>
        emulator.handoffs
          .deliveries()
          .map((d) => d.status)
          .sort(),
      )
      .toEqual(['delivered', 'failed']);
    const refused = emulator.handoffs.deliveries().find((d) => d.status === 'failed');
    expect(refused?.attempts.length).toBeGreaterThan(1);
    expect(refused?.attempts.every((a) => a.status === 404)).toBe(true);

    emulator.roomServer.endSession('answered');
    expect(await client.connection.closed).toMatchObject({ code: 1000 });
  });
});
