/**
 * A killed container starts again: `roomrunner serve` on a PGlite data directory runs as PID 1 of its own pid
 * namespace (`unshare --pid --fork --mount-proc`, as node runs in a container), is SIGKILLed, and a new PID 1 on
 * the same directory must start, while a directory that a live process holds is still refused.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = path.join(import.meta.dirname, '../../bin/roomrunner.js');
const START_TIMEOUT_MS = 60_000;
/** unshare needs root (or user namespaces) and util-linux; where it cannot run, neither can this test. */
const CAN_UNSHARE = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Serve {
  readonly child: ChildProcess;
  /** Resolves with the served URL, rejects with stderr when the process exits first. */
  readonly serving: Promise<string>;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

function serve(dataDir: string, { pid1 }: { pid1: boolean }): Serve {
  const args = [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir];
  const [file, argv] = pid1 ? ['unshare', ['--pid', '--fork', '--mount-proc', process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(file, argv, {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/tmp',
      // No project id: reconciliation stays off, so nothing dials out.
      MESHAGENT_API_URL: 'http://127.0.0.1:9',
      MESHAGENT_SECRET: 'pid1-secret',
      MESHAGENT_WEBHOOK_SECRET: 'pid1-webhook-secret',
      ROOMRUNNER_LOG_PRETTY: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const serving = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (line.includes('"roomrunner serving"')) resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    void exited.then((code) => reject(new Error(`serve exited ${String(code)} before serving: ${stderr}`)));
  });
  serving.catch(() => undefined);
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      killNamespace(child);
      await exited;
    }
  });
  return { child, serving, exited, stderr: () => stderr };
}

/** The pid, in our namespace, of the process `unshare --fork` started (PID 1 inside). */
async function namespaceInit(unshare: ChildProcess): Promise<number> {
  const children = await readFile(`/proc/${String(unshare.pid)}/task/${String(unshare.pid)}/children`, 'utf8');
  const pid = Number.parseInt(children.trim().split(/\s+/)[0] ?? '', 10);
  if (!Number.isSafeInteger(pid)) throw new Error(`unshare ${String(unshare.pid)} has no child`);
  return pid;
}

/** SIGKILL the namespace's PID 1 from outside (inside, PID 1 ignores even SIGKILL); unshare then exits. */
function killNamespace(unshare: ChildProcess): void {
  void namespaceInit(unshare)
    .then((pid) => process.kill(pid, 'SIGKILL'))
    .catch(() => unshare.kill('SIGKILL'));
}

describe.skipIf(!CAN_UNSHARE)('roomrunner serve on PGlite as PID 1', () => {
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

      const init = await namespaceInit(first.child);
      process.kill(init, 'SIGKILL');
      await first.exited;

      const second = serve(dataDir, { pid1: true });
      const url = await second.serving;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await readFile(path.join(dataDir, 'roomrunner.lock'), 'utf8')).trim()).toBe('1');
    },
    3 * START_TIMEOUT_MS,
  );
});
