/**
 * `roomrunner serve` as a child process for the process-level tests: spawned through bin/roomrunner.js listening
 * on 127.0.0.1 and any free port, with a clean environment plus what the test passes (so a developer's shell
 * cannot change the test), optionally as PID 1 of its own pid namespace, with its output kept for assertions.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const BIN = path.join(import.meta.dirname, '../../bin/roomrunner.js');

/** unshare needs root (or user namespaces) and util-linux; where it cannot run, the PID 1 tests skip. */
export const CAN_UNSHARE = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;

export interface ServeProcess {
  /** The child: `node` itself, or `unshare` when started as PID 1. */
  readonly child: ChildProcess;
  /** Resolves with the served URL; rejects with stderr when the process exits first. */
  readonly serving: Promise<string>;
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** SIGKILL (the namespace's PID 1 when started as PID 1) and wait for the exit. */
  kill(): Promise<void>;
}

export interface ServeOptions {
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Run as PID 1 of a new pid namespace, as node runs in a container. */
  readonly pid1?: boolean;
}

export function startServe({ args = [], env = {}, pid1 = false }: ServeOptions = {}): ServeProcess {
  const serveArgs = [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', ...args];
  const [file, argv] = pid1 ? ['unshare', ['--pid', '--fork', '--mount-proc', process.execPath, ...serveArgs]] : [process.execPath, serveArgs];
  const child = spawn(file, argv, {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ROOMRUNNER_LOG_PRETTY: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const serving = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      for (const line of stdout.split('\n')) {
        if (line.includes('"roomrunner serving"')) resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    void exited.then((code) => reject(new Error(`serve exited ${String(code)} before serving: ${stderr}`)));
  });
  serving.catch(() => undefined);
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    serving,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    kill: async () => {
      if (!running()) return;
      // Inside its namespace PID 1 ignores even SIGKILL; from here it dies, and unshare exits with it.
      const target = pid1 ? await namespaceInit(child).catch(() => child.pid) : child.pid;
      if (target !== undefined) process.kill(target, 'SIGKILL');
      await exited;
    },
  };
}

/** The pid, in our namespace, of the process `unshare --fork` started (PID 1 inside). */
async function namespaceInit(unshare: ChildProcess): Promise<number> {
  const children = await readFile(`/proc/${String(unshare.pid)}/task/${String(unshare.pid)}/children`, 'utf8');
  const pid = Number.parseInt(children.trim().split(/\s+/)[0] ?? '', 10);
  if (!Number.isSafeInteger(pid)) throw new Error(`unshare ${String(unshare.pid)} has no child`);
  return pid;
}

/** A serve process that is serving: its URL, the child and its exit. */
export interface ServingProcess {
  /** `http://<host>:<port>` from the "roomrunner serving" log line. */
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code once the process and its pipes have closed. */
  readonly exited: Promise<number | null>;
}

/** {@link startServe}, resolved once it serves; `track` gets a clean-up that SIGKILLs it if it is still running. */
export async function startServeProcess(
  args: readonly string[],
  env: Record<string, string>,
  track: (cleanup: () => unknown) => void,
): Promise<ServingProcess> {
  const serve = startServe({ args, env });
  track(() => serve.kill());
  return { url: await serve.serving, child: serve.child, exited: serve.exited };
}
