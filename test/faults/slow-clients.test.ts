/**
 * `roomrunner serve` as a process against slow and idle clients: never-finished bodies are cut off
 * within the request timeout, idle connections beyond the cap do not lock out the platform or the load
 * balancer, and through all of it signed webhooks and /readyz are answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { buildMeshagentDelivery } from '../../src/webhooks/signatures/index.js';
import { openRaw, requestRaw, within, type RawClient } from '../support/raw-http.js';
import { startServeProcess, type ServingProcess } from '../support/serve-process.js';

const WEBHOOK_SECRET = 'slow-clients-webhook-secret';
const REQUEST_TIMEOUT_MS = 1_000;
const MAX_CONNECTIONS = 40;
/** A bound on waiting (the timeout, plus node's check period, plus a loaded machine), never a timing assertion. */
const WAIT_BOUND_MS = REQUEST_TIMEOUT_MS + 15_000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const open = (port: number, send?: string): Promise<RawClient> => openRaw(port, send, (socket) => cleanups.push(() => socket.destroy()));
const bounded = <T>(work: Promise<T>, what: string): Promise<T> => within(work, what, WAIT_BOUND_MS);

async function startServe(apiUrl: string): Promise<ServingProcess & { port: number }> {
  const args = ['--data-dir', 'memory://', '--request-timeout-ms', String(REQUEST_TIMEOUT_MS), '--max-connections', String(MAX_CONNECTIONS)];
  const serve = await startServeProcess(
    args,
    {
      MESHAGENT_API_URL: apiUrl,
      MESHAGENT_SECRET: 'slow-clients-secret',
      MESHAGENT_PROJECT_ID: 'slow-clients-project',
      MESHAGENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      ROOMRUNNER_HEADERS_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    },
    (cleanup) => cleanups.push(cleanup),
  );
  return { ...serve, port: Number(new URL(serve.url).port) };
}

/**
 * Each request goes on a new connection: a pooled keep-alive one (what `fetch` would reuse) is the longest idle
 * connection once the cap is reached, so the cap may close it just as a request is written to it.
 */
async function request(
  port: number,
  method: string,
  path: string,
  body?: string,
  headers?: Record<string, string>,
): Promise<{ status: number; body: unknown }> {
  const answer = await requestRaw(port, { method, path, ...(body === undefined ? {} : { body }), ...(headers === undefined ? {} : { headers }) }, (socket) =>
    cleanups.push(() => socket.destroy()),
  );
  return { status: answer.status, body: JSON.parse(answer.body) as unknown };
}

async function deliverSigned(port: number, room: string): Promise<{ status: number; body: unknown }> {
  const { body, headers } = buildMeshagentDelivery({ event: 'room.ended', data: { room_name: room } }, WEBHOOK_SECRET);
  return request(port, 'POST', '/webhook', body, headers);
}

describe('roomrunner serve under slow and idle clients', () => {
  it('cuts off 20 never-finished bodies while a signed webhook is answered, and stays open beyond its connection cap', async () => {
    const emulator = await startEmulator({ port: 0, secret: 'slow-clients-secret', projectId: 'slow-clients-project' });
    cleanups.push(() => emulator.close());
    const { port, child, exited } = await startServe(emulator.url);

    // 20 bodies announced at 1 MB, of which a few bytes arrive, and then nothing.
    const head = 'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n';
    const slow = await Promise.all(Array.from({ length: 20 }, () => open(port, `${head}{"event": "room.started", "data": {"room_name": "`)));
    expect(await deliverSigned(port, 'answered-meanwhile')).toStrictEqual({ status: 200, body: { ok: true } });
    const answers = await bounded(Promise.all(slow.map((client) => client.closed)), 'the never-finished bodies were not cut off');
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408 /);

    // Three times the cap in connections that say nothing.
    for (let i = 0; i < MAX_CONNECTIONS * 3; i++) await open(port);
    expect(await request(port, 'GET', '/readyz')).toStrictEqual({ status: 200, body: { ready: true } });
    expect(await deliverSigned(port, 'answered-beyond-the-cap')).toStrictEqual({ status: 200, body: { ok: true } });

    // The drain ends the silent connections left over: node stops timing them out once the server closes.
    child.kill('SIGTERM');
    expect(await bounded(exited, 'serve did not exit after SIGTERM')).toBe(0);
  }, 180_000); // start-up alone can take a minute on a loaded two-core machine
});
