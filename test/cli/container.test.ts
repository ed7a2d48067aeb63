/**
 * Container mode: `roomrunner join` without --room, as a real process, with only what the platform injects
 * into a container service's environment (no secret).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { type JsonContent, RoomClient, WebSocketClientProtocol } from '@meshagent/meshagent';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { agentDefaultApiScope, mintParticipantToken } from '../../src/auth/token.js';

const BIN = path.join(import.meta.dirname, '../../bin/roomrunner.js');
const AGENTS = path.join(import.meta.dirname, '../../agents');
const SECRET = 'container-secret';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function join(env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, 'join'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/tmp',
      ROOMRUNNER_LOG_PRETTY: '0',
      LOG_LEVEL: 'info',
      ROOMRUNNER_AGENTS: AGENTS,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return Object.assign(done, { output: () => stdout });
}

describe('roomrunner join in container mode', () => {
  it('joins from MESHAGENT_TOKEN, MESHAGENT_ROOM and MESHAGENT_ROOM_URL alone, answers a call, and exits 0 when the room ends', async () => {
    const emulator = await startEmulator({ port: 0, secret: SECRET, idleGraceMs: 60_000 });
    cleanups.push(() => emulator.close());
    const room = 'boxed';
    const userToken = mintParticipantToken({ name: 'person', room, role: 'user', secret: SECRET, api: agentDefaultApiScope() });
    const user = new RoomClient({ protocolFactory: WebSocketClientProtocol.createFactory({ url: emulator.roomUrl(room), token: userToken }) });
    user.ready.catch(() => undefined);
    await user.start();
    cleanups.push(() => user.dispose());
    const session = emulator.roomServer.listRooms().find((r) => r.name === room)?.sessionId ?? '';

    const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room && e.toolkit === 'samples.adder', {
      includePast: true,
    });

    // What the platform injects: a token minted for the service's identity, the room, the URLs. No secret.
    const token = mintParticipantToken({ name: 'roomrunner', room, role: 'agent', secret: SECRET });
    const run = join({
      MESHAGENT_TOKEN: token,
      MESHAGENT_ROOM: room,
      MESHAGENT_ROOM_URL: emulator.wsUrl,
      MESHAGENT_API_URL: emulator.url,
      MESHAGENT_SESSION_ID: session,
    });
    const registration = await registered;
    const joined = emulator.roomServer.events.find((e) => e.kind === 'connected' && e.participantId === registration.participantId);
    expect(joined).toMatchObject({ participantName: 'roomrunner', role: 'agent' });

    const result = await user.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 2, b: 3 } });
    expect((result as JsonContent).json).toEqual({ result: 5 });

    // join is in the room once every agent is registered (it logs so); a room that ends before that is a failed join.
    await expect.poll(() => run.output(), { timeout: 20_000 }).toContain('joined the room');
    emulator.roomServer.endSession(room);
    const { code, stdout, stderr } = await run;
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toContain('leaving the room');
  });

  it('names the variables that are missing and exits 1', async () => {
    const { code, stderr } = await join({ MESHAGENT_ROOM_URL: 'ws://127.0.0.1:9' });
    expect(code).toBe(1);
    expect(stderr).toContain('RR_CONFIG_CONTAINER_ENV_MISSING');
    expect(stderr).toContain('MESHAGENT_TOKEN and MESHAGENT_ROOM');
  });
});
