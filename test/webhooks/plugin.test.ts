import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/http/metrics.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Store } from '../../src/store/store.js';
import { type CallEvent, RoomStartedEvent, type WebhookEvent } from '../../src/webhooks/events.js';
import { DEFAULT_DEDUPE_WINDOW_MS, webhookPlugin, type HookOutcome, type WebhookPluginOptions } from '../../src/webhooks/plugin.js';
import { InFlight } from '../../src/util/in-flight.js';
import { buildMeshagentDelivery, pythonDumps, sha256Hex, signWebhook } from '../../src/webhooks/signatures/index.js';

const SECRET = 'ma-webhook-secret-1';
const SECRET_2 = 'ma-webhook-secret-2';
const WHSEC = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const NOW_S = 1_750_000_000;
const DAY_MS = 24 * 3600 * 1000;

const STARTED = {
  event: 'room.started',
  data: { room_name: 'M\u00fcnchen \u65e5\u672c \ud83d\ude80', room_url: 'wss://api.meshagent.com/rooms/r1', load: 0.25 },
};

/** Made with CPython 3.11 `json.dumps` (an integral float `1.0`, non-ASCII escapes), so only the raw bytes hash right. */
const PY_BODY =
  '{"event": "room.started", "data": {"room_name": "M\\u00fcnchen \\u2014 \\u65e5\\u672c \\ud83d\\ude80", "project_id": "p1", "score": 1.0, "ratio": 0.5, "tiny": 1e-07, "big": 1e+20, "n": 3}}';

interface Setup {
  app: FastifyInstance;
  store: MemoryStore;
  dispatched: WebhookEvent[];
  work: InFlight;
  metrics: Metrics;
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function setup(overrides: Partial<WebhookPluginOptions> = {}): Setup {
  const store = new MemoryStore();
  const dispatched: WebhookEvent[] = [];
  const work = new InFlight();
  const metrics = new Metrics();
  const app = Fastify();
  void app.register(webhookPlugin, {
    secrets: [SECRET, SECRET_2, WHSEC],
    schemes: ['meshagent', 'standard-webhooks', 'hmac-sha256'],
    hmacHeader: 'X-Meshia-Signature',
    bodyLimitBytes: 1024 * 1024,
    dedupeWindowMs: 7 * DAY_MS,
    store,
    now: () => NOW_S * 1000,
    work,
    metrics,
    dispatch: async (event): Promise<HookOutcome> => {
      dispatched.push(event);
      return 'processed';
    },
    ...overrides,
  });
  // A sibling route outside the plugin: the plugin's raw parser must not leak to it.
  app.post('/echo', async (request) => ({ got: request.body }));
  apps.push(app);
  return { app, store, dispatched, work, metrics };
}

async function post(app: FastifyInstance, body: string | Buffer, headers: Record<string, string> = {}) {
  const response = await app.inject({ method: 'POST', url: '/webhook', payload: body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: response.statusCode, json: response.json() as Record<string, unknown>, headers: response.headers };
}

function errorCode(json: Record<string, unknown>): unknown {
  return (json['error'] as { code?: unknown } | undefined)?.code;
}

describe('webhook plugin: MeshAgent signatures', () => {
  it('accepts a pythonDumps body with non-ASCII text and floats, and dispatches it after answering', async () => {
    const { app, dispatched, work, store } = setup();
    const delivery = buildMeshagentDelivery(STARTED, SECRET);
    const answer = await post(app, delivery.body, delivery.headers);
    expect(answer).toMatchObject({ status: 200, json: { ok: true } });
    await work.idle();
    expect(dispatched).toHaveLength(1);
    const event = dispatched[0] as RoomStartedEvent;
    expect(event).toBeInstanceOf(RoomStartedEvent);
    expect(event.roomName).toBe(STARTED.data.room_name);
    expect(event.data['load']).toBe(0.25);
    const record = await store.getDelivery(`sha256:${sha256Hex(delivery.body)}`);
    expect(record).toMatchObject({ event: 'room.started', scheme: 'meshagent', result: 'processed', attempts: 1, body: delivery.body });
  });

  it('accepts bytes Python produced (integral floats) by hashing them raw', async () => {
    const { app, work, dispatched } = setup();
    expect((await post(app, PY_BODY, signWebhook('meshagent', { body: PY_BODY, secret: SECRET }))).status).toBe(200);
    await work.idle();
    expect(dispatched).toHaveLength(1);
  });

  it('accepts a re-formatted body through the Python re-serialisation fallback', async () => {
    const { app } = setup();
    const compact = JSON.stringify(STARTED);
    const header = signWebhook('meshagent', { body: pythonDumps(STARTED), secret: SECRET });
    expect((await post(app, compact, header)).status).toBe(200);
  });

  it('accepts the second secret during a rotation', async () => {
    const { app } = setup();
    const delivery = buildMeshagentDelivery(STARTED, SECRET_2);
    expect((await post(app, delivery.body, delivery.headers)).status).toBe(200);
  });

  it('refuses a missing signature with 401 RR_WEBHOOK_SIGNATURE_MISSING and records nothing', async () => {
    const { app, store, dispatched } = setup();
    const answer = await post(app, pythonDumps(STARTED));
    expect(answer.status).toBe(401);
    expect(answer.json).toStrictEqual({ ok: false, error: { code: 'RR_WEBHOOK_SIGNATURE_MISSING', message: expect.any(String) } });
    expect(await store.listDeliveries()).toHaveLength(0);
    expect(dispatched).toHaveLength(0);
  });

  it('refuses a wrong secret with 401 and records nothing', async () => {
    const { app, store } = setup();
    const delivery = buildMeshagentDelivery(STARTED, 'not-our-secret');
    const answer = await post(app, delivery.body, delivery.headers);
    expect(answer.status).toBe(401);
    expect(errorCode(answer.json)).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
    expect(await store.listDeliveries()).toHaveLength(0);
  });

  it('logs which setting to check when the secret is wrong, and when the sender did not sign', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const { app } = setup({ logger });
    const delivery = buildMeshagentDelivery(STARTED, 'not-our-secret');
    expect((await post(app, delivery.body, delivery.headers)).status).toBe(401);
    expect((await post(app, pythonDumps(STARTED))).status).toBe(401);
    expect(lines.filter((line) => line['msg'] === 'webhook refused')).toEqual([
      expect.objectContaining({ code: 'RR_WEBHOOK_SIGNATURE_MISMATCH', fix: expect.stringContaining('check that MESHAGENT_WEBHOOK_SECRET (--webhook-secret') }),
      expect.objectContaining({ code: 'RR_WEBHOOK_SIGNATURE_MISSING', fix: expect.stringContaining('--insecure') }),
    ]);
  });

  it('refuses a signature for other bytes with 401', async () => {
    const { app } = setup();
    const header = signWebhook('meshagent', { body: pythonDumps(STARTED), secret: SECRET });
    const other = pythonDumps({ event: 'room.started', data: { room_name: 'other' } });
    expect((await post(app, other, header)).status).toBe(401);
  });

  it('answers the same MeshAgent body twice with 200 but dispatches it once', async () => {
    const { app, work, dispatched } = setup();
    const delivery = buildMeshagentDelivery(STARTED, SECRET);
    expect((await post(app, delivery.body, delivery.headers)).json).toStrictEqual({ ok: true });
    expect((await post(app, delivery.body, delivery.headers)).json).toStrictEqual({ ok: true, duplicate: true });
    await work.idle();
    expect(dispatched).toHaveLength(1);
  });

  it('dispatches the same MeshAgent body again once the short dedupe window has passed: a room that starts again', async () => {
    let nowMs = NOW_S * 1000;
    const { app, work, dispatched, store } = setup({ now: () => nowMs, dedupeWindowMs: DEFAULT_DEDUPE_WINDOW_MS, replicaId: 'replica-1' });
    const delivery = buildMeshagentDelivery(STARTED, SECRET);
    expect((await post(app, delivery.body, delivery.headers)).json).toStrictEqual({ ok: true });
    // The sender's own retry, seconds later: absorbed.
    nowMs += 5_000;
    expect((await post(app, delivery.body, delivery.headers)).json).toStrictEqual({ ok: true, duplicate: true });
    // The same room started again minutes later sends the very same bytes: it is a new delivery.
    nowMs += 2 * 60_000;
    expect((await post(app, delivery.body, delivery.headers)).json).toStrictEqual({ ok: true });
    await work.idle();
    expect(dispatched).toHaveLength(2);
    expect(await store.getDelivery(`sha256:${sha256Hex(delivery.body)}`)).toMatchObject({ result: 'processed', replica: 'replica-1' });
  });

  it('keeps the default body window at a few minutes at most, not days', () => {
    expect(DEFAULT_DEDUPE_WINDOW_MS).toBeGreaterThanOrEqual(5_000);
    expect(DEFAULT_DEDUPE_WINDOW_MS).toBeLessThanOrEqual(5 * 60_000);
  });

  it('does not burn a dedupe key on a forged request', async () => {
    const { app, work, dispatched } = setup();
    const good = buildMeshagentDelivery(STARTED, SECRET);
    const forged = buildMeshagentDelivery(STARTED, 'attacker');
    expect((await post(app, forged.body, forged.headers)).status).toBe(401);
    expect((await post(app, good.body, good.headers)).json).toStrictEqual({ ok: true });
    await work.idle();
    expect(dispatched).toHaveLength(1);
  });
});

describe('webhook plugin: Standard Webhooks', () => {
  const body = pythonDumps(STARTED);
  const sign = (id: string, timestamp: number, secret = WHSEC) => signWebhook('standard-webhooks', { body, secret, id, timestamp });

  it('accepts a valid signature and dedupes on webhook-id', async () => {
    const { app, work, dispatched, store } = setup();
    expect((await post(app, body, sign('msg_1', NOW_S))).json).toStrictEqual({ ok: true });
    // A retry: same id, a new timestamp and signature.
    expect((await post(app, body, sign('msg_1', NOW_S + 30))).json).toStrictEqual({ ok: true, duplicate: true });
    await work.idle();
    expect(dispatched).toHaveLength(1);
    expect(await store.getDelivery('msg_1')).toMatchObject({ scheme: 'standard-webhooks', result: 'processed' });
  });

  it('keeps a webhook-id a duplicate for its own long window while body digests expire in seconds', async () => {
    let nowMs = NOW_S * 1000;
    const { app, work, dispatched } = setup({ now: () => nowMs, dedupeWindowMs: 1_000, deliveryIdWindowMs: 7 * DAY_MS });
    expect((await post(app, body, sign('msg_long', NOW_S))).json).toStrictEqual({ ok: true });
    // A retry an hour later (same id, fresh timestamp and signature) is still the same message.
    nowMs += 3_600_000;
    expect((await post(app, body, sign('msg_long', NOW_S + 3_600))).json).toStrictEqual({ ok: true, duplicate: true });
    // A new message with the same body has a new id.
    expect((await post(app, body, sign('msg_other', NOW_S + 3_600))).json).toStrictEqual({ ok: true });
    await work.idle();
    expect(dispatched).toHaveLength(2);
  });

  it('refuses a timestamp outside ±300 s with 401 RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE', async () => {
    const { app } = setup();
    for (const timestamp of [NOW_S - 301, NOW_S + 301]) {
      const answer = await post(app, body, sign('msg_2', timestamp));
      expect(answer.status).toBe(401);
      expect(errorCode(answer.json)).toBe('RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE');
    }
  });

  it('refuses a wrong whsec_ secret with 401', async () => {
    const { app } = setup();
    const other = `whsec_${Buffer.from('another secret, another key!').toString('base64')}`;
    expect((await post(app, body, sign('msg_3', NOW_S, other))).status).toBe(401);
  });

  it('refuses a webhook-signature header when no secret is a whsec_ secret', async () => {
    const { app } = setup({ secrets: ['plain secret with spaces'] });
    expect((await post(app, body, sign('msg_4', NOW_S))).status).toBe(401);
  });
});

describe('webhook plugin: sha256=<hex> HMAC', () => {
  const body = pythonDumps(STARTED);

  it('accepts a signature in the configured header (any case) with either secret', async () => {
    const { app, work, dispatched } = setup();
    expect((await post(app, body, signWebhook('hmac-sha256', { body, secret: SECRET, header: 'X-Meshia-Signature' }))).status).toBe(200);
    const other = pythonDumps({ event: 'room.ended', data: { room_name: 'r1' } });
    expect((await post(app, other, signWebhook('hmac-sha256', { body: other, secret: SECRET_2 }))).status).toBe(200);
    await work.idle();
    expect(dispatched.map((event) => event.event)).toStrictEqual(['room.started', 'room.ended']);
  });

  it('refuses a wrong HMAC with 401 and ignores the header of a scheme that is not configured', async () => {
    const { app } = setup();
    expect((await post(app, body, { 'x-meshia-signature': `sha256=${'0'.repeat(64)}` })).status).toBe(401);
    const onlyMeshagent = setup({ schemes: ['meshagent'] });
    const answer = await post(onlyMeshagent.app, body, signWebhook('hmac-sha256', { body, secret: SECRET }));
    expect(errorCode(answer.json)).toBe('RR_WEBHOOK_SIGNATURE_MISSING');
  });
});

describe('webhook plugin: bad input', () => {
  const meshagent = (text: string) => signWebhook('meshagent', { body: text, secret: SECRET });

  it('answers malformed JSON with 400 RR_WEBHOOK_BODY_NOT_JSON', async () => {
    const { app } = setup();
    const text = '{"event": "room.started", ';
    const answer = await post(app, text, meshagent(text));
    expect(answer.status).toBe(400);
    expect(errorCode(answer.json)).toBe('RR_WEBHOOK_BODY_NOT_JSON');
  });

  it('answers an envelope without event, or a non-object body, with 400 RR_WEBHOOK_ENVELOPE_INVALID', async () => {
    const { app, store } = setup();
    for (const text of ['{"data": {"room_name": "r"}}', '[1, 2]', '"room.started"', '42', 'null', '{"event": "room.started", "data": {}}']) {
      const answer = await post(app, text, meshagent(text));
      expect(answer.status, text).toBe(400);
      expect(errorCode(answer.json), text).toBe('RR_WEBHOOK_ENVELOPE_INVALID');
    }
    expect(await store.listDeliveries()).toHaveLength(0);
  });

  it('checks the signature before the JSON: an unsigned malformed body is 401', async () => {
    const { app } = setup();
    expect((await post(app, '{nope')).status).toBe(401);
  });

  it('answers a body over the limit with 413 RR_WEBHOOK_BODY_TOO_LARGE', async () => {
    const { app, dispatched } = setup({ bodyLimitBytes: 64 });
    const text = pythonDumps({ event: 'room.started', data: { room_name: 'x'.repeat(100) } });
    const answer = await post(app, text, meshagent(text));
    expect(answer.status).toBe(413);
    expect(errorCode(answer.json)).toBe('RR_WEBHOOK_BODY_TOO_LARGE');
    expect(dispatched).toHaveLength(0);
  });

  it('answers text/plain, no Content-Type and an invalid Content-Type with 415', async () => {
    const { app } = setup();
    const text = pythonDumps(STARTED);
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'not a type']) {
      const answer = await post(app, text, { ...meshagent(text), 'content-type': contentType });
      expect(answer.status, contentType).toBe(415);
      expect(errorCode(answer.json)).toBe('RR_WEBHOOK_UNSUPPORTED_MEDIA_TYPE');
    }
    const noType = await app.inject({ method: 'POST', url: '/webhook', payload: Buffer.from(text), headers: meshagent(text) });
    expect(noType.statusCode).toBe(415);
    const empty = await app.inject({ method: 'POST', url: '/webhook', headers: meshagent('') });
    expect(empty.statusCode).toBe(415);
  });

  it('accepts application/*+json and a charset parameter', async () => {
    const { app } = setup();
    const text = pythonDumps(STARTED);
    expect((await post(app, text, { ...meshagent(text), 'content-type': 'application/webhook+json' })).status).toBe(200);
    const other = pythonDumps({ event: 'room.ended', data: { room_name: 'r' } });
    expect((await post(app, other, { ...meshagent(other), 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('answers an unknown event 200 and dispatches it (to the catch-all)', async () => {
    const { app, work, dispatched } = setup();
    const text = pythonDumps({ event: 'storage.file.updated', data: { path: '/a', participant_id: 'p' } });
    expect((await post(app, text, meshagent(text))).json).toStrictEqual({ ok: true });
    await work.idle();
    expect(dispatched.map((event) => event.event)).toStrictEqual(['storage.file.updated']);
  });

  it('answers a signed test ping 200 without recording or dispatching it', async () => {
    const { app, work, dispatched, store } = setup();
    for (const event of ['webhook.ping', 'ping']) {
      const text = pythonDumps({ event, data: { webhook_id: 'w1' } });
      expect((await post(app, text, meshagent(text))).json).toStrictEqual({ ok: true });
    }
    await work.idle();
    expect(dispatched).toHaveLength(0);
    expect(await store.listDeliveries()).toHaveLength(0);
  });

  it('answers OPTIONS /webhook with 405 too', async () => {
    const { app } = setup();
    expect((await app.inject({ method: 'OPTIONS', url: '/webhook' })).statusCode).toBe(405);
  });

  it("dispatches a duplicate again when the first delivery's outcome was never recorded, once", async () => {
    let nowMs = NOW_S * 1000;
    const { app, store, dispatched, work } = setup({ now: () => nowMs });
    const body = '{"event": "room.ended", "data": {"room_name": "lost"}}';
    // The store accepts the record but fails every finishDelivery, as if it went down after the answer.
    const finish = store.finishDelivery.bind(store);
    let storeDown = true;
    store.finishDelivery = async (...args) => (storeDown ? Promise.reject(new Error('store down')) : finish(...args));
    expect((await post(app, body, meshagent(body))).json).toEqual({ ok: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(dispatched).toHaveLength(1);
    expect(await store.getDelivery(`sha256:${sha256Hex(body)}`)).toMatchObject({ result: 'pending' });

    expect((await post(app, body, meshagent(body))).json).toEqual({ ok: true, duplicate: true });
    nowMs += 61_000;
    storeDown = false;
    expect((await post(app, body, meshagent(body))).json).toEqual({ ok: true });
    expect((await post(app, body, meshagent(body))).json).toEqual({ ok: true, duplicate: true });
    storeDown = true;
    work.idle().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(dispatched).toHaveLength(2);
  });

  it('answers GET /webhook with 405 (no websocket handoff) and Allow: POST', async () => {
    const { app } = setup();
    const response = await app.inject({ method: 'GET', url: '/webhook', headers: { upgrade: 'websocket', connection: 'upgrade' } });
    expect(response.statusCode).toBe(405);
    expect(response.headers['allow']).toBe('POST');
    expect(response.json()).toMatchObject({ ok: false, error: { code: 'RR_WEBHOOK_METHOD_NOT_ALLOWED' } });
  });

  it('keeps its raw parser to itself: sibling routes still get parsed JSON', async () => {
    const { app } = setup();
    const response = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
    expect(response.json()).toStrictEqual({ got: { a: 1 } });
  });
});

describe('webhook plugin: the store and the dispatcher', () => {
  it('answers 503 RR_STORE_UNAVAILABLE and dispatches nothing when the store cannot record', async () => {
    const failing = new MemoryStore();
    failing.recordDelivery = async () => {
      throw new Error('connection refused');
    };
    const { app, work, dispatched } = setup({ store: failing as Store });
    const delivery = buildMeshagentDelivery(STARTED, SECRET);
    const answer = await post(app, delivery.body, delivery.headers);
    expect(answer.status).toBe(503);
    expect(errorCode(answer.json)).toBe('RR_STORE_UNAVAILABLE');
    expect(answer.headers['retry-after']).toBe('5');
    await work.idle();
    expect(dispatched).toHaveLength(0);
  });

  it('answers before a slow hook finishes, then records its outcome', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { app, work, store } = setup({
      dispatch: async () => {
        await gate;
        return 'processed';
      },
    });
    const delivery = buildMeshagentDelivery(STARTED, SECRET);
    expect((await post(app, delivery.body, delivery.headers)).status).toBe(200);
    const key = `sha256:${sha256Hex(delivery.body)}`;
    expect(await store.getDelivery(key)).toMatchObject({ result: 'pending' });
    release();
    await work.idle();
    expect(await store.getDelivery(key)).toMatchObject({ result: 'processed' });
  });

  it('records a throwing hook as failed and keeps serving', async () => {
    const { app, work, store } = setup({
      dispatch: async () => {
        throw new Error('hook exploded');
      },
    });
    const first = buildMeshagentDelivery(STARTED, SECRET);
    expect((await post(app, first.body, first.headers)).status).toBe(200);
    await work.idle();
    expect(await store.getDelivery(`sha256:${sha256Hex(first.body)}`)).toMatchObject({ result: 'failed', lastError: 'Error: hook exploded' });
    const second = buildMeshagentDelivery({ event: 'room.ended', data: { room_name: 'r1' } }, SECRET);
    expect((await post(app, second.body, second.headers)).status).toBe(200);
  });

  it('passes room.call through with its token, and records the ignored outcome', async () => {
    const { app, work, dispatched, store } = setup({
      dispatch: async (event) => {
        dispatched.push(event);
        return 'ignored';
      },
    });
    const call = { event: 'room.call', data: { room_name: 'r1', room_url: 'wss://x/rooms/r1', token: 'jwt-token', arguments: { a: 1 } } };
    const delivery = buildMeshagentDelivery(call, SECRET);
    expect((await post(app, delivery.body, delivery.headers)).status).toBe(200);
    await work.idle();
    expect((dispatched[0] as CallEvent).token).toBe('jwt-token');
    expect(await store.getDelivery(`sha256:${sha256Hex(delivery.body)}`)).toMatchObject({ result: 'ignored', room: 'r1' });
  });

  it('answers 503 RR_WEBHOOK_DRAINING while not accepting', async () => {
    const { app, store } = setup({ accepting: () => false });
    const delivery = buildMeshagentDelivery(STARTED, SECRET);
    const answer = await post(app, delivery.body, delivery.headers);
    expect(answer.status).toBe(503);
    expect(errorCode(answer.json)).toBe('RR_WEBHOOK_DRAINING');
    expect(await store.listDeliveries()).toHaveLength(0);
  });

  it('accepts unsigned deliveries only when insecure, keyed by the body hash', async () => {
    const { app, work, dispatched, store } = setup({ insecure: true, secrets: [] });
    const body = pythonDumps(STARTED);
    expect((await post(app, body)).status).toBe(200);
    expect((await post(app, body)).json).toStrictEqual({ ok: true, duplicate: true });
    await work.idle();
    expect(dispatched).toHaveLength(1);
    expect(await store.getDelivery(`sha256:${sha256Hex(body)}`)).toMatchObject({ scheme: 'none' });
  });

  it('still checks a signature that is present when insecure with secrets', async () => {
    const { app } = setup({ insecure: true });
    const forged = buildMeshagentDelivery(STARTED, 'attacker');
    expect((await post(app, forged.body, forged.headers)).status).toBe(401);
    expect((await post(app, forged.body)).status).toBe(200);
  });

  it('counts answers in the metrics', async () => {
    const { app, metrics } = setup();
    const delivery = buildMeshagentDelivery(STARTED, SECRET);
    await post(app, delivery.body, delivery.headers);
    await post(app, delivery.body, delivery.headers);
    await post(app, delivery.body);
    const text = await metrics.registry.metrics();
    expect(text).toContain('roomrunner_webhook_deliveries_total{event="room.started",result="accepted"} 1');
    expect(text).toContain('roomrunner_webhook_deliveries_total{event="room.started",result="duplicate"} 1');
    expect(text).toContain('roomrunner_webhook_deliveries_total{event="unknown",result="unauthorized"} 1');
    expect(text).toContain('roomrunner_webhook_ack_seconds_count 3');
  });
});
