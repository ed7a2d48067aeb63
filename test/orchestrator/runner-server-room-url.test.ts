/**
 * Where a webhook may send roomrunner, and what it carries there: a foreign `room_url` gets no connection (so no
 * token), and every token roomrunner mints expires and is minted again for each connection attempt.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { adder } from '../../agents/adder.js';
import { loadConfig, type ConfigOverrides } from '../../src/config.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { RemoteTaskRunnerServer, type RemoteTaskRunnerServerOptions } from '../../src/orchestrator/runner-server.js';
import { createWebSocketDialer, type Dialer } from '../../src/room/connection.js';
import { verifyParticipantToken } from '../../src/auth/token.js';
import { postSignedWebhook, recordingHost } from '../support/recording-host.js';

const SECRET = 'room-url-room-secret';
const WEBHOOK_SECRET = 'room-url-webhook-secret';
const PROJECT = 'room-url-project';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emulatorUp(): Promise<Emulator> {
  const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT, idleGraceMs: 60_000 });
  cleanups.push(() => emulator.close());
  return emulator;
}

async function roomrunner(emulator: Emulator, overrides: ConfigOverrides = {}, extra: Partial<RemoteTaskRunnerServerOptions> = {}) {
  const config = loadConfig(
    {
      secret: SECRET,
      apiUrl: emulator.url,
      webhookSecrets: [WEBHOOK_SECRET],
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      drainTimeoutMs: 2_000,
      ...overrides,
    },
    {},
  );
  const server = new RemoteTaskRunnerServer({
    agents: [adder],
    config,
    defaultMetrics: false,
    retry: { minTimeoutMs: 20, maxTimeoutMs: 200, attemptTimeoutMs: 5_000 },
    ...extra,
  });
  const address = await server.start();
  cleanups.push(() => server.close());
  return { server, address };
}

describe('room_url from a webhook', () => {
  it('sends no token to a foreign room_url: the delivery fails with the reason and the host sees no connection', async () => {
    const emulator = await emulatorUp();
    const foreign = await recordingHost(cleanups);
    const { server, address } = await roomrunner(emulator);
    const elsewhere = `ws://127.0.0.1:${foreign.port}/rooms/victim`;

    await postSignedWebhook(address.url, WEBHOOK_SECRET, 'room.started', { room_name: 'victim', room_url: elsewhere });
    await postSignedWebhook(address.url, WEBHOOK_SECRET, 'room.call', {
      room_name: 'victim',
      room_url: elsewhere,
      token: 'a-token-for-victim',
      arguments: null,
    });
    // On the platform's own host, but naming another room than room_name.
    await postSignedWebhook(address.url, WEBHOOK_SECRET, 'room.started', { room_name: 'decoy', room_url: `${emulator.wsUrl}/rooms/elsewhere` });
    // A good room after them: once it is attached, anything the bad ones would have dialed was dialed too.
    const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === 'good', { includePast: true });
    await postSignedWebhook(address.url, WEBHOOK_SECRET, 'room.started', { room_name: 'good', room_url: `${emulator.wsUrl}/rooms/good` });
    await registered;
    await server.idle();
    expect(foreign.bytes(), 'what the foreign host received').toBe('');
    expect(foreign.connections).toHaveLength(0);
    expect(emulator.roomServer.events.filter((e) => e.room === 'elsewhere' || e.room === 'decoy')).toEqual([]);
    expect(server.attachments.rooms()).toEqual(['good']);

    const deliveries = await server.store.listDeliveries();
    const outcome = (room: string, event: string) => deliveries.find((d) => d.room === room && d.event === event);
    for (const [room, event] of [
      ['victim', 'room.started'],
      ['victim', 'room.call'],
      ['decoy', 'room.started'],
    ] as const) {
      expect(outcome(room, event), `${event} ${room}`).toMatchObject({ result: 'failed', lastError: expect.stringContaining('refused to dial the room_url') });
    }
    expect(outcome('victim', 'room.started')?.lastError).toContain(`ws://127.0.0.1:${foreign.port} is neither MESHAGENT_API_URL's origin`);
    expect(outcome('decoy', 'room.started')?.lastError).toContain('names another room');
    expect(outcome('good', 'room.started')?.result).toBe('processed');
  });

  it('dials a room host listed in ROOMRUNNER_ROOM_HOSTS', async () => {
    const emulator = await emulatorUp();
    // The emulator under another spelling of its host: only the allow-list lets it through.
    const port = new URL(emulator.url).port;
    const { address } = await roomrunner(emulator, { apiUrl: `http://localhost:${port}`, roomHosts: `ws://127.0.0.1:${port}` });
    const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === 'listed', { includePast: true });
    await postSignedWebhook(address.url, WEBHOOK_SECRET, 'room.started', { room_name: 'listed', room_url: `ws://127.0.0.1:${port}/rooms/listed` });
    await registered;
  });
});

describe('participant tokens roomrunner mints', () => {
  it('expire after ROOMRUNNER_TOKEN_TTL_MS, and each connection attempt mints a new one', async () => {
    const emulator = await emulatorUp();
    const real = createWebSocketDialer();
    const dials: Array<{ token: string; at: number }> = [];
    // Whole seconds, so `exp` is exact. The emulator keeps the real clock, so the clock only moves forward.
    const startedAt = Math.ceil(Date.now() / 1000) * 1000;
    // Only the calendar is fake: the first attempt fails, and ten minutes "pass" before the retry.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(startedAt);
    const dial: Dialer = async (request) => {
      dials.push({ token: request.token, at: Date.now() });
      if (dials.length === 1) {
        vi.setSystemTime(startedAt + 10 * 60_000);
        throw new Error('connect ECONNREFUSED (the first attempt fails)');
      }
      return real(request);
    };
    const { address } = await roomrunner(emulator, { tokenTtlMs: 30 * 60_000 }, { connection: { dial } });
    const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === 'ttl', { includePast: true });
    await postSignedWebhook(address.url, WEBHOOK_SECRET, 'room.started', { room_name: 'ttl', room_url: `${emulator.wsUrl}/rooms/ttl` });
    await registered;

    expect(dials).toHaveLength(2);
    const [first, second] = dials.map(({ token }) => verifyParticipantToken(token, { secret: SECRET, room: 'ttl', now: startedAt / 1000 }));
    expect(first?.expiresAt).toBe(startedAt / 1000 + 30 * 60);
    expect(second?.expiresAt).toBe(startedAt / 1000 + 40 * 60);
    expect(dials[0]?.token).not.toBe(dials[1]?.token);
  });

  it('expire after one hour by default', () => {
    expect(loadConfig({}, {}).tokenTtlMs).toBe(3_600_000);
  });
});
