/**
 * Rooms and agents on worker threads: the orchestrator (createRoomrunner) keeps the room state, the threads join
 * the rooms and answer the calls, against the emulator and the official @meshagent/meshagent client.
 */
import { fileURLToPath } from 'node:url';
import type { JsonContent } from '@meshagent/meshagent';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverAgents } from '../../src/agents/discover.js';
import { loadConfig } from '../../src/config.js';
import { startEmulator } from '../../src/emulator/index.js';
import { silentLogger } from '../../src/logger.js';
import { RoomWorkers, roomWorkerData } from '../../src/orchestrator/room-workers.js';
import { createRoomrunner } from '../../src/roomrunner.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { adderRegistered, officialPerson } from '../support/emulator-people.js';

const SECRET = 'workers-room-secret';
const WEBHOOK_SECRET = 'workers-webhook-secret';
const AGENTS_DIR = fileURLToPath(new URL('../../agents', import.meta.url));

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(count: number) {
  const emulator = await startEmulator({ port: 0, secret: SECRET, idleGraceMs: 60_000 });
  cleanups.push(() => emulator.close());
  const config = loadConfig({ secret: SECRET, apiUrl: emulator.url, webhookSecrets: [WEBHOOK_SECRET], port: 0, host: '127.0.0.1', logLevel: 'silent' }, {});
  const roomWorkers = await RoomWorkers.start({
    count,
    data: roomWorkerData(config, AGENTS_DIR),
    logger: silentLogger(),
  });
  const agents = (await discoverAgents(AGENTS_DIR)).map((a) => a.toolkit);
  const roomrunner = createRoomrunner(config, { agents, logger: silentLogger(), roomWorkers, retry: { retries: 0 } });
  const address = await roomrunner.start();
  cleanups.push(() => roomrunner.close());
  return { emulator, roomrunner, roomWorkers, address };
}

async function started(base: string, room: string): Promise<number> {
  const body = pythonDumps({ event: 'room.started', data: { room_name: room } });
  const headers = { ...signWebhook('meshagent', { body, secret: WEBHOOK_SECRET }), 'content-type': 'application/json' };
  return (await fetch(`${base}/webhook`, { method: 'POST', headers, body })).status;
}

describe('room workers', () => {
  it('join rooms on their threads, one room each, and the agents answer the official client from there', async () => {
    const { emulator, roomrunner, roomWorkers, address } = await setup(2);
    expect(roomWorkers.size).toBe(2);
    const first = adderRegistered(emulator, 'w-one');
    const second = adderRegistered(emulator, 'w-two');
    expect(await started(address.url, 'w-one')).toBe(200);
    expect(await started(address.url, 'w-two')).toBe(200);
    await Promise.all([first, second]);
    await expect
      .poll(() =>
        roomrunner.orchestrator.attachments
          .status()
          .map((s) => [s.room, s.state])
          .sort(),
      )
      .toEqual([
        ['w-one', 'attached'],
        ['w-two', 'attached'],
      ]);
    expect(roomWorkers.load).toEqual([1, 1]);
    // Each registration's join slot came back from its thread.
    await expect.poll(() => roomrunner.orchestrator.attachments.joins).toEqual({ running: 0, waiting: 0 });

    const person = await officialPerson(emulator, 'w-two', SECRET, cleanups);
    const answer = await person.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 40, b: 2 } });
    expect((answer as JsonContent).json).toEqual({ result: 42 });
    // The call ran on a worker; its metrics are counted here.
    await expect
      .poll(async () => (await roomrunner.metrics.registry.getSingleMetricAsString('roomrunner_agent_calls_total')).includes('outcome="ok"'))
      .toBe(true);
    const status = roomrunner.orchestrator.attachments.status().find((s) => s.room === 'w-two');
    expect(status?.participantId).toEqual(expect.any(String));
  });

  it('leaves a room on its thread with close 1000 when the room side detaches it', async () => {
    const { emulator, roomrunner, roomWorkers, address } = await setup(1);
    const registration = adderRegistered(emulator, 'w-leave');
    await started(address.url, 'w-leave');
    const { participantId } = await registration;
    const left = emulator.roomServer.waitForEvent((e) => e.kind === 'disconnected' && e.participantId === participantId);
    expect(await roomrunner.orchestrator.attachments.detach('w-leave', 'test detach')).toBe(true);
    expect(await left).toMatchObject({ code: 1000 });
    expect(roomWorkers.load).toEqual([0]);
  });

  it('reports a refusal from the thread with its code, and does not retry it', async () => {
    const { emulator, roomrunner } = await setup(1);
    const attachments = roomrunner.orchestrator.attachments;
    attachments.attach({ room: 'w-refused', url: emulator.roomUrl('w-refused'), trigger: 'room.call', token: 'not-a-token' });
    await attachments.settled('w-refused');
    expect(attachments.state('w-refused')).toBe('failed');
    expect(attachments.failedFinally('w-refused')).toBe(true);
    expect(attachments.lastError('w-refused')).toEqual(expect.any(String));
    await expect.poll(() => attachments.joins).toEqual({ running: 0, waiting: 0 });
  });

  it('refuses to start when a thread cannot load the agents, naming the folder', async () => {
    await expect(
      RoomWorkers.start({
        count: 1,
        data: {
          agentsDir: '/nonexistent/agents',
          credentials: { secret: SECRET },
          identity: 'roomrunner',
          tokenTtlMs: 3_600_000,
          logLevel: 'silent',
          logPretty: false,
        },
        logger: silentLogger(),
      }),
    ).rejects.toThrow(/nonexistent/);
  });
});
