/**
 * Processes under test run in children so that the driver (load generator, clock, bookkeeping) does not share
 * their event loop, and so that their memory and CPU profiles are their own. A tiny RPC over the IPC channel:
 * the parent sends `{id, cmd, args}`, the child answers `{id, ok, result | error}`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const PROFILE_DIR = join(BENCH_DIR, 'profiles');

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

export interface ChildOptions {
  /** A label for errors and the profile directory. */
  readonly name: string;
  /** Extra node flags (`--max-old-space-size=…`, `--expose-gc`). */
  readonly nodeArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Write a CPU profile to bench/profiles/<name>/ at exit. */
  readonly profile?: boolean;
  /** Where the child's stdout goes: discarded by default (its pino logs are written, then dropped, as in production). */
  readonly stdout?: 'ignore' | 'inherit';
  /** How long to wait for the child to say it is ready. */
  readonly readyTimeoutMs?: number;
  /** Run this JavaScript file with plain node instead of `bench/lib/<file>` under tsx (experiments with prebuilt code). */
  readonly entry?: string;
}

export interface Child {
  readonly pid: number;
  readonly name: string;
  readonly process: ChildProcess;
  call<T = unknown>(cmd: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to clean up and exit; kills it (by its pid) if it has not exited within `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>;
  /** Resolves when the child has exited. */
  readonly exited: Promise<number | null>;
}

/** Starts `bench/lib/<file>` under tsx with an IPC channel and waits for its `ready`. */
export async function startChild(file: string, options: ChildOptions): Promise<Child> {
  const nodeArgs = [...(options.nodeArgs ?? [])];
  if (options.profile === true) {
    const dir = join(PROFILE_DIR, options.name);
    mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const args = options.entry === undefined ? [...nodeArgs, '--import', 'tsx', join(BENCH_DIR, 'lib', file)] : [...nodeArgs, options.entry];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', options.stdout ?? 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, ...options.env },
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then((code) => {
    for (const [, waiter] of pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`${options.name}: child exited (code ${String(code)}) before answering`));
    }
    pending.clear();
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${options.name}: not ready within ${options.readyTimeoutMs ?? 30_000} ms`)),
      options.readyTimeoutMs ?? 30_000,
    );
    const onMessage = (message: unknown): void => {
      if ((message as { type?: string }).type === 'ready') {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name}: exited with code ${String(code)} while starting`));
    });
  });

  child.on('message', (message: unknown) => {
    const reply = message as Reply;
    if (typeof reply.id !== 'number') return;
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    clearTimeout(waiter.timer);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new Error(`${options.name}: ${reply.error ?? 'failed'}`));
  });

  const call = <T>(cmd: string, args?: unknown, timeoutMs = 120_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${options.name}: ${cmd} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      child.send({ id, cmd, args });
    });

  let closing: Promise<void> | undefined;
  const close = (timeoutMs = 15_000): Promise<void> =>
    (closing ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await call('exit', undefined, timeoutMs).catch(() => undefined);
      const timer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      }, timeoutMs);
      await exited;
      clearTimeout(timer);
    })());

  return { pid: child.pid ?? -1, name: options.name, process: child, call, close, exited };
}
