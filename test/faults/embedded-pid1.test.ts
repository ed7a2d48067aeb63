/**
 * A killed container starts again: `roomrunner serve` on the embedded store's data directory (SQLite, the default;
 * PGlite takes the same lock) runs as PID 1 of its own pid namespace (`unshare --pid --fork --mount-proc`, as node
 * runs in a container), is SIGKILLed, and a new PID 1 on the same directory must start, while a directory that a
 * live process holds is still refused.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CAN_UNSHARE, startServe, type ServeOptions, type ServeProcess } from '../support/serve-process.js';

// A child process on a shared, loaded machine: the bound is generous, never asserted.
const START_TIMEOUT_MS = 120_000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function serve(dataDir: string, options: Pick<ServeOptions, 'pid1'>): ServeProcess {
  const server = startServe({
    ...options,
    args: ['--data-dir', dataDir],
    // No project id: reconciliation stays off, so nothing dials out.
    env: { MESHAGENT_API_URL: 'http://127.0.0.1:9', MESHAGENT_SECRET: 'pid1-secret', MESHAGENT_WEBHOOK_SECRET: 'pid1-webhook-secret' },
  });
  cleanups.push(() => server.kill());
  return server;
}

describe.skipIf(!CAN_UNSHARE)('roomrunner serve on the embedded store as PID 1', () => {
  it(
    'starts again on the same data directory after a SIGKILL, and refuses the directory while PID 1 holds it',
    async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'roomrunner-pid1-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

      const first = serve(dataDir, { pid1: true });
      await first.serving;
      // The scenario is real: the lock file names pid 1, a pid that is alive in every namespace.
      expect((await readFile(path.join(dataDir, 'roomrunner.lock'), 'utf8')).trim()).toBe('1');

      const rival = serve(dataDir, { pid1: false });
      expect(await rival.exited).not.toBe(0);
      expect(rival.stderr()).toContain('RR_STORE_LOCKED');
      expect(rival.stderr()).toContain('in use by process 1');

      await first.kill();

      const second = serve(dataDir, { pid1: true });
      const url = await second.serving;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await readFile(path.join(dataDir, 'roomrunner.lock'), 'utf8')).trim()).toBe('1');
    },
    3 * START_TIMEOUT_MS,
  );
});
