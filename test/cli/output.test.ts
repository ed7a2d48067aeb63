/**
 * How commands behave at the edges of a terminal: a reader that stops early, a webhook URL nobody listens on.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../faults/support.js';

const BIN = path.join(import.meta.dirname, '../../bin/roomrunner.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI; with `closeStdout` the read end of its stdout is closed at once, as `| head -1` does. */
function roomrunner(args: string[], options: { closeStdout?: boolean } = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ROOMRUNNER_LOG_PRETTY: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  if (options.closeStdout) child.stdout.destroy();
  else child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('roomrunner output', () => {
  it('exits quietly when the reader of `roomrunner agents` goes away (| head -1)', async () => {
    const run = await roomrunner(['agents'], { closeStdout: true });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  }, 60_000);

  it('names the URL and the cause when send-event cannot connect', async () => {
    const url = `http://127.0.0.1:${await freePort()}/webhook`;
    const run = await roomrunner(['send-event', 'room.started', '--room', 'r', '--url', url]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(`roomrunner send-event: POST ${url} failed: connect ECONNREFUSED ${url.slice('http://'.length, url.indexOf('/webhook'))}`);
  }, 60_000);
});
