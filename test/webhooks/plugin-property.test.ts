/**
 * Property: whatever arrives at POST /webhook (random bytes, random JSON, random signature headers and
 * content types) is answered without a 5xx, and no hook runs unless the signature verifies.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { signJwt } from '../../src/auth/jwt.js';
import { SYSTEM_CLOCK } from '../../src/util/clock.js';

const SECRET = 'property-secret';
const WHSEC = `whsec_${Buffer.from('property test key, 32 bytes ok!').toString('base64')}`;
const NOW_S = 1_750_000_000;

let hookCalls = 0;
const hook = (): void => {
  hookCalls++;
};

function server(store = new MemoryStore()): WebhookServer {
  return new WebhookServer({
    config: loadConfig({}, {}),
    secrets: [SECRET, WHSEC],
    logger: silentLogger(),
    defaultMetrics: false,
    bodyLimitBytes: 2048,
    clock: { ...SYSTEM_CLOCK, now: () => NOW_S * 1000 },
    store,
    onRoomStarted: hook,
    onRoomEnded: hook,
    onCall: hook,
    onEvent: hook,
  });
}

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 120 });

const envelope = fc.record({
  event: fc.constantFrom('room.started', 'room.ended', 'room.call', 'webhook.ping', 'x.custom', ''),
  data: fc.oneof(fc.record({ room_name: fc.string(), room_url: fc.string(), token: fc.string() }, { requiredKeys: [] }), fc.jsonValue()),
});

const body = fc.oneof(
  envelope.map((value) => pythonDumps(value)),
  envelope.map((value) => JSON.stringify(value)),
  fc.json(),
  fc.string({ maxLength: 300 }),
  fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes)),
);

const contentType = fc.option(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/cloudevents+json', 'text/plain', 'multipart/form-data', '*/*', 'json'),
  { nil: undefined },
);

/** Forged signature headers: random values, or well-formed ones made with the wrong key. */
const forgedHeaders = fc.record(
  {
    'meshagent-signature': fc.oneof(
      printable,
      printable.map((text) => `Bearer ${text}`),
      fc.constant(`Bearer ${signJwt({ sha256: '0'.repeat(64) }, SECRET)}`),
      fc.constant(`Bearer ${signJwt({ sha256: 'x' }, 'wrong')}`),
    ),
    'webhook-id': printable,
    'webhook-timestamp': fc.oneof(printable, fc.integer({ min: NOW_S - 1000, max: NOW_S + 1000 }).map(String)),
    'webhook-signature': fc.oneof(
      printable,
      printable.map((text) => `v1,${Buffer.from(text).toString('base64')}`),
    ),
    'x-meshia-signature': fc.oneof(printable, fc.stringMatching(/^sha256=[0-9a-f]{64}$/)),
  },
  { requiredKeys: [] },
);

describe('POST /webhook under random input', () => {
  const subject = server();
  beforeAll(async () => {
    await subject.buildApp().ready();
  });
  afterAll(async () => {
    await subject.close();
  });

  it('never answers 5xx and never runs a hook for a forged or missing signature', async () => {
    await fc.assert(
      fc.asyncProperty(body, contentType, forgedHeaders, async (payload, type, headers) => {
        hookCalls = 0;
        const response = await subject.buildApp().inject({
          method: 'POST',
          url: '/webhook',
          payload,
          headers: { ...headers, ...(type === undefined ? {} : { 'content-type': type }) },
        });
        await subject.idle();
        expect(response.statusCode).toBeLessThan(500);
        expect(response.statusCode).not.toBe(200);
        expect(hookCalls).toBe(0);
        expect(response.json()).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^RR_/) } });
      }),
      { numRuns: 300 },
    );
  });

  it('never answers 5xx for correctly signed random bodies, and runs a hook only after a 200', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('meshagent', 'standard-webhooks', 'hmac-sha256' as const), fc.uuid(), async (payload, scheme, id) => {
        hookCalls = 0;
        const secret = scheme === 'standard-webhooks' ? WHSEC : SECRET;
        const headers = signWebhook(scheme, { body: payload, secret, id, timestamp: NOW_S });
        const response = await subject.buildApp().inject({
          method: 'POST',
          url: '/webhook',
          payload,
          headers: { ...headers, 'content-type': 'application/json' },
        });
        await subject.idle();
        expect(response.statusCode).toBeLessThan(500);
        if (response.statusCode !== 200) expect(hookCalls).toBe(0);
        expect(hookCalls).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it('answers only the deliberate 503 when the store fails', async () => {
    const failing = new MemoryStore();
    failing.recordDelivery = () => Promise.reject(new Error('down'));
    const broken = server(failing);
    try {
      await fc.assert(
        fc.asyncProperty(body, async (payload) => {
          hookCalls = 0;
          const headers = signWebhook('meshagent', { body: payload, secret: SECRET });
          const response = await broken
            .buildApp()
            .inject({ method: 'POST', url: '/webhook', payload, headers: { ...headers, 'content-type': 'application/json' } });
          await broken.idle();
          if (response.statusCode >= 500) {
            expect(response.statusCode).toBe(503);
            expect(response.json()).toMatchObject({ error: { code: 'RR_STORE_UNAVAILABLE' } });
          }
          expect(hookCalls).toBe(0);
        }),
        { numRuns: 150 },
      );
    } finally {
      await broken.close();
    }
  });
});
