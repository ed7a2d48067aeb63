/**
 * `roomrunner token`, run as a process: what it mints, what it refuses, and that the emulator accepts it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { silentLogger } from '../../src/logger.js';
import { RoomConnection } from '../../src/room/connection.js';
import { decodeJwt } from '../../src/auth/jwt.js';
import { parseApiKey, userDefaultApiScope, verifyParticipantToken } from '../../src/auth/token.js';
import { runCli } from '../support/run-cli.js';

const SECRET = 'token-cli-secret';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emulator(): Promise<Emulator> {
  const started = await startEmulator({ port: 0, secret: SECRET, projectId: 'dev', idleGraceMs: 60_000 });
  cleanups.push(() => started.close());
  return started;
}

async function mint(args: string[], env: Record<string, string> = {}): Promise<string> {
  const run = await runCli(['token', ...args], { env });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.stdout.trim();
}

describe('roomrunner token', () => {
  it('mints a participant token with the room, name, role, api preset and expiry asked for', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await mint(['--room', 'demo', '--name', 'ada', '--role', 'agent', '--api', 'host', '--expires-in', '600', '--secret', SECRET]);
    const claims = verifyParticipantToken(token, { secret: SECRET, room: 'demo' });
    expect([claims.name, claims.role, claims.api]).toEqual(['ada', 'agent', { agents: {}, messaging: {} }]);
    expect(claims.expiresAt).toBeGreaterThanOrEqual(before + 600);
    expect(claims.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
  });

  it('gives a user the user-default api grant and no expiry by default, reading MESHAGENT_SECRET', async () => {
    const token = await mint(['--room', 'demo'], { MESHAGENT_SECRET: SECRET });
    const claims = verifyParticipantToken(token, { secret: SECRET });
    expect([claims.name, claims.role, claims.expiresAt]).toEqual(['roomrunner-cli', 'user', undefined]);
    expect(claims.api).toEqual(userDefaultApiScope());
  });

  it('mints an ma- API key whose secret is the given secret', async () => {
    const key = await mint(['api-key', '--secret', SECRET, '--project-id', '5b0e6c1e-4bd4-4a52-9d8c-0d6b3f1f2a77']);
    expect(parseApiKey(key)).toMatchObject({ secret: SECRET, projectId: '5b0e6c1e-4bd4-4a52-9d8c-0d6b3f1f2a77' });
  });

  it('signs with an API key, writing its ids as kid and sub', async () => {
    const key = await mint(['api-key', '--secret', SECRET]);
    const token = await mint(['--room', 'demo', '--api-key', key]);
    const { keyId, projectId } = parseApiKey(key);
    expect(decodeJwt(token).claims).toMatchObject({ kid: keyId, sub: projectId });
    expect(verifyParticipantToken(token, { secret: SECRET }).room).toBe('demo');
  });

  it('prints the expected format when the given API key is malformed, without echoing it', async () => {
    const run = await runCli(['token', '--room', 'demo', '--api-key', 'ma-not-a-key-hunter2']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('expected ma-<key id>-<project id>-<secret>');
    expect(run.stderr).toContain('[RR_TOKEN_MALFORMED]');
    expect(run.stderr).not.toContain('hunter2');
  });

  it('refuses a role that is not user, agent or tool, naming the flag', async () => {
    const run = await runCli(['token', '--room', 'r', '--role', 'admin', '--secret', SECRET]);
    expect([run.code, run.stderr]).toEqual([2, expect.stringContaining('--role must be one of user, agent, tool, got "admin"')]);
  });

  it('refuses an expiry that is not a whole number of seconds, naming the flag', async () => {
    const run = await runCli(['token', '--room', 'r', '--expires-in', '1h', '--secret', SECRET]);
    expect([run.code, run.stderr]).toEqual([2, expect.stringContaining('--expires-in must be an integer from 1 to')]);
  });

  it('refuses a participant token without --room', async () => {
    const run = await runCli(['token', '--secret', SECRET]);
    expect([run.code, run.stderr]).toEqual([2, expect.stringContaining('--room <name> is required')]);
  });

  it('says which settings to set when there is no secret for a token', async () => {
    const run = await runCli(['token', '--room', 'r']);
    expect([run.code, run.stderr]).toEqual([1, expect.stringMatching(/MESHAGENT_API_KEY or MESHAGENT_SECRET.*\[RR_TOKEN_NO_SECRET\]/)]);
  });

  it('says to pass --secret when there is no secret for an API key', async () => {
    const run = await runCli(['token', 'api-key']);
    expect([run.code, run.stderr]).toEqual([1, expect.stringContaining('pass --secret')]);
  });

  it('refuses an API key project id that is not a UUID', async () => {
    const run = await runCli(['token', 'api-key', '--secret', SECRET, '--project-id', 'dev']);
    expect([run.code, run.stderr]).toEqual([2, expect.stringContaining('--project-id (or MESHAGENT_PROJECT_ID) must be a UUID')]);
  });
});

describe('roomrunner token against the emulator', () => {
  it('mints an API key the emulator REST and control routes accept as a bearer token, and a wrong one they refuse', async () => {
    const platform = await emulator();
    const key = await mint(['api-key', '--secret', SECRET]);
    const rooms = await fetch(`${platform.url}/accounts/projects/dev/rooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'by-hand' }),
    });
    expect(rooms.status).toBe(200);
    const control = await fetch(`${platform.url}/_emulator/rooms`, { headers: { authorization: `Bearer ${key}` } });
    expect(control.status).toBe(200);
    expect(JSON.stringify(await control.json())).toContain('by-hand');
    const wrong = await mint(['api-key', '--secret', 'not-the-emulator-secret']);
    const refused = await fetch(`${platform.url}/_emulator/rooms`, { headers: { authorization: `Bearer ${wrong}` } });
    expect(refused.status).toBe(401);
  });

  it('mints a participant token the emulator lets into the room', async () => {
    const platform = await emulator();
    const token = await mint(['--room', 'by-hand', '--name', 'ada', '--secret', SECRET]);
    const connection = new RoomConnection({ url: platform.roomUrl('by-hand'), token, logger: silentLogger(), reconnect: false });
    cleanups.push(() => connection.close());
    await connection.start();
    expect(connection.participantId).toEqual(expect.any(String));
  });
});
