import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { RoomrunnerError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { CallEvent, OtherEvent, RoomEndedEvent, RoomStartedEvent } from '../../src/webhooks/events.js';
import { WebhookServer, type HookContext, type WebhookServerOptions } from '../../src/server/webhook-server.js';
import { buildMeshagentDelivery, sha256Hex } from '../../src/webhooks/signatures/index.js';
import { SYSTEM_CLOCK } from '../../src/util/clock.js';

const SECRET = 'ma-webhook-secret';
/** Defaults without env vars, so a developer's shell cannot change the tests. */
const CONFIG = loadConfig({}, {});

const servers: WebhookServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function options(extra: WebhookServerOptions = {}): WebhookServerOptions {
  return { config: CONFIG, secrets: SECRET, logger: silentLogger(), defaultMetrics: false, ...extra };
}

function track<S extends WebhookServer>(server: S): S {
  servers.push(server);
  return server;
}

async function deliver(server: WebhookServer, envelope: unknown, secret = SECRET) {
  const { body, headers } = buildMeshagentDelivery(envelope, secret);
  const response = await server.buildApp().inject({ method: 'POST', url: server.path, payload: body, headers });
  return { status: response.statusCode, json: response.json() as Record<string, unknown>, key: `sha256:${sha256Hex(body)}` };
}

/** The docs' Python example (seed 000), as a TypeScript subclass. */
class CustomWebhookServer extends WebhookServer {
  readonly seen: string[] = [];

  override async onRoomStarted(event: RoomStartedEvent): Promise<void> {
    this.seen.push(`room started ${event.roomName} ${event.roomUrl ?? '-'} ${String(event.data['room_name'])}`);
  }

  override async onRoomEnded(event: RoomEndedEvent): Promise<void> {
    this.seen.push(`room ended ${event.roomName}`);
  }
}

describe('WebhookServer subclass (the docs example)', () => {
  it('receives room.started and room.ended in its overridden hooks', async () => {
    const server = track(new CustomWebhookServer(options()));
    expect((await deliver(server, { event: 'room.started', data: { room_name: 'r1', room_url: 'wss://api.meshagent.com/rooms/r1' } })).json).toStrictEqual({
      ok: true,
    });
    expect((await deliver(server, { event: 'room.ended', data: { room_name: 'r1' } })).status).toBe(200);
    await server.idle();
    expect(server.seen).toStrictEqual(['room started r1 wss://api.meshagent.com/rooms/r1 r1', 'room ended r1']);
  });

  it('records events it has no hook for as ignored (room.call in the example)', async () => {
    const server = track(new CustomWebhookServer(options()));
    const { key } = await deliver(server, { event: 'room.call', data: { room_name: 'r', room_url: 'wss://x/rooms/r', token: 't' } });
    await server.idle();
    expect(await server.store.getDelivery(key)).toMatchObject({ result: 'ignored' });
  });

  it('passes a context with the delivery key, a logger and an abort signal', async () => {
    const contexts: HookContext[] = [];
    class Server extends WebhookServer {
      override async onCall(_event: CallEvent, context: HookContext): Promise<void> {
        contexts.push(context);
      }
    }
    const server = track(new Server(options()));
    const { key } = await deliver(server, { event: 'room.call', data: { room_name: 'r', room_url: 'wss://x/rooms/r', token: 't' } });
    await server.idle();
    expect(contexts[0]?.deliveryKey).toBe(key);
    expect(contexts[0]?.signal.aborted).toBe(false);
    await server.close();
    expect(contexts[0]?.signal.aborted).toBe(true);
  });
});

describe('WebhookServer hooks as options', () => {
  it('calls passed hooks in preference to methods, and the catch-all for unknown events', async () => {
    const calls: string[] = [];
    class Server extends WebhookServer {
      override async onRoomStarted(): Promise<void> {
        calls.push('method');
      }
    }
    const server = track(
      new Server(
        options({
          onRoomStarted: (event) => void calls.push(`option ${event.roomName}`),
          onCall: (event) => void calls.push(`call ${event.roomName} ${JSON.stringify(event.arguments)}`),
          onEvent: (event: OtherEvent) => void calls.push(`other ${event.event}`),
        }),
      ),
    );
    await deliver(server, { event: 'room.started', data: { room_name: 'r1' } });
    await deliver(server, { event: 'room.call', data: { room_name: 'r2', room_url: 'wss://x/rooms/r2', token: 't', arguments: { a: 1 } } });
    await deliver(server, { event: 'storage.file.deleted', data: { path: '/p', participant_id: 'x' } });
    await server.idle();
    expect(calls).toStrictEqual(['option r1', 'call r2 {"a":1}', 'other storage.file.deleted']);
  });

  it('does not call room hooks for an unknown event, and calls onEvent once', async () => {
    const calls: string[] = [];
    const server = track(new WebhookServer(options({ onRoomStarted: () => void calls.push('started'), onEvent: (event) => void calls.push(event.event) })));
    const { key } = await deliver(server, { event: 'custom.thing', data: {} });
    await server.idle();
    expect(calls).toStrictEqual(['custom.thing']);
    expect(await server.store.getDelivery(key)).toMatchObject({ result: 'processed', event: 'custom.thing' });
  });

  it('survives a throwing hook: 200, recorded failed, and the next delivery is served', async () => {
    let calls = 0;
    const server = track(
      new WebhookServer(
        options({
          onRoomStarted: () => {
            calls++;
            throw new Error('hook failed');
          },
        }),
      ),
    );
    const first = await deliver(server, { event: 'room.started', data: { room_name: 'r1' } });
    expect(first.status).toBe(200);
    await server.idle();
    expect(await server.store.getDelivery(first.key)).toMatchObject({ result: 'failed', lastError: 'Error: hook failed' });
    expect((await deliver(server, { event: 'room.started', data: { room_name: 'r2' } })).status).toBe(200);
    await server.idle();
    expect(calls).toBe(2);
  });

  it('calls the hook once for a duplicate delivery', async () => {
    let calls = 0;
    const server = track(new WebhookServer(options({ onRoomEnded: () => void calls++ })));
    const envelope = { event: 'room.ended', data: { room_name: 'r1' } };
    expect((await deliver(server, envelope)).json).toStrictEqual({ ok: true });
    expect((await deliver(server, envelope)).json).toStrictEqual({ ok: true, duplicate: true });
    await server.idle();
    expect(calls).toBe(1);
  });

  it('answers 503 and calls no hook when the store cannot record', async () => {
    let calls = 0;
    const store = new MemoryStore();
    store.recordDelivery = () => Promise.reject(new Error('disk full'));
    const server = track(new WebhookServer(options({ store, onRoomStarted: () => void calls++ })));
    const answer = await deliver(server, { event: 'room.started', data: { room_name: 'r1' } });
    expect(answer.status).toBe(503);
    expect(answer.json).toMatchObject({ ok: false, error: { code: 'RR_STORE_UNAVAILABLE' } });
    await server.idle();
    expect(calls).toBe(0);
  });
});

describe('WebhookServer configuration', () => {
  it('refuses to start without a secret unless insecure, naming the env var and the flag', () => {
    let caught: unknown;
    try {
      new WebhookServer({ config: CONFIG, logger: silentLogger() });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RoomrunnerError);
    expect((caught as RoomrunnerError).code).toBe('RR_CONFIG_NO_WEBHOOK_SECRET');
    expect((caught as Error).message).toContain('MESHAGENT_WEBHOOK_SECRET');
    expect((caught as Error).message).toContain('--insecure');
  });

  it('takes the secret, schemes and insecure flag from the config (env) by default', async () => {
    const fromEnv = loadConfig({}, { MESHAGENT_WEBHOOK_SECRET: 'old,new', ROOMRUNNER_SIGNATURE_SCHEMES: 'meshagent' });
    const server = track(new WebhookServer({ config: fromEnv, logger: silentLogger(), defaultMetrics: false }));
    expect((await deliver(server, { event: 'room.ended', data: { room_name: 'r' } }, 'new')).status).toBe(200);
    expect((await deliver(server, { event: 'room.ended', data: { room_name: 'r2' } }, 'other')).status).toBe(401);
    const insecure = loadConfig({ insecure: true }, {});
    expect(() => track(new WebhookServer({ config: insecure, logger: silentLogger(), defaultMetrics: false }))).not.toThrow();
  });

  it('accepts unsigned webhooks with --insecure', async () => {
    const started: string[] = [];
    const server = track(new WebhookServer(options({ secrets: [], insecure: true, onRoomStarted: (event) => void started.push(event.roomName) })));
    const response = await server.buildApp().inject({
      method: 'POST',
      url: '/webhook',
      payload: { event: 'room.started', data: { room_name: 'local' } },
    });
    expect(response.statusCode).toBe(200);
    await server.idle();
    expect(started).toStrictEqual(['local']);
  });

  it('serves the webhook on a configured path', async () => {
    const server = track(new WebhookServer(options({ path: '/hooks/meshagent' })));
    expect((await deliver(server, { event: 'room.ended', data: { room_name: 'r' } })).status).toBe(200);
    const old = await server.buildApp().inject({ method: 'POST', url: '/webhook', payload: {} });
    expect(old.statusCode).toBe(404);
  });
});

describe('WebhookServer readiness and lifecycle', () => {
  it('is ready once built, and not ready (503 on deliveries too) while draining', async () => {
    const server = track(new WebhookServer(options()));
    const app = server.buildApp();
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toStrictEqual({ ready: true });
    const draining = server.drain();
    const readyz = await app.inject({ method: 'GET', url: '/readyz' });
    expect(readyz.statusCode).toBe(503);
    expect(readyz.json()).toStrictEqual({ ready: false, reasons: ['draining'] });
    const answer = await deliver(server, { event: 'room.ended', data: { room_name: 'r' } });
    expect(answer.status).toBe(503);
    expect(answer.json).toMatchObject({ error: { code: 'RR_WEBHOOK_DRAINING' } });
    await draining;
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('is not ready when the store ping rejects or an extra check fails', async () => {
    const store = new MemoryStore();
    store.ping = () => Promise.reject(new Error('unreachable'));
    const server = track(
      new WebhookServer(
        options({
          store,
          readinessChecks: [
            {
              name: 'platform',
              check: () => {
                throw new Error('no route to host');
              },
            },
          ],
        }),
      ),
    );
    const readyz = await server.buildApp().inject({ method: 'GET', url: '/readyz' });
    expect(readyz.statusCode).toBe(503);
    expect(readyz.json()).toStrictEqual({ ready: false, reasons: ['store unavailable', 'platform unavailable'] });
  });

  it('waits for a running hook when draining', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finished = false;
    const server = track(
      new WebhookServer(
        options({
          onRoomStarted: async () => {
            await gate;
            finished = true;
          },
        }),
      ),
    );
    expect((await deliver(server, { event: 'room.started', data: { room_name: 'r' } })).status).toBe(200);
    const drained = server.drain();
    release();
    await drained;
    expect(finished).toBe(true);
  });

  it('shows delivery counters on /metrics', async () => {
    const server = track(new WebhookServer(options()));
    await deliver(server, { event: 'room.started', data: { room_name: 'r' } });
    await deliver(server, { event: 'room.started', data: { room_name: 'r' } }, 'wrong');
    const metrics = await server.buildApp().inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('roomrunner_webhook_deliveries_total{event="room.started",result="accepted"} 1');
    expect(metrics.body).toContain('roomrunner_webhook_deliveries_total{event="unknown",result="unauthorized"} 1');
    expect(metrics.body).toContain('roomrunner_webhook_dispatches_total{event="room.started",result="ignored"} 1');
  });

  it('listens on a real socket, answers fetch, and closes idempotently', async () => {
    const seen: string[] = [];
    const server = track(new CustomWebhookServer(options({ port: 0, host: '127.0.0.1' })));
    const address = await server.start();
    expect(server.address).toStrictEqual(address);
    expect(address.port).toBeGreaterThan(0);
    expect(await server.start()).toBe(address);

    const health = await fetch(`${address.url}/`);
    expect(health.status).toBe(200);
    expect(await health.json()).toStrictEqual({ ok: true });

    const { body, headers } = buildMeshagentDelivery({ event: 'room.started', data: { room_name: 'live', room_url: 'wss://x/rooms/live' } }, SECRET);
    const response = await fetch(`${address.url}/webhook`, { method: 'POST', body, headers });
    expect(response.status).toBe(200);
    expect(await response.json()).toStrictEqual({ ok: true });
    await server.idle();
    seen.push(...server.seen);
    expect(seen).toStrictEqual(['room started live wss://x/rooms/live live']);

    await Promise.all([server.close(), server.close()]);
    await server.close();
    await expect(server.start()).rejects.toMatchObject({ code: 'RR_WEBHOOK_SERVER_CLOSED' });
    await expect(fetch(`${address.url}/`)).rejects.toThrow();
  });

  it('run() resolves after its signal aborts, having closed the server', async () => {
    const server = track(new WebhookServer(options({ port: 0, host: '127.0.0.1' })));
    const controller = new AbortController();
    await server.start();
    const running = server.run({ signal: controller.signal, handleSignals: false });
    controller.abort();
    await running;
    await expect(server.start()).rejects.toMatchObject({ code: 'RR_WEBHOOK_SERVER_CLOSED' });
  });

  it('run() also resolves when close() is called elsewhere', async () => {
    const server = track(new WebhookServer(options({ port: 0, host: '127.0.0.1' })));
    await server.start();
    const running = server.run({ handleSignals: false });
    await server.close();
    await running;
  });
});

describe('pruning', () => {
  it('deletes deliveries older than the ledger retention and keeps younger ones, whatever the dedupe window', async () => {
    const { MemoryStore: Memory } = await import('../../src/store/memory-store.js');
    const { silentLogger: silent } = await import('../../src/logger.js');
    let nowMs = Date.parse('2026-01-10T00:00:00Z');
    const store = new Memory({ now: () => nowMs });
    const at = (iso: string) => new Date(iso);
    await store.recordDelivery({ key: 'old', event: 'room.started', room: 'r', scheme: 'meshagent', body: '{}', receivedAt: at('2026-01-01T00:00:00Z') }, 1);
    await store.recordDelivery({ key: 'new', event: 'room.started', room: 'r', scheme: 'meshagent', body: '{}', receivedAt: at('2026-01-09T00:00:00Z') }, 1);
    const server = new WebhookServer({
      secrets: ['s'],
      store,
      logger: silent(),
      defaultMetrics: false,
      clock: { ...SYSTEM_CLOCK, now: () => nowMs },
      dedupeWindowMs: 1_000,
      ledgerRetentionMs: 7 * 24 * 3600 * 1000,
    });
    expect(await server.prune()).toEqual({ deliveries: 1, rooms: 0, replicas: 0 });
    expect((await store.listDeliveries()).map((d) => d.key)).toEqual(['new']);
    nowMs += 30 * 24 * 3600 * 1000;
    expect((await server.prune()).deliveries).toBe(1);
    await server.close();
  });
});
