import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { LOCK_FILE_NAME, lockDirectory, type DirectoryLock } from '../../src/store/directory-lock.js';

const HOLDER = join(import.meta.dirname, 'fixtures/hold-lock.ts');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'roomrunner-lock-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function locked(dir: string): DirectoryLock {
  const lock = lockDirectory(dir);
  cleanups.push(() => lock.release());
  return lock;
}

function refusal(dir: string): unknown {
  try {
    locked(dir);
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Starts a process holding the lock on `dir`; resolves once it holds it. */
async function holder(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('close', (code) => reject(new Error(`the lock holder exited ${String(code)}: ${stderr}`)));
  });
  return child;
}

describe('lockDirectory', () => {
  it('refuses a second lock on a directory this process holds, naming its pid', async () => {
    const dir = await tempDir();
    locked(dir);
    const err = refusal(dir);
    expect(isRoomrunnerError(err, 'RR_STORE_LOCKED')).toBe(true);
    expect((err as { data: Record<string, unknown> }).data).toEqual({ dataDir: dir, pid: process.pid });
  });

  it('locks again once released, and a second release does nothing', async () => {
    const dir = await tempDir();
    const first = lockDirectory(dir);
    first.release();
    first.release();
    expect(locked(dir).path).toBe(join(dir, LOCK_FILE_NAME));
  });

  it('creates the directory and records its pid in the lock file', async () => {
    const dir = join(await tempDir(), 'nested', 'data');
    locked(dir);
    expect(await readFile(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('takes a lock file that names a live pid but is held by nobody (a killed PID 1 leaves exactly this)', async () => {
    const dir = await tempDir();
    // Pid 1 is always alive, and in a container it is the new process itself: "is that pid alive" says yes
    // forever. Only the kernel lock counts.
    await writeFile(join(dir, LOCK_FILE_NAME), '1\n');
    locked(dir);
    expect(await readFile(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('refuses a directory another live process holds, and takes it the moment that process is SIGKILLed', async () => {
    const dir = await tempDir();
    const child = await holder(dir);
    const err = refusal(dir);
    expect(isRoomrunnerError(err, 'RR_STORE_LOCKED')).toBe(true);
    expect((err as { data: Record<string, unknown> }).data['pid']).toBe(child.pid);
    expect((err as Error).message).toContain(`process ${String(child.pid)}`);

    const gone = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGKILL');
    await gone;
    locked(dir);
  }, 30_000);
});
