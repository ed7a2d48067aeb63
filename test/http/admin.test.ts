import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { openStore } from '../../src/store/open-store.js';
import type { OpenedStore } from '../../src/store/open-store.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { WebhookServer, type WebhookServerOptions } from '../../src/server/webhook-server.js';

const SECRET = 'admin-test-webhook-secret';
const TOKEN = 'admin-token-for-tests';
const servers: WebhookServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

function server(options: Partial<WebhookServerOptions> = {}): { app: ReturnType<WebhookServer['buildApp']>; started: string[]; server: WebhookServer } {
  const started: string[] = [];
  const s = new WebhookServer({
    secrets: [SECRET],
    store: new MemoryStore(),
    logger: silentLogger(),
    defaultMetrics: false,
    onRoomStarted: (e) => void started.push(e.roomName),
    ...options,
  });
  servers.push(s);
  return { app: s.buildApp(), started, server: s };
}

async function deliver(app: ReturnType<WebhookServer['buildApp']>, event: string, data: Record<string, unknown>): Promise<void> {
  const body = pythonDumps({ event, data });
  const response = await app.inject({
    method: 'POST',
    url: '/webhook',
    payload: body,
    headers: { 'content-type': 'application/json', ...signWebhook('meshagent', { body, secret: SECRET }) },
  });
  expect(response.statusCode).toBe(200);
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('the admin API', () => {
  it('is off, with 403 and the variable to set, when no admin token is configured', async () => {
    const { app } = server();
    const response = await app.inject({ method: 'GET', url: '/admin/deliveries' });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ ok: false, error: { code: 'RR_ADMIN_DISABLED', message: expect.stringContaining('ROOMRUNNER_ADMIN_TOKEN') } });
  });

  it('refuses a call without the bearer token with 401', async () => {
    const { app } = server({ adminToken: TOKEN });
    expect((await app.inject({ method: 'GET', url: '/admin/deliveries' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/admin/deliveries', headers: { authorization: 'Bearer wrong-token-x' } })).statusCode).toBe(401);
  });

  it('lists deliveries newest first, filtered by event, room and result', async () => {
    const { app, server: s } = server({ adminToken: TOKEN });
    await deliver(app, 'room.started', { room_name: 'a', room_url: 'ws://x/rooms/a' });
    await deliver(app, 'room.ended', { room_name: 'a' });
    await deliver(app, 'room.started', { room_name: 'b', room_url: 'ws://x/rooms/b' });
    await s.idle();
    const all = (await app.inject({ method: 'GET', url: '/admin/deliveries', headers: auth })).json() as {
      deliveries: Array<{ event: string; room: string; result: string }>;
    };
    expect(all.deliveries).toHaveLength(3);
    const started = (await app.inject({ method: 'GET', url: '/admin/deliveries?event=room.started&room=b', headers: auth })).json() as typeof all;
    expect(started.deliveries).toEqual([expect.objectContaining({ event: 'room.started', room: 'b', result: 'processed' })]);
    const ignored = (await app.inject({ method: 'GET', url: '/admin/deliveries?result=ignored', headers: auth })).json() as typeof all;
    expect(ignored.deliveries).toEqual([expect.objectContaining({ event: 'room.ended', room: 'a' })]);
    const bad = await app.inject({ method: 'GET', url: '/admin/deliveries?limit=0', headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'RR_HTTP_BAD_REQUEST', message: expect.stringContaining('limit') } });
  });

  it('replays one delivery: its hook runs again and the new outcome is recorded', async () => {
    const { app, started, server: s } = server({ adminToken: TOKEN });
    await deliver(app, 'room.started', { room_name: 'again', room_url: 'ws://x/rooms/again' });
    await s.idle();
    const [listed] = ((await app.inject({ method: 'GET', url: '/admin/deliveries', headers: auth })).json() as { deliveries: Array<{ key: string }> })
      .deliveries;
    const key = encodeURIComponent(listed?.key ?? '');
    const one = (await app.inject({ method: 'GET', url: `/admin/deliveries/${key}`, headers: auth })).json() as { delivery: { body: string } };
    expect(JSON.parse(one.delivery.body)).toMatchObject({ event: 'room.started', data: { room_name: 'again' } });
    const replay = await app.inject({ method: 'POST', url: `/admin/deliveries/${key}/replay`, headers: auth });
    expect(replay.json()).toMatchObject({ ok: true, result: 'processed', delivery: { attempts: 2 } });
    expect(started).toEqual(['again', 'again']);
  });

  it('answers 404 for a key the ledger does not have', async () => {
    const { app } = server({ adminToken: TOKEN });
    const response = await app.inject({ method: 'POST', url: '/admin/deliveries/sha256%3Anope/replay', headers: auth });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'RR_ADMIN_DELIVERY_NOT_FOUND' } });
  });
});

describe('the admin API on odd keys and queries', () => {
  let store: OpenedStore;
  beforeAll(async () => {
    // PGlite refuses a NUL in text as PostgreSQL does; the memory store would not show the 500.
    store = await openStore({ dataDir: 'memory://' });
  }, 120_000); // PGlite starts slowly on a loaded machine
  afterAll(async () => {
    await store.close();
  });

  it("answers a key over fastify's 100-character default with a clean 404", async () => {
    const { app } = server({ adminToken: TOKEN, store });
    const response = await app.inject({ method: 'GET', url: `/admin/deliveries/${'k'.repeat(300)}`, headers: auth });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ ok: false, error: { code: 'RR_ADMIN_DELIVERY_NOT_FOUND' } });
  });

  it('answers a key over 1024 characters with 414 in the error envelope', async () => {
    const { app } = server({ adminToken: TOKEN, store });
    const response = await app.inject({ method: 'POST', url: `/admin/deliveries/${'k'.repeat(2000)}/replay`, headers: auth });
    expect(response.statusCode).toBe(414);
    expect(response.json()).toStrictEqual({ ok: false, error: { code: 'RR_HTTP_URI_TOO_LONG', message: 'a path parameter is longer than 1024 characters' } });
  });

  it('answers a NUL in a query or a key with 400, not 500', async () => {
    const { app } = server({ adminToken: TOKEN, store });
    for (const url of ['/admin/deliveries?room=%00', '/admin/deliveries?event=a%00b', '/admin/deliveries/%00']) {
      const response = await app.inject({ method: 'GET', url, headers: auth });
      expect(response.statusCode, url).toBe(400);
      expect(response.json(), url).toMatchObject({ ok: false, error: { code: 'RR_HTTP_BAD_REQUEST', message: expect.stringContaining('NUL') } });
    }
  });

  it('answers a bad percent-encoding in the path with 400 in the error envelope', async () => {
    const { app } = server({ adminToken: TOKEN, store });
    const response = await app.inject({ method: 'GET', url: '/admin/deliveries/%E0%A4%A', headers: auth });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ ok: false, error: { code: 'RR_HTTP_BAD_REQUEST' } });
  });
});
