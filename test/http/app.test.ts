import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp, checkReadiness, requireBearerToken } from '../../src/http/app.js';
import { eventLabel, Metrics } from '../../src/http/metrics.js';
import { MemoryStore } from '../../src/store/memory-store.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function app(deps: Parameters<typeof buildApp>[0] = {}): FastifyInstance {
  const built = buildApp(deps);
  apps.push(built);
  return built;
}

describe('buildApp health routes', () => {
  it('answers GET / and HEAD / with 200 {"ok":true}', async () => {
    const a = app();
    const get = await a.inject({ method: 'GET', url: '/' });
    expect(get.statusCode).toBe(200);
    expect(get.json()).toStrictEqual({ ok: true });
    expect((await a.inject({ method: 'HEAD', url: '/' })).statusCode).toBe(200);
    expect((await a.inject({ method: 'GET', url: '/?probe=cloud-run' })).statusCode).toBe(200);
  });

  it('answers / with 200 {"ok":true} to any method, with any body', async () => {
    const a = app();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const) {
      const response = await a.inject({ method, url: '/' });
      expect(response.statusCode, method).toBe(200);
      expect(response.json(), method).toStrictEqual({ ok: true });
    }
    const withBodies = [
      { 'content-type': 'application/json', payload: '{"probe": tru' },
      { 'content-type': 'application/octet-stream', payload: Buffer.alloc(4096, 1) },
      { 'content-type': 'text/plain', payload: 'ping' },
    ];
    for (const { payload, ...headers } of withBodies) {
      const response = await a.inject({ method: 'POST', url: '/', headers, payload });
      expect(response.statusCode, headers['content-type']).toBe(200);
    }
  });

  it('answers GET /healthz with 200 {"ok":true}', async () => {
    expect((await app().inject({ method: 'GET', url: '/healthz' })).json()).toStrictEqual({ ok: true });
  });

  it('answers unknown routes with 404 in the error shape', async () => {
    const response = await app().inject({ method: 'GET', url: '/nope?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toStrictEqual({ ok: false, error: { code: 'RR_HTTP_NOT_FOUND', message: 'no route GET /nope' } });
  });

  it('has no webhook route unless one is configured', async () => {
    expect((await app().inject({ method: 'POST', url: '/webhook', payload: {} })).statusCode).toBe(404);
  });
});

describe('buildApp readiness', () => {
  it('is ready with a reachable store and passing checks', async () => {
    const response = await app({ store: new MemoryStore(), readinessChecks: [() => undefined, async () => undefined] }).inject({
      method: 'GET',
      url: '/readyz',
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toStrictEqual({ ready: true });
  });

  it('reports lifecycle reasons and failing checks with 503', async () => {
    const store = new MemoryStore();
    await store.close();
    const response = await app({
      store,
      lifecycle: () => ['draining'],
      readinessChecks: [
        async function platform() {
          throw new Error('down');
        },
        () => Promise.reject(new Error('x')),
      ],
    }).inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toStrictEqual({ ready: false, reasons: ['draining', 'store unavailable', 'platform unavailable', 'check 3 unavailable'] });
  });

  it('reports the lifecycle\'s "starting" with 503', async () => {
    const response = await app({ lifecycle: () => ['starting'] }).inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toStrictEqual({ ready: false, reasons: ['starting'] });
  });

  it('bounds a check that never answers', async () => {
    const report = await checkReadiness([{ name: 'hang', check: () => new Promise<void>(() => undefined) }], [], 1);
    expect(report).toStrictEqual({ ready: false, reasons: ['hang unavailable'] });
  });
});

describe('buildApp metrics', () => {
  it('serves its own registry with the webhook and orchestrator metric names', async () => {
    const metrics = new Metrics();
    metrics.webhookAnswered('room.started', 'accepted', 0.002);
    metrics.webhookAnswered('some.custom.event', 'accepted');
    const response = await app({ metrics }).inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    for (const name of [
      'roomrunner_webhook_deliveries_total',
      'roomrunner_webhook_ack_seconds',
      'roomrunner_webhook_dispatches_total',
      'roomrunner_rooms_attached',
      'roomrunner_rooms_capacity',
      'roomrunner_room_attach_seconds',
      'roomrunner_room_reconnects_total',
      'roomrunner_agent_calls_total',
      'roomrunner_agent_call_seconds',
    ]) {
      expect(response.body).toContain(`# TYPE ${name} `);
    }
    expect(response.body).toContain('roomrunner_webhook_deliveries_total{event="room.started",result="accepted"} 1');
    expect(response.body).toContain('roomrunner_webhook_deliveries_total{event="other",result="accepted"} 1');
  });

  it('keeps registries apart, and adds Node metrics only when asked', async () => {
    const a = new Metrics();
    const b = new Metrics({ defaultMetrics: true });
    a.webhookAnswered('room.ended', 'ignored');
    expect(await b.registry.metrics()).not.toContain('result="ignored"');
    expect(await a.registry.metrics()).not.toContain('process_cpu_seconds_total');
    expect(await b.registry.metrics()).toContain('process_cpu_seconds_total');
  });

  it('bounds the event label', () => {
    expect(['room.started', 'room.ended', 'room.call', 'webhook.ping', 'x.y', undefined].map(eventLabel)).toStrictEqual([
      'room.started',
      'room.ended',
      'room.call',
      'webhook.ping',
      'other',
      'unknown',
    ]);
  });
});

describe('requireBearerToken', () => {
  function guarded(token: string | undefined): FastifyInstance {
    const a = app();
    a.get('/admin', { preHandler: requireBearerToken(token) }, async () => ({ ok: true }));
    return a;
  }

  it('lets the right token through and refuses others with 401', async () => {
    const a = guarded('admin-token-123');
    expect((await a.inject({ method: 'GET', url: '/admin', headers: { authorization: 'Bearer admin-token-123' } })).statusCode).toBe(200);
    for (const authorization of [undefined, 'Bearer wrong', 'Basic admin-token-123', 'Bearer admin-token-1234']) {
      const response = await a.inject({ method: 'GET', url: '/admin', headers: authorization === undefined ? {} : { authorization } });
      expect(response.statusCode, String(authorization)).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.json()).toMatchObject({ ok: false, error: { code: 'RR_HTTP_UNAUTHORIZED' } });
    }
  });

  it('leaves routes open when no token is configured', async () => {
    expect((await guarded(undefined).inject({ method: 'GET', url: '/admin' })).statusCode).toBe(200);
  });
});
