/**
 * How commands behave at the edges: a reader that stops early, a URL nobody listens on or that speaks no TLS, a
 * receiver that refuses the signature. Each message names what to check.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
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
    expect(run.stderr.trim()).toBe(
      `roomrunner send-event: POST ${url} failed: connect ECONNREFUSED ${url.slice('http://'.length, url.indexOf('/webhook'))} (${REFUSED}; the URL comes from --url)`,
    );
  }, 60_000);

  it('names the room URL, the cause and the setting when call cannot connect', async () => {
    const port = await freePort();
    const run = await roomrunner(['call', '--room', 'r', '--agent', 'samples.adder', '--api-url', `http://127.0.0.1:${port}`, '--secret', 's']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      `error RR_ROOM_NOT_READY: websocket connect to ws://127.0.0.1:${port}/rooms/r failed: connect ECONNREFUSED 127.0.0.1:${port} (${REFUSED}; the URL comes from --api-url / MESHAGENT_API_URL)`,
    );
  }, 60_000);

  it('ends join --room at the first failed connect, naming the URL, the cause and the setting', async () => {
    const port = await freePort();
    const run = await roomrunner(['join', '--room', 'r', '--api-url', `http://127.0.0.1:${port}`, '--secret', 's', '--log-level', 'silent']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      `roomrunner join: websocket connect to ws://127.0.0.1:${port}/rooms/r failed: connect ECONNREFUSED 127.0.0.1:${port} (${REFUSED}; the URL comes from --api-url / MESHAGENT_API_URL) [RR_ROOM_NOT_READY]`,
    );
  }, 60_000);

  it('says TLS when call dials wss:// to a plain HTTP server', async () => {
    const server = http.createServer((_request, response) => response.end('plain'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const run = await roomrunner(['call', '--room', 'r', '--agent', 'samples.adder', '--api-url', `https://127.0.0.1:${port}`, '--secret', 's']);
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toMatch(
        new RegExp(
          `^error RR_ROOM_NOT_READY: websocket connect to wss://127\\.0\\.0\\.1:${port}/rooms/r failed: \\w+: TLS [a-z ]+ \\(TLS: the server does not speak TLS there, use http:// \\(ws://\\) for a plain server, or its TLS port; the URL comes from --api-url / MESHAGENT_API_URL\\)$`,
        ),
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 60_000);

  it('says which secret to check when the receiver refuses the signature of send-event', async () => {
    const server = new WebhookServer({ port: 0, host: '127.0.0.1', secrets: ['right'], logger: silentLogger(), defaultMetrics: false });
    const { url } = await server.start();
    try {
      const wrong = await roomrunner(['send-event', 'room.started', '--room', 'r', '--url', `${url}/webhook`, '--secret', 'wrong']);
      expect([wrong.code, wrong.stdout]).toEqual([1, expect.stringMatching(/^401 .*RR_WEBHOOK_SIGNATURE_MISMATCH/)]);
      expect(wrong.stderr).toContain(
        'sign with the secret it checks (its MESHAGENT_WEBHOOK_SECRET or --webhook-secret) through --secret or MESHAGENT_WEBHOOK_SECRET here',
      );
      const unsigned = await roomrunner(['send-event', 'room.started', '--room', 'r', '--url', `${url}/webhook`]);
      expect(unsigned.stderr).toContain('sent unsigned and refused: pass --secret (or set MESHAGENT_WEBHOOK_SECRET)');
    } finally {
      await server.close();
    }
  }, 60_000);
});

const REFUSED = 'nothing is listening there: start the server, or check the host and port';
