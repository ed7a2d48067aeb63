/**
 * The single-process default (the embedded store in a directory: SQLite) across a restart: what was recorded before is still
 * there after close + reopen (deliveries, tombstones with their session ids), so a late room.started after
 * the restart is still ignored, a redelivered webhook is still a duplicate, and a room that was attached
 * before is attached again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { defaultReplicaId } from '../../src/store/coordinated-store.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { openStore } from '../../src/store/open-store.js';
import type { OpenedStore } from '../../src/store/open-store.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { RegistrationTracker } from '../replicas/registrations.js';

const SECRET = 'pglite-room-secret';
const PROJECT = 'pglite-project';
const WEBHOOK_SECRET = 'pglite-webhook-secret';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function roomrunner(emulator: Emulator, store: OpenedStore) {
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
  // No tombstone window: only the session ids kept on the tombstones can tell a late start.
  // A body digest is a duplicate for 60 s by default; a slow machine must not turn the redelivery below into a new one.
  const server = new RemoteTaskRunnerServer({
    agents: [adder],
    config,
    store,
    reconcileIntervalMs: 0,
    defaultMetrics: false,
    leaseMs: 2_000,
    tombstoneWindowMs: 0,
    dedupeWindowMs: 600_000,
  });
  const address = await server.start();
  return { server, address };
}

function signed(event: string, data: Record<string, unknown>): { body: string; headers: Record<string, string> } {
  const body = pythonDumps({ event, data });
  return { body, headers: { ...signWebhook('meshagent', { body, secret: WEBHOOK_SECRET }), 'content-type': 'application/json' } };
}

async function post(base: string, request: { body: string; headers: Record<string, string> }): Promise<unknown> {
  const response = await fetch(`${base}/webhook`, { method: 'POST', headers: request.headers, body: request.body });
  expect(response.status).toBe(200);
  return response.json();
}

describe('the embedded store across a restart', () => {
  it('keeps deliveries and tombstones: late starts stay ignored, redeliveries stay duplicates, live rooms come back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roomrunner-embedded-restart-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT, idleGraceMs: 600_000 });
    cleanups.push(() => emulator.close());
    const tracker = new RegistrationTracker(emulator.roomServer, 'samples.adder');
    cleanups.push(() => tracker.close());

    // Before the restart: one room lives on, one starts and ends, one ends before its start ever arrives.
    const first = await openStore({ dataDir: dir });
    const before = await roomrunner(emulator, first);
    const kept = emulator.roomServer.startSession('kept');
    const endedSession = emulator.roomServer.startSession('ended').sessionId;
    const keptStart = signed('room.started', { room_name: 'kept', session_id: kept.sessionId });
    await post(before.address.url, keptStart);
    await post(before.address.url, signed('room.started', { room_name: 'ended', session_id: endedSession }));
    await tracker.until(() => tracker.live('kept').length === 1 && tracker.live('ended').length === 1);
    await post(before.address.url, signed('room.ended', { room_name: 'ended', session_id: endedSession }));
    await post(before.address.url, signed('room.ended', { room_name: 'early', session_id: 'early-session' }));
    await tracker.until(() => tracker.live('ended').length === 0);
    await before.server.idle();
    const keptBy = tracker.live('kept')[0]?.participantId;
    await before.server.close();
    await first.close();
    await tracker.until(() => tracker.live('kept').length === 0);

    // After the restart, on the same directory.
    const second = await openStore({ dataDir: dir });
    cleanups.push(() => second.close());
    const after = await roomrunner(emulator, second);
    cleanups.push(() => after.server.close());
    expect((await second.listDeliveries()).map((d) => [d.event, d.room, d.result]).sort()).toEqual([
      ['room.ended', 'early', 'processed'],
      ['room.ended', 'ended', 'processed'],
      ['room.started', 'ended', 'processed'],
      ['room.started', 'kept', 'processed'],
    ]);
    expect(await second.getRoom('ended')).toMatchObject({ status: 'ended' });
    expect(await second.roomState('early')).toMatchObject({ status: 'ended', sessionId: 'early-session' });

    // The same delivery again is a duplicate; late starts of ended sessions are ignored (no session memory survived, the tombstones did).
    expect(await post(after.address.url, keptStart)).toEqual({ ok: true, duplicate: true });
    await post(after.address.url, signed('room.started', { room_name: 'ended', session_id: endedSession, late: true }));
    await post(after.address.url, signed('room.started', { room_name: 'early', session_id: 'early-session' }));
    await after.server.idle();
    expect(await second.getRoom('ended')).toMatchObject({ status: 'ended' });
    expect(await second.getRoom('early')).toMatchObject({ status: 'ended' });

    // The room that was live before the restart is attached again, by the new process.
    await tracker.until(() => tracker.live('kept').length === 1);
    expect(tracker.live('kept')[0]?.participantId).not.toBe(keptBy);
    await expect.poll(() => second.roomState('kept'), { timeout: 10_000 }).toMatchObject({ status: 'attached' });
    expect(tracker.live('ended')).toEqual([]);
    expect(tracker.live('early')).toEqual([]);
    expect(tracker.violations).toEqual([]);
  }, 120_000); // two PGlite opens: slow on a loaded machine

  it('runs at start-up the hooks of deliveries answered 200 by a process killed before running them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roomrunner-pglite-crash-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT, idleGraceMs: 600_000 });
    cleanups.push(() => emulator.close());
    const tracker = new RegistrationTracker(emulator.roomServer, 'samples.adder');
    cleanups.push(() => tracker.close());

    // What a SIGKILL right after the 200s leaves: recorded, acknowledged, never dispatched (no room row either).
    const crashed = await openStore({ dataDir: dir });
    const rooms = ['lost-1', 'lost-2', 'lost-3'];
    for (const [i, room] of rooms.entries()) {
      const { body } = signed('room.started', { room_name: room });
      await crashed.recordDelivery(
        {
          key: `sha256:lost-${i}`,
          event: 'room.started',
          room,
          scheme: 'meshagent',
          body,
          receivedAt: new Date(Date.now() - 1_000 + i),
          replica: defaultReplicaId(crashed.engine),
        },
        60_000,
      );
    }
    await crashed.close();

    const store = await openStore({ dataDir: dir });
    cleanups.push(() => store.close());
    const { server } = await roomrunner(emulator, store);
    cleanups.push(() => server.close());
    await tracker.until(() => rooms.every((room) => tracker.live(room).length === 1));
    await expect.poll(async () => (await store.listDeliveries()).map((d) => d.result), { timeout: 10_000 }).toEqual(['processed', 'processed', 'processed']);
    expect(tracker.violations).toEqual([]);
  }, 120_000);
});
