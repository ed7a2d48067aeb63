/**
 * The framework-free half of receiving: parsing bodies as Python writes them, refusing names the store cannot
 * hold, and the HTTP answer each failure maps to. The store is PGlite, which refuses a NUL as PostgreSQL does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { isRoomrunnerError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/open-store.js';
import type { OpenedStore } from '../../src/store/open-store.js';
import { MAX_ROOM_NAME_BYTES, RoomStartedEvent } from '../../src/webhooks/events.js';
import { parseWebhookBody } from '../../src/webhooks/receive.js';
import { signMeshagent } from '../../src/webhooks/signatures/index.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { codeOf } from '../support/errors.js';

const SECRET = 'receive-test-secret';

describe('parseWebhookBody', () => {
  it('reads NaN, Infinity and -Infinity as Python json.dumps writes them', () => {
    const body = '{"event": "room.started", "data": {"room_name": "r", "load": NaN, "max": Infinity, "min": -Infinity}}';
    const event = parseWebhookBody(Buffer.from(body)) as RoomStartedEvent;
    expect(event).toBeInstanceOf(RoomStartedEvent);
    expect(event.data['load']).toBeNaN();
    expect(event.data).toMatchObject({ max: Number.POSITIVE_INFINITY, min: Number.NEGATIVE_INFINITY });
  });

  it('still refuses text Python would refuse, with RR_WEBHOOK_BODY_NOT_JSON', () => {
    expect(codeOf(() => parseWebhookBody(Buffer.from('{"event": nan}')))).toBe('RR_WEBHOOK_BODY_NOT_JSON');
    expect(codeOf(() => parseWebhookBody(Buffer.from([0x7b, 0xff, 0x7d])))).toBe('RR_WEBHOOK_BODY_NOT_JSON');
  });

  it('refuses a NUL in room_name, event or session_id with RR_WEBHOOK_NAME_INVALID', () => {
    const bodies = [
      { event: 'room.started', data: { room_name: 'a\u0000b' } },
      { event: 'room.\u0000started', data: { room_name: 'a' } },
      { event: 'custom.event', data: { room_name: '\u0000' } },
      { event: 'room.ended', data: { room_name: 'a', session_id: 's\u0000' } },
    ];
    for (const body of bodies) expect(codeOf(() => parseWebhookBody(Buffer.from(JSON.stringify(body))))).toBe('RR_WEBHOOK_NAME_INVALID');
  });

  it(`accepts a room name of ${MAX_ROOM_NAME_BYTES} bytes of UTF-8 and refuses one byte more`, () => {
    const atLimit = 'é'.repeat(MAX_ROOM_NAME_BYTES / 2);
    expect(parseWebhookBody(Buffer.from(JSON.stringify({ event: 'room.ended', data: { room_name: atLimit } })))).toMatchObject({ roomName: atLimit });
    try {
      parseWebhookBody(Buffer.from(JSON.stringify({ event: 'room.ended', data: { room_name: `${atLimit}x` } })));
      expect.unreachable('a room name over the limit was accepted');
    } catch (err) {
      expect(isRoomrunnerError(err, 'RR_WEBHOOK_NAME_INVALID')).toBe(true);
      expect((err as Error).message).toContain(`at most ${MAX_ROOM_NAME_BYTES} bytes`);
    }
  });
});

describe('a webhook the store could not hold', () => {
  let store: OpenedStore;
  let server: WebhookServer;
  beforeAll(async () => {
    store = await openStore({ dataDir: 'memory://' });
    server = new WebhookServer({ config: loadConfig({}, {}), secrets: SECRET, store, logger: silentLogger(), defaultMetrics: false });
  }, 120_000); // PGlite starts slowly on a loaded machine
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  async function post(body: string): Promise<{ status: number; json: { ok: boolean; error?: { code: string } } }> {
    const response = await server.buildApp().inject({
      method: 'POST',
      url: '/webhook',
      payload: body,
      headers: { 'content-type': 'application/json', 'meshagent-signature': signMeshagent(body, SECRET) },
    });
    return { status: response.statusCode, json: response.json() };
  }

  it('answers a NUL in room_name with 400, not a 503 the sender would retry forever', async () => {
    const answer = await post('{"event": "room.started", "data": {"room_name": "nul\\u0000room"}}');
    expect(answer).toMatchObject({ status: 400, json: { ok: false, error: { code: 'RR_WEBHOOK_NAME_INVALID' } } });
  });

  it('answers a 10 KB room name with 400', async () => {
    const answer = await post(`{"event": "room.started", "data": {"room_name": "${'r'.repeat(10_240)}"}}`);
    expect(answer).toMatchObject({ status: 400, json: { error: { code: 'RR_WEBHOOK_NAME_INVALID' } } });
  });

  it('accepts a signed body with NaN, as a Python sender writes it', async () => {
    const answer = await post('{"event": "room.ended", "data": {"room_name": "python-room", "score": NaN}}');
    expect(answer).toStrictEqual({ status: 200, json: { ok: true } });
  });
});
