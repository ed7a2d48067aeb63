/**
 * `roomrunner serve` as a deployed process: configuration from env and flags, agents from agents/, the embedded
 * store, a real emulator sending signed webhooks, and a drain on SIGTERM.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { startServeProcess } from '../support/serve-process.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `roomrunner serve` with `args` on a fresh emulator that POSTs it signed room webhooks. */
async function serving(args: readonly string[], env: Record<string, string> = {}) {
  const emulator = await startEmulator({ port: 0, secret: 'serve-secret', projectId: 'serve-project', idleGraceMs: 60_000 });
  cleanups.push(() => emulator.close());
  const serve = await startServeProcess(
    ['--data-dir', 'memory://', ...args],
    { MESHAGENT_API_URL: emulator.url, MESHAGENT_SECRET: 'serve-secret', MESHAGENT_WEBHOOK_SECRET: 'serve-webhook-secret', ...env },
    (cleanup) => cleanups.push(cleanup),
  );
  emulator.webhooks.create({ url: `${serve.url}/webhook`, secret: 'serve-webhook-secret', scheme: 'meshagent', events: ['room.started', 'room.ended'] });
  return { emulator, ...serve };
}

/** Starts a session of `room` and resolves with the Adder's participant once it is registered there. */
async function adderJoins(emulator: Emulator, room: string): Promise<string | undefined> {
  const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room && e.toolkit === 'samples.adder', {
    includePast: true,
  });
  emulator.roomServer.startSession(room);
  return (await registered).participantId;
}

/** SIGTERM, then: the Adder is unregistered (the drain) and the process exits 0. */
async function drainsOnSigterm(emulator: Emulator, child: ChildProcess, exited: Promise<number | null>, participantId: string | undefined): Promise<void> {
  const unregistered = emulator.roomServer.waitForEvent(
    (e) => e.kind === 'toolkit.unregistered' && e.participantId === participantId && e.toolkit === 'samples.adder',
  );
  child.kill('SIGTERM');
  await unregistered;
  expect(await exited).toBe(0);
}

describe('roomrunner serve', () => {
  it('attaches the agents when the platform starts a room, and unregisters them on SIGTERM', async () => {
    const { emulator, url, child, exited } = await serving(['--max-rooms', '10'], { MESHAGENT_PROJECT_ID: 'serve-project' });
    const participantId = await adderJoins(emulator, 'served');
    const status = (await (await fetch(`${url}/status`)).json()) as { replica: { replicaId: string }; rooms: number };
    expect(status).toMatchObject({ replica: { replicaId: expect.any(String) }, rooms: 1 });
    await drainsOnSigterm(emulator, child, exited, participantId);
  }, 60_000);

  it('runs the rooms on worker threads with --room-workers, and still drains them on SIGTERM', async () => {
    const { emulator, child, exited } = await serving(['--room-workers', '2']);
    const participantId = await adderJoins(emulator, 'threaded');
    await drainsOnSigterm(emulator, child, exited, participantId);
  }, 60_000);
});
