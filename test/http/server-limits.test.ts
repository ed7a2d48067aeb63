/**
 * The HTTP server's timeouts and connection cap on a real socket: slow and idle clients are cut off or pushed
 * out, their buffered bodies are dropped, and signed webhooks and health checks keep being answered.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigOverrides } from '../../src/config.js';
import { DEFAULT_HTTP_LIMITS, fastifyLimitOptions, MAX_CHECKING_INTERVAL_MS } from '../../src/http/server-limits.js';
import { silentLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { buildMeshagentDelivery } from '../../src/webhooks/signatures/index.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { openRaw, within, type RawClient } from '../support/raw-http.js';

const SECRET = 'limits-webhook-secret';
/** A bound on waiting, never an assertion of speed: far above the timeouts set below. */
const WAIT_BOUND_MS = 15_000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const open = (port: number, send?: string): Promise<RawClient> => openRaw(port, send, (socket) => cleanups.push(() => socket.destroy()));
const bounded = <T>(work: Promise<T>, what: string): Promise<T> => within(work, what, WAIT_BOUND_MS);

async function serve(overrides: ConfigOverrides): Promise<{ server: WebhookServer; url: string; port: number }> {
  const server = new WebhookServer({
    config: loadConfig(overrides, {}),
    secrets: SECRET,
    store: new MemoryStore(),
    logger: silentLogger(),
    defaultMetrics: false,
    port: 0,
    host: '127.0.0.1',
  });
  cleanups.push(() => server.close());
  const address = await server.start();
  return { server, url: address.url, port: address.port };
}

/** A POST that announces a large body and sends only its first bytes. */
function unfinishedBody(bytesSent: number): string {
  return `POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"event":"${'x'.repeat(bytesSent)}`;
}

async function deliverSigned(url: string, room: string): Promise<{ status: number; body: unknown }> {
  const { body, headers } = buildMeshagentDelivery({ event: 'room.ended', data: { room_name: room } }, SECRET);
  const response = await fetch(`${url}/webhook`, { method: 'POST', body, headers: { ...headers, 'content-type': 'application/json' } });
  return { status: response.status, body: await response.json() };
}

function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('fastifyLimitOptions', () => {
  it('keeps the headers timeout within the request timeout, as node requires', () => {
    const options = fastifyLimitOptions({ ...DEFAULT_HTTP_LIMITS, headersTimeoutMs: 60_000, requestTimeoutMs: 5_000 });
    expect(options.http).toMatchObject({ headersTimeout: 5_000, requestTimeout: 5_000 });
    expect(options.requestTimeout).toBe(5_000);
  });

  it('checks for expired requests at least once a second', () => {
    const options = fastifyLimitOptions(DEFAULT_HTTP_LIMITS);
    expect(options.http.connectionsCheckingInterval).toBeLessThanOrEqual(MAX_CHECKING_INTERVAL_MS);
    expect(options).toMatchObject({ connectionTimeout: DEFAULT_HTTP_LIMITS.idleTimeoutMs, keepAliveTimeout: 72_000, maxRequestsPerSocket: 1000 });
  });
});

describe('the HTTP server under slow clients', () => {
  it('cuts off 20 never-finished bodies with 408 within the request timeout while a signed webhook is answered', async () => {
    const { url, port } = await serve({ requestTimeoutMs: 600, headersTimeoutMs: 600 });
    const slow = await Promise.all(Array.from({ length: 20 }, () => open(port, unfinishedBody(1000))));

    expect(await deliverSigned(url, 'steady')).toStrictEqual({ status: 200, body: { ok: true } });

    const answers = await bounded(Promise.all(slow.map((client) => client.closed)), 'the unfinished bodies were not cut off');
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection that never sends its headers', async () => {
    const { port } = await serve({ requestTimeoutMs: 5_000, headersTimeoutMs: 400 });
    const silent = await open(port);
    expect(await bounded(silent.closed, 'the silent connection was not closed')).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('drops the body chunks it had buffered for a request it cut off', async () => {
    const gc = forceGc();
    const { server, port } = await serve({ requestTimeoutMs: 500, headersTimeoutMs: 500 });
    const requests: Array<WeakRef<object>> = [];
    server.buildApp().server.on('request', (request: object) => requests.push(new WeakRef(request)));
    // 8 × 256 KiB held by the body parser until the request is cut off.
    const slow = await Promise.all(Array.from({ length: 8 }, () => open(port, unfinishedBody(256 * 1024))));
    await bounded(Promise.all(slow.map((client) => client.closed)), 'the unfinished bodies were not cut off');
    expect(requests).toHaveLength(8);

    await bounded(
      (async () => {
        // A WeakRef's target stays alive for the rest of the job that deref'd it: collect in a fresh job.
        while (requests.some((ref) => ref.deref() !== undefined)) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          gc();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
      'the requests (and their buffered bodies) were never collected',
    );
  });
});

describe('the HTTP server at close', () => {
  it('ends connections that are silent or still sending, so close() does not wait for them', async () => {
    // Long timeouts: only the close can end these connections within the bound.
    const { server, port } = await serve({ headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const silent = await Promise.all(Array.from({ length: 3 }, () => open(port)));
    const sending = await open(port, unfinishedBody(10));

    await bounded(server.close(), 'close() waited for the silent connections');
    await bounded(Promise.all([...silent, sending].map((client) => client.closed)), 'a connection outlived the close');
  });
});

describe('the HTTP server over its connection cap', () => {
  it('answers a signed webhook and /readyz with three times the cap in idle connections', async () => {
    const { url, port } = await serve({ maxConnections: 10, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const idle = [];
    for (let i = 0; i < 30; i++) idle.push(await open(port));

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toStrictEqual({ ready: true });
    expect(await deliverSigned(url, 'still-answered')).toStrictEqual({ status: 200, body: { ok: true } });

    // The oldest idle connections made room; they were closed without an answer.
    const closed = await bounded(Promise.all(idle.slice(0, 20).map((client) => client.closed)), 'no idle connection was closed');
    expect(closed.every((received) => received === '')).toBe(true);
  });
});
