/**
 * `roomrunner serve` as a deployed process: configuration from env and flags, agents from agents/, the embedded
 * store, a real emulator sending signed webhooks, and a drain on SIGTERM.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { startServeProcess } from '../support/serve-process.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('roomrunner serve', () => {
  it('attaches the agents when the platform starts a room, and unregisters them on SIGTERM', async () => {
    const emulator = await startEmulator({ port: 0, secret: 'serve-secret', projectId: 'serve-project', idleGraceMs: 60_000 });
    cleanups.push(() => emulator.close());
    const { url, child, exited } = await startServeProcess(
      ['--data-dir', 'memory://', '--max-rooms', '10'],
      {
        MESHAGENT_API_URL: emulator.url,
        MESHAGENT_SECRET: 'serve-secret',
        MESHAGENT_PROJECT_ID: 'serve-project',
        MESHAGENT_WEBHOOK_SECRET: 'serve-webhook-secret',
      },
      (cleanup) => cleanups.push(cleanup),
    );

    emulator.webhooks.create({ url: `${url}/webhook`, secret: 'serve-webhook-secret', scheme: 'meshagent', events: ['room.started', 'room.ended'] });
    const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === 'served' && e.toolkit === 'samples.adder', {
      includePast: true,
    });
    emulator.roomServer.startSession('served');
    const { participantId } = await registered;
    const status = (await (await fetch(`${url}/status`)).json()) as { replica: { replicaId: string }; rooms: number };
    expect(status).toMatchObject({ replica: { replicaId: expect.any(String) }, rooms: 1 });

    const unregistered = emulator.roomServer.waitForEvent(
      (e) => e.kind === 'toolkit.unregistered' && e.participantId === participantId && e.toolkit === 'samples.adder',
    );
    child.kill('SIGTERM');
    await unregistered;
    expect(await exited).toBe(0);
  }, 60_000);

  it('runs the rooms on worker threads with --room-workers, and still drains them on SIGTERM', async () => {
    const emulator = await startEmulator({ port: 0, secret: 'serve-secret', idleGraceMs: 60_000 });
    cleanups.push(() => emulator.close());
    const { url, child, exited } = await startServeProcess(
      ['--data-dir', 'memory://', '--room-workers', '2'],
      { MESHAGENT_API_URL: emulator.url, MESHAGENT_SECRET: 'serve-secret', MESHAGENT_WEBHOOK_SECRET: 'serve-webhook-secret' },
      (cleanup) => cleanups.push(cleanup),
    );
    emulator.webhooks.create({ url: `${url}/webhook`, secret: 'serve-webhook-secret', scheme: 'meshagent', events: ['room.started', 'room.ended'] });
    const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === 'threaded' && e.toolkit === 'samples.adder', {
      includePast: true,
    });
    emulator.roomServer.startSession('threaded');
    const { participantId } = await registered;
    const unregistered = emulator.roomServer.waitForEvent(
      (e) => e.kind === 'toolkit.unregistered' && e.participantId === participantId && e.toolkit === 'samples.adder',
    );
    child.kill('SIGTERM');
    await unregistered;
    expect(await exited).toBe(0);
  }, 60_000);
});
