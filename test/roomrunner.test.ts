/**
 * The composition root over real sockets: createRoomrunner's two sides, wired through dispatch and handoffs,
 * against the emulator and the official @meshagent/meshagent client.
 */
import type { JsonContent, RoomClient } from '@meshagent/meshagent';
import { afterEach, describe, expect, it } from 'vitest';
import { adder } from '../agents/adder.js';
import { loadConfig, type ConfigOverrides } from '../src/config.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { silentLogger } from '../src/logger.js';
import { createRoomrunner } from '../src/roomrunner.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { adderRegistered, officialPerson } from './support/emulator-people.js';

const SECRET = 'composition-room-secret';
const PROJECT = 'composition-project';
const WEBHOOK_SECRET = 'composition-webhook-secret';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emulatorUp(): Promise<Emulator> {
  const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT, serviceSecret: WEBHOOK_SECRET, idleGraceMs: 100 });
  cleanups.push(() => emulator.close());
  return emulator;
}

function configFor(emulator: Emulator, overrides: ConfigOverrides = {}) {
  return loadConfig(
    {
      secret: SECRET,
      projectId: PROJECT,
      apiUrl: emulator.url,
      webhookSecrets: [WEBHOOK_SECRET],
      port: 0,
      host: '127.0.0.1',
      drainTimeoutMs: 2_000,
      ...overrides,
    },
    {},
  );
}

const person = (emulator: Emulator, room: string): Promise<RoomClient> => officialPerson(emulator, room, SECRET, cleanups);

const registered = adderRegistered;

describe('createRoomrunner', () => {
  it('attaches the Adder on a signed room.started and answers the official client, then leaves the room when closed', async () => {
    const emulator = await emulatorUp();
    const store = new MemoryStore();
    const roomrunner = createRoomrunner(configFor(emulator), {
      agents: [adder],
      store,
      logger: silentLogger(),
      retry: { minTimeoutMs: 20, maxTimeoutMs: 200 },
    });
    const address = await roomrunner.start();
    cleanups.push(() => roomrunner.close());
    await roomrunner.orchestrator.reconcile();
    emulator.webhooks.create({ url: `${address.url}/webhook`, secret: WEBHOOK_SECRET, scheme: 'meshagent', events: ['room.started', 'room.ended'] });

    const attached = registered(emulator, 'composed');
    const user = await person(emulator, 'composed');
    const registration = await attached;
    const answer = await user.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 20, b: 22 } });
    expect((answer as JsonContent).json).toEqual({ result: 42 });
    await expect.poll(async () => (await store.listDeliveries()).map((d) => [d.event, d.result])).toEqual([['room.started', 'processed']]);

    const left = emulator.roomServer.waitForEvent((e) => e.kind === 'disconnected' && e.participantId === registration.participantId);
    await roomrunner.close();
    expect(await left).toMatchObject({ code: 1000 });
    await expect(roomrunner.start()).rejects.toMatchObject({ code: 'RR_WEBHOOK_SERVER_CLOSED' });
  });

  it('takes a room handed over the websocket as a project service would be', async () => {
    const emulator = await emulatorUp();
    const roomrunner = createRoomrunner(configFor(emulator), { agents: [adder], logger: silentLogger() });
    const address = await roomrunner.start();
    cleanups.push(() => roomrunner.close());
    emulator.services.create({
      version: 'v1',
      kind: 'Service',
      metadata: { name: 'composed' },
      external: { url: address.url.replace(/^http/, 'ws') },
      ports: [{ num: '*', type: 'http', endpoints: [{ path: '/webhook', meshagent: { identity: 'roomrunner', api: { agents: {} } } }] }],
    });
    const attached = registered(emulator, 'handed');
    const user = await person(emulator, 'handed');
    await attached;
    const answer = await user.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 1, b: 2 } });
    expect((answer as JsonContent).json).toEqual({ result: 3 });
    expect(roomrunner.orchestrator.attachments.status()).toMatchObject([{ room: 'handed', state: 'attached', trigger: 'room.call' }]);
  });

  it("puts the room side's readiness checks and routes on the receiving side's app", async () => {
    const emulator = await emulatorUp();
    const roomrunner = createRoomrunner(configFor(emulator, { adminToken: 'composition-admin' }), { agents: [adder], logger: silentLogger() });
    cleanups.push(() => roomrunner.close());
    const status = await roomrunner.app.inject({ method: 'GET', url: '/status', headers: { authorization: 'Bearer composition-admin' } });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ identity: 'roomrunner', rooms: 0, maxRooms: 1000 });
    const descriptor = await roomrunner.app.inject({ method: 'GET', url: '/.well-known/meshagent-service.json' });
    expect(descriptor.json()).toMatchObject({ kind: 'Service', metadata: { name: 'roomrunner' } });
    // Not started: the lease is not held yet, and readiness says so by name.
    const ready = await roomrunner.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(JSON.stringify(ready.json())).toContain('replica lease');
  });

  it('reads only the configuration it is given, never the environment', () => {
    const before = process.env.MESHAGENT_WEBHOOK_SECRET;
    process.env.MESHAGENT_WEBHOOK_SECRET = 'from-the-environment';
    try {
      const config = loadConfig({ logLevel: 'silent' }, {});
      expect(() => createRoomrunner(config, { agents: [adder] })).toThrow(expect.objectContaining({ code: 'RR_CONFIG_NO_WEBHOOK_SECRET' }));
    } finally {
      if (before === undefined) delete process.env.MESHAGENT_WEBHOOK_SECRET;
      else process.env.MESHAGENT_WEBHOOK_SECRET = before;
    }
  });

  it('refuses a roomrunner without agents, naming the fix', () => {
    const config = loadConfig({ insecure: true, logLevel: 'silent' }, {});
    expect(() => createRoomrunner(config, { agents: [] })).toThrow(expect.objectContaining({ code: 'RR_AGENT_DEFINITION_INVALID' }));
  });
});
