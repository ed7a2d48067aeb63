/**
 * The commands a user types, run as real processes through bin/roomrunner.js (tsx, no build step).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adder } from '../../agents/adder.js';
import { counter } from '../../agents/counter.js';
import { joinRoom, toolkitRegistration } from '../../src/agents/host.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { errorContent } from '../../src/protocol/content.js';
import { RoomConnection } from '../../src/room/connection.js';
import { RoomClient } from '../../src/room/room-client.js';
import { mintParticipantToken } from '../../src/auth/token.js';
import { WebhookServer } from '../../src/server/webhook-server.js';

const BIN = path.join(import.meta.dirname, '../../bin/roomrunner.js');
const SECRET = 'cli-secret';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion (or until `until` matches stdout, then SIGTERM it). */
function roomrunner(args: string[], env: Record<string, string> = {}, until?: RegExp): Promise<Run> & { child: ReturnType<typeof spawn> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ROOMRUNNER_LOG_PRETTY: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const done = new Promise<Run>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (until?.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return Object.assign(done, { child });
}

async function emulatorWithAdder(room: string): Promise<Emulator> {
  const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: 'p', idleGraceMs: 60_000 });
  cleanups.push(() => emulator.close());
  const joined = await joinRoom({
    url: emulator.roomUrl(room),
    room,
    toolkits: [adder],
    token: mintParticipantToken({ name: 'host', room, role: 'agent', secret: SECRET }),
  });
  cleanups.push(() => joined.leave());
  return emulator;
}

describe('roomrunner commands', () => {
  it('prints usage and exits 2 for an unknown command', async () => {
    const run = await roomrunner(['nope']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown command "nope"');
  });

  it('lists the agents with their JSON Schemas', async () => {
    const run = await roomrunner(['agents', '--json']);
    expect(run.code).toBe(0);
    const listed = JSON.parse(run.stdout) as { agents: Array<{ name: string; tools: { ask: { input: { required: string[] } } } }> };
    expect(listed.agents.map((a) => a.name)).toEqual(['samples.adder', 'samples.counter', 'samples.summer', 'samples.tally']);
    expect(listed.agents[0]?.tools.ask.input.required).toEqual(['a', 'b']);
    // What is printed is what is registered, byte for byte.
    expect((listed.agents[0] as unknown as { registration: unknown }).registration).toEqual(JSON.parse(JSON.stringify(toolkitRegistration(adder))));
  });

  it('calls an agent in a room and prints the answer', async () => {
    const emulator = await emulatorWithAdder('cli-room');
    const run = await roomrunner(['call', '--room', 'cli-room', '--agent', 'samples.adder', '--args', '{"a":20,"b":22}', '--api-url', emulator.url], {
      MESHAGENT_SECRET: SECRET,
    });
    expect(run.stderr).toBe('');
    expect([run.code, run.stdout.trim()]).toEqual([0, '{"result":42}']);
  });

  it('prints the room error code when a call is refused, and exits 1', async () => {
    const emulator = await emulatorWithAdder('cli-bad');
    const run = await roomrunner(['call', '--room', 'cli-bad', '--agent', 'samples.adder', '--args', '{"a":"x","b":1}', '--api-url', emulator.url], {
      MESHAGENT_SECRET: SECRET,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error 1002: Invalid arguments for agent samples.adder: a: /);
  });

  it('prints each chunk of a streamed answer on its own line, the final value last', async () => {
    const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: 'p', idleGraceMs: 60_000 });
    cleanups.push(() => emulator.close());
    const joined = await joinRoom({
      url: emulator.roomUrl('cli-stream'),
      room: 'cli-stream',
      toolkits: [counter],
      token: mintParticipantToken({ name: 'host', room: 'cli-stream', role: 'agent', secret: SECRET }),
    });
    cleanups.push(() => joined.leave());
    const run = await roomrunner(['call', '--room', 'cli-stream', '--agent', 'samples.counter', '--args', '{"to":3}', '--api-url', emulator.url], {
      MESHAGENT_SECRET: SECRET,
    });
    expect(run.stderr).toBe('');
    expect([run.code, run.stdout]).toEqual([0, '{"n":1}\n{"n":2}\n{"n":3}\n{"total":6}\n']);
  });

  it('keeps an error without a code codeless, as a Python host sends it', async () => {
    const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: 'p', idleGraceMs: 60_000 });
    cleanups.push(() => emulator.close());
    const connection = new RoomConnection({
      url: emulator.roomUrl('cli-py'),
      token: mintParticipantToken({ name: 'py', room: 'cli-py', role: 'agent', secret: SECRET }),
      reconnect: false,
    });
    cleanups.push(() => connection.close());
    await connection.start();
    const host = new RoomClient(connection);
    host.serveToolkit('py.tools', () => errorContent('ValueError: no such city'));
    await host.registerToolkit({ name: 'py.tools', public: true, tools: { weather: { input_spec: { types: ['json'], stream: false } } } });
    const run = await roomrunner(['call', '--room', 'cli-py', '--agent', 'py.tools', '--tool', 'weather', '--api-url', emulator.url], {
      MESHAGENT_SECRET: SECRET,
    });
    expect([run.code, run.stderr]).toEqual([1, 'error: ValueError: no such city\n']);
  });

  it('refuses --args that are not a JSON object, naming the flag', async () => {
    const run = await roomrunner(['call', '--room', 'r', '--agent', 'a', '--args', '[1]'], { MESHAGENT_SECRET: SECRET });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--args must be a JSON object');
  });

  it('sends a signed room.started that a WebhookServer accepts', async () => {
    const seen: string[] = [];
    const server = new WebhookServer({
      port: 0,
      host: '127.0.0.1',
      secrets: ['wh-secret'],
      logger: (await import('../../src/logger.js')).silentLogger(),
      defaultMetrics: false,
      onRoomStarted: (e) => void seen.push(e.roomName),
    });
    const address = await server.start();
    cleanups.push(() => server.close());
    const run = await roomrunner(['send-event', 'room.started', '--room', 'sent', '--url', `${address.url}/webhook`], {
      MESHAGENT_WEBHOOK_SECRET: 'wh-secret',
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^200 /);
    await server.idle();
    expect(seen).toEqual(['sent']);
    const wrong = await roomrunner(['send-event', 'room.started', '--room', 'sent', '--url', `${address.url}/webhook`], { MESHAGENT_WEBHOOK_SECRET: 'wrong' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^401 .*RR_WEBHOOK_SIGNATURE_MISMATCH/);
  });

  it('refuses to serve without a webhook secret, naming the variable and the flag', async () => {
    const run = await roomrunner(['serve', '--port', '0', '--data-dir', 'memory://'], { MESHAGENT_SECRET: SECRET });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('MESHAGENT_WEBHOOK_SECRET');
    expect(run.stderr).toContain('--insecure');
  });

  it('runs the dev demo: a room started, the agents attached and a call answered', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'roomrunner-dev-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const run = await roomrunner(['dev', '--port', '0', '--emulator-port', '0', '--exit-after-demo', '--data-dir', path.join(dir, 'db')]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('agents attached in room "demo"');
    expect(run.stdout).toContain('called samples.adder with {"a":1,"b":2} → {"result":3}');
    expect(run.stdout).toMatch(/npx roomrunner call --api-url http:\/\/127\.0\.0\.1:\d+ --room demo --agent samples\.adder/);
  }, 60_000);
});
