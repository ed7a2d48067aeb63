/**
 * The dashboard's HTTP surface through app.inject(): off without a token, sign-in, cookie attributes, sessions
 * required, CSRF and Origin checks on every action, secrets masked, strict headers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { openStore } from '../../src/store/open-store.js';

const ADMIN_TOKEN = 'plugin-admin-token-0123456789';
/** The catalog code of an error answer. */
const codeOf = (body: unknown) => (body as { error?: { code?: string } }).error?.code;
const servers: RemoteTaskRunnerServer[] = [];
const stores: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const store of stores.splice(0)) await store.close();
});

function serverWith<S extends MemoryStore | Awaited<ReturnType<typeof openStore>>>(adminToken: string | undefined, store: S = new MemoryStore() as S) {
  const config = loadConfig(
    {
      secret: 's3cret',
      projectId: 'p',
      apiUrl: 'http://127.0.0.1:9',
      webhookSecrets: ['w'],
      port: 0,
      logLevel: 'silent',
      reconcileIntervalMs: 0,
      ...(adminToken ? { adminToken } : {}),
    },
    {},
  );
  const server = new RemoteTaskRunnerServer({ agents: [adder], config, store, defaultMetrics: false });
  servers.push(server);
  return { app: server.buildApp(), store, server };
}

async function signedIn(app: ReturnType<typeof serverWith>['app']) {
  const login = await app.inject({
    method: 'POST',
    url: '/dashboard/login',
    payload: `token=${ADMIN_TOKEN}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
  const page = await app.inject({ method: 'GET', url: '/dashboard', headers: { cookie } });
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1] ?? '';
  return { login, cookie, csrf, page };
}

describe('the dashboard over HTTP', () => {
  it('says how to turn it on when no admin token is set, and refuses its API', async () => {
    const { app } = serverWith(undefined);
    const page = await app.inject({ method: 'GET', url: '/dashboard' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('ROOMRUNNER_ADMIN_TOKEN');
    const api = await app.inject({ method: 'GET', url: '/dashboard/api/rooms' });
    expect(api.statusCode).toBe(403);
    expect(codeOf(api.json())).toBe('RR_ADMIN_DISABLED');
  });

  it('shows only the sign-in form, with one line of refusal, for a wrong token', async () => {
    const { app } = serverWith(ADMIN_TOKEN);
    const wrong = await app.inject({
      method: 'POST',
      url: '/dashboard/login',
      payload: 'token=guess',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(wrong.body).toContain('not the admin token');
    expect(wrong.body).not.toContain('csrf-token');
  });

  it('signs in with an HttpOnly, SameSite=Strict, expiring cookie scoped to /dashboard', async () => {
    const { app } = serverWith(ADMIN_TOKEN);
    const { login, page } = await signedIn(app);
    expect(login.statusCode).toBe(303);
    expect(login.headers.location).toBe('/dashboard');
    const cookie = String(login.headers['set-cookie']);
    expect(cookie).toMatch(/^rr_dashboard=[\w-]{40,}; Max-Age=\d+; Path=\/dashboard; HttpOnly; SameSite=Strict$/);
    expect(page.body).toContain('role="tablist"');
    expect(page.body).not.toContain(ADMIN_TOKEN);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['cache-control']).toBe('no-store');
  });

  it('answers its API only to a signed-in session', async () => {
    const { app } = serverWith(ADMIN_TOKEN);
    const anonymous = await app.inject({ method: 'GET', url: '/dashboard/api/deliveries' });
    expect(anonymous.statusCode).toBe(401);
    expect(codeOf(anonymous.json())).toBe('RR_DASHBOARD_SIGNED_OUT');
    const forged = await app.inject({ method: 'GET', url: '/dashboard/api/deliveries', headers: { cookie: 'rr_dashboard=made-up' } });
    expect(forged.statusCode).toBe(401);
    const { cookie } = await signedIn(app);
    const rooms = await app.inject({ method: 'GET', url: '/dashboard/api/rooms?limit=5', headers: { cookie } });
    expect(rooms.statusCode).toBe(200);
    expect(rooms.json()).toMatchObject({ total: 0, rooms: [], limit: 5 });
  });

  it('refuses an action without the CSRF header, with a wrong one, or from another origin', async () => {
    const { app, store } = serverWith(ADMIN_TOKEN);
    await store.recordDelivery(
      { key: 'k1', event: 'room.started', room: 'r', scheme: 'meshagent', body: '{"event":"room.started","data":{"room_name":"r"}}', receivedAt: new Date() },
      60_000,
    );
    const { cookie, csrf } = await signedIn(app);
    const url = '/dashboard/api/deliveries/k1/replay';
    for (const headers of [{ cookie }, { cookie, 'x-csrf-token': 'wrong' }, { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' }]) {
      const refused = await app.inject({ method: 'POST', url, headers });
      expect(refused.statusCode).toBe(403);
      expect(codeOf(refused.json())).toBe('RR_DASHBOARD_CSRF');
    }
    expect((await store.getDelivery('k1'))?.attempts).toBe(0);
  });

  it('masks the token inside a room.call body it shows', async () => {
    const { app, store } = serverWith(ADMIN_TOKEN);
    const body = JSON.stringify({ event: 'room.call', data: { room_name: 'r', room_url: 'ws://x/rooms/r', token: 'eyJhbGciOi.secret.jwt', arguments: {} } });
    await store.recordDelivery({ key: 'call-1', event: 'room.call', room: 'r', scheme: 'meshagent', body, receivedAt: new Date() }, 60_000);
    const { cookie } = await signedIn(app);
    const shown = await app.inject({ method: 'GET', url: '/dashboard/api/deliveries/call-1', headers: { cookie } });
    expect(shown.statusCode).toBe(200);
    expect(shown.body).not.toContain('secret.jwt');
    expect((shown.json() as { delivery: { body: string } }).delivery.body).toContain('"token": "••••••"');
  });

  it('ends the session on sign-out', async () => {
    const { app } = serverWith(ADMIN_TOKEN);
    const { cookie } = await signedIn(app);
    const out = await app.inject({ method: 'POST', url: '/dashboard/logout', headers: { cookie } });
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await app.inject({ method: 'GET', url: '/dashboard/api/rooms', headers: { cookie } })).statusCode).toBe(401);
  });
});

describe('the admin rooms API', () => {
  it('answers 404 for detaching a room nobody holds, and 400 for a room name with control characters', async () => {
    const { app } = serverWith(ADMIN_TOKEN);
    const authorization = `Bearer ${ADMIN_TOKEN}`;
    const missing = await app.inject({ method: 'POST', url: '/admin/rooms/nowhere/detach', headers: { authorization } });
    expect(missing.statusCode).toBe(404);
    expect(codeOf(missing.json())).toBe('RR_ADMIN_ROOM_NOT_FOUND');
    const bad = await app.inject({ method: 'POST', url: '/admin/rooms/a%01b/attach', headers: { authorization } });
    expect(bad.statusCode).toBe(400);
    const anonymous = await app.inject({ method: 'GET', url: '/admin/rooms' });
    expect(anonymous.statusCode).toBe(401);
  });

  it('lists an attached-by-hand room with its trigger, filtered and paged', async () => {
    const { app } = serverWith(ADMIN_TOKEN);
    const authorization = `Bearer ${ADMIN_TOKEN}`;
    for (const room of ['one', 'two', 'three']) {
      const attached = await app.inject({ method: 'POST', url: `/admin/rooms/${room}/attach`, headers: { authorization } });
      expect(attached.json()).toMatchObject({ ok: true, room, result: 'pending' });
    }
    const page = await app.inject({ method: 'GET', url: '/admin/rooms?q=t&trigger=manual&limit=1&offset=1', headers: { authorization } });
    const listed = page.json() as { total: number; rooms: Array<{ room: string; trigger: string }> };
    expect(listed.total).toBe(2); // two and three contain "t"
    expect(listed.rooms).toHaveLength(1);
    expect(listed.rooms[0]?.trigger).toBe('manual');
  });

  it('lists a room recorded by the coordinating store with its owner replica and epoch', async () => {
    const store = await openStore({ dataDir: 'memory://' });
    const { app, server } = serverWith(ADMIN_TOKEN, store);
    stores.push(store);
    const authorization = `Bearer ${ADMIN_TOKEN}`;
    await server.start();
    expect((await app.inject({ method: 'POST', url: '/admin/rooms/shared/attach', headers: { authorization } })).json()).toMatchObject({ result: 'pending' });
    // No room server answers here: the room stays pending or attaching under this replica, with its epoch.
    await expect
      .poll(async () => {
        const listed = (await app.inject({ method: 'GET', url: '/admin/rooms', headers: { authorization } })).json() as {
          rooms: Array<{ room: string; owner: string | null; epoch: number | null }>;
        };
        return listed.rooms.find((r) => r.room === 'shared');
      })
      .toMatchObject({ room: 'shared', owner: expect.any(String), epoch: expect.any(Number) });
    const replicas = (await app.inject({ method: 'GET', url: '/admin/replicas', headers: { authorization } })).json() as { replicas: Array<{ live: boolean }> };
    expect(replicas.replicas).toHaveLength(1);
    expect(replicas.replicas[0]?.live).toBe(true);
  }, 120_000); // opening PGlite (WebAssembly) is slow on a loaded machine
});
