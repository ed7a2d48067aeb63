/**
 * `roomrunner serve` as a child process for fault tests: spawned through bin/roomrunner.js with only the env
 * given (so a developer's shell cannot change the test), resolved once it logs "roomrunner serving".
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';

const BIN = path.join(import.meta.dirname, '../../bin/roomrunner.js');

export interface ServeProcess {
  /** `http://<host>:<port>` from the "roomrunner serving" log line. */
  readonly url: string;
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves with the exit code once the process and its pipes have closed. */
  readonly exited: Promise<number | null>;
}

/** Spawns `roomrunner serve <args>`; `track` gets a clean-up that SIGKILLs it if it is still running. */
export async function startServeProcess(args: readonly string[], env: Record<string, string>, track: (cleanup: () => unknown) => void): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ROOMRUNNER_LOG_PRETTY: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(() => child.exitCode === null && child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (line.includes('"roomrunner serving"')) resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    void exited.then((code) => reject(new Error(`serve exited ${String(code)} before serving: ${stderr}`)));
  });
  return { url, child, exited };
}
