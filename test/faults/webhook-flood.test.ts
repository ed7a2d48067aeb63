/**
 * Fault suite, webhook flood, over real HTTP: 1,000 invalid deliveries of ten kinds interleaved with
 * 100 valid signed room events, sent with bounded concurrency. Every invalid one gets its documented status and
 * code, every valid one gets 200 before its own deadline (an AbortSignal.timeout per request) and runs its hook
 * exactly once; refused requests that carry a valid delivery's body and signature do not burn its dedupe key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ERROR_CATALOG, type ErrorCode, type ErrorSpec } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { RoomEndedEvent, RoomStartedEvent } from '../../src/webhooks/events.js';
import { pythonDumps, signWebhook, type SignatureScheme } from '../../src/webhooks/signatures/index.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { watchProcessFaults } from './support.js';

watchProcessFaults();

const SECRET = 'flood-secret';
const WHSEC = `whsec_${Buffer.from('flood suite key, thirty-two byte').toString('base64')}`;
const BODY_LIMIT_BYTES = 16 * 1024;
const VALID = 100;
const INVALID_PER_KIND = 100;
const CONCURRENCY = 16;
/** Each request's own bound: it must be answered before this fires. */
const REQUEST_DEADLINE_MS = 5_000;

interface Delivery {
  readonly label: string;
  readonly method: 'POST' | 'GET';
  readonly body?: string;
  readonly headers: Record<string, string>;
  readonly expected: { readonly status: 200 } | { readonly status: number; readonly code: ErrorCode };
  /** The room of a valid delivery. */
  readonly room?: string;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const json = { 'content-type': 'application/json' };

function signed(scheme: SignatureScheme, body: string, id: string, timestamp = nowSeconds()): Record<string, string> {
  return signWebhook(scheme, { body, secret: scheme === 'standard-webhooks' ? WHSEC : SECRET, id, timestamp });
}

function valid(i: number): Delivery {
  const room = `flood-${i}`;
  const event = i % 2 === 0 ? 'room.started' : 'room.ended';
  const body = pythonDumps({ event, data: { room_name: room, room_url: `ws://127.0.0.1:1/rooms/${room}`, session_id: `s-${i}` } });
  const scheme = (['meshagent', 'standard-webhooks', 'hmac-sha256'] as const)[i % 3] as SignatureScheme;
  return {
    label: `valid ${scheme} ${event}`,
    method: 'POST',
    body,
    headers: { ...json, ...signed(scheme, body, `msg-${i}`) },
    expected: { status: 200 },
    room,
  };
}

const refused = (code: ErrorCode): Delivery['expected'] => ({ status: (ERROR_CATALOG[code] as ErrorSpec).http as number, code });

/** Ten kinds of bad delivery; `twin` is a valid delivery whose body (and signature) some kinds reuse. */
function invalid(kind: number, i: number, twin: Delivery): Delivery {
  const body = pythonDumps({ event: 'room.started', data: { room_name: `bad-${kind}-${i}` } });
  switch (kind) {
    case 0:
      // The twin's body signed with another key.
      return {
        label: 'wrong key',
        method: 'POST',
        body: twin.body ?? '',
        headers: { ...json, ...signWebhook('meshagent', { body: twin.body ?? '', secret: 'not-the-secret' }) },
        expected: refused('RR_WEBHOOK_SIGNATURE_MISMATCH'),
      };
    case 1:
      return { label: 'no signature', method: 'POST', body, headers: json, expected: refused('RR_WEBHOOK_SIGNATURE_MISSING') };
    case 2:
      return {
        label: 'malformed signature',
        method: 'POST',
        body,
        headers: { ...json, 'meshagent-signature': 'Bearer not-a-jwt' },
        expected: refused('RR_WEBHOOK_SIGNATURE_MALFORMED'),
      };
    case 3:
      return {
        label: 'stale timestamp',
        method: 'POST',
        body,
        headers: { ...json, ...signed('standard-webhooks', body, `stale-${i}`, nowSeconds() - 3_600) },
        expected: refused('RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE'),
      };
    case 4:
      return {
        label: 'wrong hmac',
        method: 'POST',
        body,
        headers: { ...json, 'x-meshia-signature': `sha256=${'0'.repeat(64)}` },
        expected: refused('RR_WEBHOOK_SIGNATURE_MISMATCH'),
      };
    case 5: {
      const text = `{"event":"room.started","data":{"room_name":"bad-${i}"`;
      return {
        label: 'bad JSON',
        method: 'POST',
        body: text,
        headers: { ...json, ...signed('hmac-sha256', text, `x-${i}`) },
        expected: refused('RR_WEBHOOK_BODY_NOT_JSON'),
      };
    }
    case 6: {
      const envelope = pythonDumps({ event: 'room.started', data: { room_url: 'ws://x' } });
      return {
        label: 'bad envelope',
        method: 'POST',
        body: envelope,
        headers: { ...json, ...signed('standard-webhooks', envelope, `env-${i}`) },
        expected: refused('RR_WEBHOOK_ENVELOPE_INVALID'),
      };
    }
    case 7:
      // The twin's exact body and signature, as text/plain.
      return {
        label: 'wrong content type',
        method: 'POST',
        body: twin.body ?? '',
        headers: { ...twin.headers, 'content-type': 'text/plain' },
        expected: refused('RR_WEBHOOK_UNSUPPORTED_MEDIA_TYPE'),
      };
    case 8: {
      const oversize = pythonDumps({ event: 'room.started', data: { room_name: `big-${i}`, pad: 'p'.repeat(BODY_LIMIT_BYTES) } });
      return {
        label: 'oversize',
        method: 'POST',
        body: oversize,
        headers: { ...json, ...signed('meshagent', oversize, `big-${i}`) },
        expected: refused('RR_WEBHOOK_BODY_TOO_LARGE'),
      };
    }
    default:
      return { label: 'GET', method: 'GET', headers: {}, expected: refused('RR_WEBHOOK_METHOD_NOT_ALLOWED') };
  }
}

interface Answer {
  readonly delivery: Delivery;
  readonly status: number;
  readonly body: { ok?: boolean; duplicate?: boolean; error?: { code?: string } };
}

/** Sends every delivery with at most `concurrency` in flight; a request that misses its deadline is a failure. */
async function sendAll(url: string, deliveries: readonly Delivery[], concurrency: number): Promise<{ answers: Answer[]; failures: string[] }> {
  const answers: Answer[] = [];
  const failures: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < deliveries.length) {
      const delivery = deliveries[next++] as Delivery;
      try {
        const response = await fetch(url, {
          method: delivery.method,
          headers: delivery.headers,
          ...(delivery.body === undefined ? {} : { body: delivery.body }),
          signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
        });
        answers.push({ delivery, status: response.status, body: (await response.json()) as Answer['body'] });
      } catch (error) {
        failures.push(`${delivery.label}${delivery.room ? ` ${delivery.room}` : ''}: ${String(error)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { answers, failures };
}

describe('a webhook flood', () => {
  const hooks = new Map<string, number>();
  const count = async (event: RoomStartedEvent | RoomEndedEvent): Promise<void> => {
    await new Promise((resolve) => setImmediate(resolve));
    hooks.set(event.roomName, (hooks.get(event.roomName) ?? 0) + 1);
  };
  const store = new MemoryStore();
  const server = new WebhookServer({
    config: loadConfig({}, {}),
    port: 0,
    host: '127.0.0.1',
    secrets: [SECRET, WHSEC],
    logger: silentLogger(),
    defaultMetrics: false,
    // The second test resends bodies as the sender's retries: keep them inside the digest window however slow the machine.
    dedupeWindowMs: 10 * 60_000,
    bodyLimitBytes: BODY_LIMIT_BYTES,
    store,
    onRoomStarted: count,
    onRoomEnded: count,
  });
  let url: string;
  beforeAll(async () => {
    url = `${(await server.start()).url}/webhook`;
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  it('answers 1,000 invalid deliveries with their documented errors and 100 valid ones with 200 and one hook each, all before their deadline', async () => {
    const valids = Array.from({ length: VALID }, (_, i) => valid(i));
    const invalids = Array.from({ length: 10 * INVALID_PER_KIND }, (_, n) => invalid(n % 10, n, valids[n % VALID] as Delivery));
    // Interleave ten invalid with one valid; the refused twins of valid deliveries go both before and after them.
    const deliveries: Delivery[] = [];
    for (let i = 0; i < VALID; i++) deliveries.push(...invalids.slice(i * 10, i * 10 + 10).reverse(), valids[i] as Delivery);

    const { answers, failures } = await sendAll(url, deliveries, CONCURRENCY);
    expect(failures, 'requests not answered before their deadline').toEqual([]);
    expect(answers).toHaveLength(deliveries.length);

    for (const { delivery, status, body } of answers) {
      if (delivery.expected.status === 200) {
        expect({ label: delivery.label, status, body }).toEqual({ label: delivery.label, status: 200, body: { ok: true } });
      } else {
        expect({ label: delivery.label, status, code: body.error?.code }).toEqual({ label: delivery.label, ...delivery.expected });
        expect(body.ok).toBe(false);
      }
    }

    await server.idle();
    expect(Object.fromEntries(hooks)).toEqual(Object.fromEntries(valids.map((d) => [d.room, 1])));
    const ledger = await store.listDeliveries({ limit: 10_000 });
    expect(ledger.map((d) => d.room).sort()).toEqual(valids.map((d) => d.room).sort());
    expect(new Set(ledger.map((d) => d.key)).size).toBe(VALID);
    expect(ledger.every((d) => d.result === 'processed')).toBe(true);
  });

  it('answers the valid deliveries sent again as duplicates, with no second hook', async () => {
    const again = Array.from({ length: VALID }, (_, i) => valid(i)).filter((_, i) => i % 10 === 0);
    const { answers, failures } = await sendAll(url, again, CONCURRENCY);
    expect(failures).toEqual([]);
    expect(answers.map((a) => [a.status, a.body])).toEqual(again.map(() => [200, { ok: true, duplicate: true }]));
    await server.idle();
    expect([...hooks.values()].every((n) => n === 1)).toBe(true);
    expect(await store.listDeliveries({ limit: 10_000 })).toHaveLength(VALID);
  });
});
