/**
 * `roomrunner dev` as a real process: the project-service path by default, the project-webhook path with
 * --legacy-webhooks.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = path.join(import.meta.dirname, '../../bin/roomrunner.js');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function dev(extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'roomrunner-dev-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    [BIN, 'dev', '--port', '0', '--emulator-port', '0', '--exit-after-demo', '--data-dir', path.join(dir, 'db'), ...extra],
    {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ROOMRUNNER_LOG_PRETTY: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

describe('roomrunner dev', () => {
  it('shows the project service path by default: the room is handed over the websocket and the Adder answers', async () => {
    const run = await dev(['--log-level', 'warn']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('is a project service of the emulator');
    expect(run.stdout).toMatch(/handed room "demo" over the websocket ws:\/\/127\.0\.0\.1:\d+\/webhook/);
    expect(run.stdout).toContain('called samples.adder with {"a":1,"b":2} → {"result":3}');
  }, 120_000);

  it('shows the legacy project-webhook path with --legacy-webhooks', async () => {
    const run = await dev(['--legacy-webhooks', '--log-level', 'warn']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('legacy path');
    expect(run.stdout).not.toContain('over the websocket');
    expect(run.stdout).toContain('called samples.adder with {"a":1,"b":2} → {"result":3}');
  }, 120_000);
});
