/**
 * A webhook cannot send roomrunner's token anywhere: `roomrunner serve` as a process (coordinated mode, the
 * default) gets signed deliveries whose `room_url` names a host that only records what reaches it. It must see
 * no connection at all, the deliveries must be `failed` with the reason, and a good room still attaches.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { postSignedWebhook, recordingHost } from '../support/recording-host.js';
import { startServe } from '../support/serve-process.js';

const SECRET = 'foreign-url-secret';
const WEBHOOK_SECRET = 'foreign-url-webhook-secret';
const ADMIN_TOKEN = 'foreign-url-admin-token';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface DeliverySummary {
  readonly event: string;
  readonly room: string;
  readonly result: string;
  readonly lastError: string | null;
}

describe('roomrunner serve and a foreign room_url', () => {
  it('opens no connection to it (so sends no token), fails the deliveries with the reason, and still attaches a good room', async () => {
    const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: 'foreign-url-project', idleGraceMs: 60_000 });
    cleanups.push(() => emulator.close());
    const foreign = await recordingHost(cleanups);
    const serve = startServe({
      args: ['--data-dir', 'memory://'],
      env: { MESHAGENT_API_URL: emulator.url, MESHAGENT_SECRET: SECRET, MESHAGENT_WEBHOOK_SECRET: WEBHOOK_SECRET, ROOMRUNNER_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    cleanups.push(() => serve.kill());
    const url = await serve.serving;

    const elsewhere = `ws://127.0.0.1:${foreign.port}/rooms/victim`;
    await postSignedWebhook(url, WEBHOOK_SECRET, 'room.started', { room_name: 'victim', room_url: elsewhere });
    await postSignedWebhook(url, WEBHOOK_SECRET, 'room.call', { room_name: 'victim', room_url: elsewhere, token: 'a-token-for-victim', arguments: null });
    // After them, a good room: once it is attached, the replica has claimed and dialed every pending room.
    const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === 'good', { includePast: true });
    await postSignedWebhook(url, WEBHOOK_SECRET, 'room.started', { room_name: 'good', room_url: `${emulator.wsUrl}/rooms/good` });
    await registered;
    expect(foreign.bytes(), 'what the foreign host received').toBe('');
    expect(foreign.connections).toHaveLength(0);

    const deliveries = async (): Promise<DeliverySummary[]> => {
      const response = await fetch(`${url}/admin/deliveries?room=victim`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return ((await response.json()) as { deliveries: DeliverySummary[] }).deliveries;
    };
    await expect.poll(async () => (await deliveries()).map((d) => d.result), { timeout: 20_000 }).toEqual(['failed', 'failed']);
    expect(foreign.connections).toHaveLength(0);
    for (const delivery of await deliveries()) expect(delivery.lastError).toContain('refused to dial the room_url of room "victim"');
    expect(serve.stdout()).toContain('"code":"RR_ROOM_URL_REFUSED"');
  }, 240_000);
});
