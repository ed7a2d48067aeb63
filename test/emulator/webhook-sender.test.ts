import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { WEBHOOK_PING_EVENT, WebhookSender, generateWebhookSecret, type WebhookSenderOptions } from '../../src/emulator/webhook-sender.js';
import { pythonDumps, verifyWebhook } from '../../src/webhooks/signatures/index.js';

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly json: { event: string; data: Record<string, unknown> };
}

/** A receiving server that records every POST and answers with the next status of a per-path script. */
class Receiver {
  readonly requests: Received[] = [];
  readonly #server: Server;
  readonly #scripts = new Map<string, number[]>();
  readonly #waiters: { count: number; resolve: () => void }[] = [];
  #hang = new Set<string>();

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const path = req.url ?? '/';
        this.requests.push({ path, headers: req.headers, body, json: JSON.parse(body.toString('utf8')) });
        for (const waiter of [...this.#waiters]) {
          if (this.requests.length >= waiter.count) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        }
        if (this.#hang.has(path)) return; // never answer
        const status = this.#scripts.get(path)?.shift() ?? 200;
        if (status >= 300 && status < 400) res.setHeader('location', `${this.url}/redirected`);
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok": true}');
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Answers requests to `path` with these statuses in turn, then 200. */
  script(path: string, statuses: number[]): void {
    this.#scripts.set(path, [...statuses]);
  }

  hang(path: string): void {
    this.#hang.add(path);
  }

  /** Resolves once `count` requests in total have arrived. */
  async waitFor(count: number): Promise<void> {
    if (this.requests.length >= count) return;
    await new Promise<void>((resolve) => this.#waiters.push({ count, resolve }));
  }

  on(path: string): Received[] {
    return this.requests.filter((request) => request.path === path);
  }
}

const SECRET = 'test-webhook-secret';
const STANDARD_SECRET = 'whsec_plJ3nmyCDGBKInavdOK15jsl';

describe('WebhookSender', () => {
  let receiver: Receiver;
  let sender: WebhookSender | undefined;
  const delays: number[] = [];

  /** A sender that waits no real time between attempts and records the delays it was asked for. */
  function makeSender(options: WebhookSenderOptions = {}): WebhookSender {
    sender = new WebhookSender({
      pingOnCreate: false,
      minTimeoutMs: 100,
      jitter: 0,
      sleep: async (ms) => {
        delays.push(ms);
      },
      ...options,
    });
    return sender;
  }

  beforeEach(async () => {
    delays.length = 0;
    receiver = new Receiver();
    await receiver.start();
  });

  afterEach(async () => {
    await sender?.close();
    sender = undefined;
    await receiver.stop();
  });

  describe('ordering', () => {
    it("sends different rooms in parallel while one room's events keep their order", async () => {
      const seen: string[] = [];
      let releaseSlow!: () => void;
      const fastArrived = new Promise<void>((resolve) => (releaseSlow = resolve));
      // Holds the answer to room "slow"'s first event until room "fast" has arrived: serial delivery would deadlock.
      const server: Server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const { event, data } = JSON.parse(Buffer.concat(chunks).toString()) as { event: string; data: { room_name: string } };
          seen.push(`${data.room_name}:${event}`);
          if (data.room_name === 'fast') releaseSlow();
          const answer = (): void => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
          if (data.room_name === 'slow' && event === 'room.started') void fastArrived.then(answer);
          else answer();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const webhooks = makeSender();
        webhooks.create({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, secret: SECRET });
        webhooks.deliver('room.started', { room_name: 'slow', room_url: 'ws://x/rooms/slow' });
        webhooks.deliver('room.ended', { room_name: 'slow' });
        webhooks.deliver('room.started', { room_name: 'fast', room_url: 'ws://x/rooms/fast' });
        await webhooks.idle();
        expect(seen).toEqual(['slow:room.started', 'fast:room.started', 'slow:room.ended']);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('signing', () => {
    it('sends the Python json.dumps body signed with a Meshagent-Signature that verifies', async () => {
      const webhooks = makeSender();
      webhooks.create({ url: `${receiver.url}/hook`, secret: SECRET, events: ['room.started'] });
      const data = { room_name: 'café ☕ "quoted"', room_url: 'ws://127.0.0.1:1/rooms/x' };
      webhooks.deliver('room.started', data);
      await webhooks.idle();

      const [request] = receiver.requests;
      expect(request).toBeDefined();
      if (!request) return;
      expect(request.headers['content-type']).toBe('application/json');
      // §A.4 step 1: exactly what Python's json.dumps prints (", " and ": " separators, \\u escapes).
      expect(request.body.toString('utf8')).toBe(pythonDumps({ event: 'room.started', data }));
      expect(request.body.toString('utf8')).toContain('"room_name": "caf\\u00e9 \\u2615 \\"quoted\\""');
      expect(request.headers['meshagent-signature']).toMatch(/^Bearer /);
      expect(() => verifyWebhook('meshagent', { rawBody: request.body, headers: request.headers, secrets: [SECRET] })).not.toThrow();
      expect(() => verifyWebhook('meshagent', { rawBody: request.body, headers: request.headers, secrets: ['other'] })).toThrow();
    });

    it('signs Standard Webhooks with one webhook-id across retries and a timestamp per attempt', async () => {
      let clock = 1_731_705_121_000;
      const webhooks = makeSender({
        now: () => {
          clock += 1_000;
          return clock;
        },
      });
      receiver.script('/std', [500]);
      webhooks.create({ url: `${receiver.url}/std`, scheme: 'standard-webhooks', secret: STANDARD_SECRET });
      webhooks.deliver('room.ended', { room_name: 'r1' });
      await webhooks.idle();

      const requests = receiver.on('/std');
      expect(requests).toHaveLength(2);
      const [first, second] = requests as [Received, Received];
      expect(first.headers['webhook-id']).toMatch(/^msg_/);
      expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
      expect(second.headers['webhook-timestamp']).not.toBe(first.headers['webhook-timestamp']);
      for (const request of requests) {
        const now = Number(request.headers['webhook-timestamp']);
        const verified = verifyWebhook('standard-webhooks', { rawBody: request.body, headers: request.headers, secrets: [STANDARD_SECRET], now });
        expect(verified.dedupeKey).toBe(first.headers['webhook-id']);
      }
    });

    it('signs hmac-sha256 as sha256=<hex> in X-Meshia-Signature, or in the header the subscription names', async () => {
      const webhooks = makeSender();
      webhooks.create({ url: `${receiver.url}/default`, scheme: 'hmac-sha256', secret: SECRET });
      webhooks.create({ url: `${receiver.url}/custom`, scheme: 'hmac-sha256', secret: SECRET, header: 'X-Hub-Signature-256' });
      webhooks.deliver('room.started', { room_name: 'r', room_url: 'ws://x/rooms/r' });
      await webhooks.idle();

      const [byDefault] = receiver.on('/default');
      const [custom] = receiver.on('/custom');
      expect(byDefault?.headers['x-meshia-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(custom?.headers['x-hub-signature-256']).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(custom?.headers['x-meshia-signature']).toBeUndefined();
      if (!byDefault || !custom) return;
      expect(() => verifyWebhook('hmac-sha256', { rawBody: byDefault.body, headers: byDefault.headers, secrets: [SECRET] })).not.toThrow();
      expect(() =>
        verifyWebhook('hmac-sha256', { rawBody: custom.body, headers: custom.headers, secrets: [SECRET], header: 'X-Hub-Signature-256' }),
      ).not.toThrow();
    });

    it('sends no signature header when the subscription has no secret (§A.4 step 5)', async () => {
      const webhooks = makeSender();
      webhooks.create({ url: `${receiver.url}/a`, secret: null });
      webhooks.create({ url: `${receiver.url}/b`, scheme: 'standard-webhooks', secret: '' });
      webhooks.create({ url: `${receiver.url}/c`, scheme: 'hmac-sha256' });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await webhooks.idle();

      expect(receiver.requests).toHaveLength(3);
      for (const request of receiver.requests) {
        expect(request.headers['meshagent-signature']).toBeUndefined();
        expect(request.headers['webhook-signature']).toBeUndefined();
        expect(request.headers['x-meshia-signature']).toBeUndefined();
      }
    });
  });

  describe('retries and the delivery log', () => {
    it('retries a 500 with exponential backoff and records every attempt', async () => {
      const webhooks = makeSender();
      receiver.script('/flaky', [500, 503]);
      const subscription = webhooks.create({ url: `${receiver.url}/flaky` });
      const [pending] = webhooks.deliver('room.started', { room_name: 'r', room_url: 'ws://x/rooms/r' });
      expect(pending?.status).toBe('pending');
      await webhooks.idle();

      const [record] = webhooks.deliveries({ subscriptionId: subscription.id });
      expect(record?.id).toBe(pending?.id);
      expect(record?.status).toBe('delivered');
      expect(record?.deliveredAt).not.toBeNull();
      expect(record?.attempts.map((attempt) => attempt.status)).toEqual([500, 503, 200]);
      expect(record?.attempts.map((attempt) => attempt.error === null)).toEqual([false, false, true]);
      expect(record?.attempts[0]?.error).toContain('500');
      expect(record?.body).toBe(receiver.requests[0]?.body.toString('utf8'));
      // minTimeoutMs 100, doubling, no jitter.
      expect(delays).toEqual([100, 200]);
      // The same bytes on every attempt.
      expect(new Set(receiver.requests.map((request) => request.body.toString('hex'))).size).toBe(1);
    });

    it('gives up after 3 retries (4 attempts) and marks the delivery failed', async () => {
      const webhooks = makeSender();
      receiver.script('/down', [500, 500, 500, 500, 500]);
      webhooks.create({ url: `${receiver.url}/down` });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await webhooks.idle();

      const [record] = webhooks.deliveries();
      expect(record?.status).toBe('failed');
      expect(record?.deliveredAt).toBeNull();
      expect(record?.attempts).toHaveLength(4);
      expect(receiver.on('/down')).toHaveLength(4);
      expect(delays).toEqual([100, 200, 400]);
    });

    it('honours a configured retry count', async () => {
      const webhooks = makeSender({ retries: 0 });
      receiver.script('/once', [500]);
      webhooks.create({ url: `${receiver.url}/once` });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await webhooks.idle();
      expect(webhooks.deliveries()[0]?.attempts).toHaveLength(1);
      expect(webhooks.deliveries()[0]?.status).toBe('failed');
    });

    it('counts a 3xx as a failure and does not follow the redirect', async () => {
      const webhooks = makeSender({ retries: 1 });
      receiver.script('/moved', [302, 302]);
      webhooks.create({ url: `${receiver.url}/moved` });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await webhooks.idle();

      const [record] = webhooks.deliveries();
      expect(record?.status).toBe('failed');
      expect(record?.attempts.map((attempt) => attempt.status)).toEqual([302, 302]);
      expect(record?.attempts[0]?.error).toContain('redirect');
      expect(receiver.on('/redirected')).toHaveLength(0);
    });

    it('records a null status and the reason when nothing answers', async () => {
      const webhooks = makeSender({ retries: 1, timeoutMs: 50 });
      receiver.hang('/slow');
      const stopped = new Receiver();
      await stopped.start();
      const closedUrl = stopped.url;
      await stopped.stop();
      webhooks.create({ url: `${receiver.url}/slow` });
      webhooks.create({ url: `${closedUrl}/gone` });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await webhooks.idle();

      const records = webhooks.deliveries();
      const slow = records.find((record) => record.url.endsWith('/slow'));
      const gone = records.find((record) => record.url.endsWith('/gone'));
      expect(slow?.status).toBe('failed');
      expect(slow?.attempts[0]).toMatchObject({ status: null, error: 'no response within 50 ms' });
      expect(gone?.status).toBe('failed');
      expect(gone?.attempts[0]?.status).toBeNull();
      expect(gone?.attempts[0]?.error).toContain('ECONNREFUSED');
    });

    it('keeps only the newest deliveries when the log is full', async () => {
      const webhooks = makeSender({ logSize: 2 });
      webhooks.create({ url: `${receiver.url}/log` });
      for (const room of ['a', 'b', 'c']) webhooks.deliver('room.ended', { room_name: room });
      await webhooks.idle();
      expect(receiver.requests).toHaveLength(3);
      expect(webhooks.deliveries().map((record) => JSON.parse(record.body).data.room_name)).toEqual(['b', 'c']);
    });

    it('delivers to one subscription in event order even when an earlier event needs retries', async () => {
      const webhooks = makeSender();
      receiver.script('/ordered', [500]);
      webhooks.create({ url: `${receiver.url}/ordered` });
      webhooks.deliver('room.started', { room_name: 'r', room_url: 'ws://x/rooms/r' });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await webhooks.idle();
      expect(receiver.requests.map((request) => request.json.event)).toEqual(['room.started', 'room.started', 'room.ended']);
    });

    it('close() cancels a waiting retry and marks the delivery failed', async () => {
      const webhooks = new WebhookSender({ pingOnCreate: false, minTimeoutMs: 60_000 });
      sender = webhooks;
      receiver.script('/later', [500]);
      webhooks.create({ url: `${receiver.url}/later` });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await receiver.waitFor(1);
      await webhooks.close();
      const [record] = webhooks.deliveries();
      expect(record?.status).toBe('failed');
      expect(record?.attempts).toHaveLength(1);
      expect(webhooks.deliver('room.ended', { room_name: 'r' })).toEqual([]);
    });
  });

  describe('subscriptions', () => {
    it('sends a test ping to a new subscription whatever its event filter', async () => {
      const webhooks = makeSender({ pingOnCreate: true });
      const subscription = webhooks.create({ url: `${receiver.url}/ping`, events: ['room.ended'], secret: SECRET });
      await webhooks.idle();

      const [ping] = receiver.on('/ping');
      expect(ping?.json).toEqual({ event: WEBHOOK_PING_EVENT, data: { webhook_id: subscription.id } });
      if (!ping) return;
      expect(() => verifyWebhook('meshagent', { rawBody: ping.body, headers: ping.headers, secrets: [SECRET] })).not.toThrow();
      expect(webhooks.deliveries({ subscriptionId: subscription.id })[0]).toMatchObject({ event: WEBHOOK_PING_EVENT, status: 'delivered' });
    });

    it('delivers only the events a subscription selects, and everything to "*"', async () => {
      const webhooks = makeSender();
      webhooks.create({ url: `${receiver.url}/ended`, events: ['room.ended'] });
      webhooks.create({ url: `${receiver.url}/all`, events: ['*'] });
      webhooks.create({ url: `${receiver.url}/default` });
      webhooks.create({ url: `${receiver.url}/none`, events: [] });
      webhooks.deliver('room.started', { room_name: 'r', room_url: 'ws://x/rooms/r' });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await webhooks.idle();

      expect(receiver.on('/ended').map((request) => request.json.event)).toEqual(['room.ended']);
      expect(receiver.on('/all').map((request) => request.json.event)).toEqual(['room.started', 'room.ended']);
      expect(receiver.on('/default').map((request) => request.json.event)).toEqual(['room.started', 'room.ended']);
      expect(receiver.on('/none')).toHaveLength(0);
    });

    it('merges the subscription payload into data, the event fields winning', async () => {
      const webhooks = makeSender();
      webhooks.create({ url: `${receiver.url}/payload`, payload: { team: 'a', room_name: 'spoofed' } });
      webhooks.deliver('room.ended', { room_name: 'real' });
      await webhooks.idle();
      expect(receiver.requests[0]?.json).toEqual({ event: 'room.ended', data: { team: 'a', room_name: 'real' } });
    });

    it('turns room.started into a room.call handoff for a "call" subscription', async () => {
      const minted: { room: string; name: string }[] = [];
      const webhooks = makeSender({
        mintCallToken: (input) => {
          minted.push(input);
          return `jwt-for-${input.name}`;
        },
      });
      webhooks.create({ url: `${receiver.url}/call`, name: 'adder', action: 'call', payload: { a: 1 } });
      webhooks.deliver('room.started', { room_name: 'r', room_url: 'ws://x/rooms/r' });
      webhooks.deliver('room.ended', { room_name: 'r' });
      await webhooks.idle();

      expect(minted).toEqual([{ room: 'r', name: 'adder' }]);
      expect(receiver.requests.map((request) => request.json)).toEqual([
        { event: 'room.call', data: { room_name: 'r', room_url: 'ws://x/rooms/r', token: 'jwt-for-adder', arguments: { a: 1 } } },
        { event: 'room.ended', data: { a: 1, room_name: 'r' } },
      ]);
    });

    it('updates, lists and deletes subscriptions; an update without a secret keeps it', async () => {
      const webhooks = makeSender();
      const created = webhooks.create({ url: `${receiver.url}/one`, secret: SECRET, name: 'one' });
      const updated = webhooks.update(created.id, { url: `${receiver.url}/two`, name: 'two', events: ['room.ended'] });
      expect(updated).toMatchObject({ id: created.id, name: 'two', url: `${receiver.url}/two`, events: ['room.ended'], secret: SECRET });
      expect(webhooks.update(created.id, { url: `${receiver.url}/two`, secret: null }).secret).toBeNull();
      expect(webhooks.list().map((subscription) => subscription.id)).toEqual([created.id]);
      expect(webhooks.subscriptionForUrl(`${receiver.url}/two`)?.id).toBe(created.id);
      expect(webhooks.delete(created.id)).toBe(true);
      expect(webhooks.delete(created.id)).toBe(false);
      expect(webhooks.list()).toEqual([]);
    });

    it('refuses bad input with RR_EMULATOR_BAD_REQUEST naming the field', () => {
      const webhooks = makeSender();
      const attempt = (input: unknown): string => {
        try {
          webhooks.create(input as never);
        } catch (error) {
          expect(isRoomrunnerError(error, 'RR_EMULATOR_BAD_REQUEST')).toBe(true);
          return (error as Error).message;
        }
        throw new Error('expected a failure');
      };
      expect(attempt({ url: 'ftp://example.com/hook' })).toContain('`url`');
      expect(attempt({ url: 'http://x/hook', scheme: 'rot13' })).toContain('`scheme`');
      expect(attempt({ url: 'http://x/hook', scheme: 'standard-webhooks', secret: 'not base64!' })).toContain('`secret`');
      expect(attempt({ url: 'http://x/hook', events: 'room.started' })).toContain('`events`');
      expect(attempt({ url: 'http://x/hook', action: 'dial' })).toContain('`action`');
      expect(attempt({ url: 'http://x/hook', header: 'X-Sig' })).toContain('`header`');
    });

    it('throws RR_EMULATOR_WEBHOOK_NOT_FOUND for an unknown id', () => {
      const webhooks = makeSender();
      expect(() => webhooks.update('nope', { url: 'http://x/' })).toThrow(expect.objectContaining({ code: 'RR_EMULATOR_WEBHOOK_NOT_FOUND' }));
      expect(() => webhooks.ping('nope')).toThrow(expect.objectContaining({ code: 'RR_EMULATOR_WEBHOOK_NOT_FOUND' }));
    });

    it('generates secrets each scheme accepts', () => {
      expect(generateWebhookSecret('standard-webhooks')).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
      expect(generateWebhookSecret('meshagent')).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  describe('direct deliveries', () => {
    it('deliverTo resolves with the final record, signed with the given secret', async () => {
      const webhooks = makeSender();
      receiver.script('/call', [500]);
      const record = await webhooks.deliverTo(`${receiver.url}/call`, 'room.call', { room_name: 'r', token: 't' }, { secret: SECRET });
      expect(record).toMatchObject({ subscriptionId: null, status: 'delivered', event: 'room.call' });
      expect(record.attempts).toHaveLength(2);
      const request = receiver.requests[1];
      if (!request) throw new Error('no request');
      expect(() => verifyWebhook('meshagent', { rawBody: request.body, headers: request.headers, secrets: [SECRET] })).not.toThrow();

      const unsigned = await webhooks.deliverTo(`${receiver.url}/call`, 'room.call', { room_name: 'r' });
      expect(unsigned.status).toBe('delivered');
      expect(receiver.requests[2]?.headers['meshagent-signature']).toBeUndefined();
    });

    it('fails a delivery at once, without sending it, when the secret does not suit the scheme', async () => {
      const webhooks = makeSender();
      const record = await webhooks.deliverTo(`${receiver.url}/call`, 'room.call', {}, { scheme: 'standard-webhooks', secret: 'not base64!' });
      expect(record.status).toBe('failed');
      expect(record.attempts).toHaveLength(1);
      expect(record.attempts[0]?.error).toContain('cannot sign with the standard-webhooks scheme');
      expect(receiver.requests).toHaveLength(0);
    });
  });
});
