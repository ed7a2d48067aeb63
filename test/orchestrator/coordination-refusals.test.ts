/**
 * Coordinated mode and final refusals: a room the room server refuses for good (423, the room is disabled) stays
 * `failed` on the replica that owns it. It is neither retried on every heartbeat nor handed to a peer that would
 * be refused the same way, for ever.
 */
import { PGlite } from '@electric-sql/pglite';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { PgliteStore } from '../../src/store/pglite-store.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { startWedgedRoomServer } from '../support/wedged-room-server.js';

const WEBHOOK_SECRET = 'refusals-webhook-secret';
const HEARTBEAT_MS = 100;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('coordinated mode with a room that refuses us', () => {
  it('keeps a room refused with 423 failed for good instead of retrying it on every sync', async () => {
    const refusing = await startWedgedRoomServer({ kind: 'refuse', status: 423 });
    cleanups.push(() => refusing.close());
    const pglite = await PGlite.create();
    cleanups.push(() => pglite.close());
    const config = loadConfig(
      {
        secret: 'refusals-room-secret',
        apiUrl: refusing.url.replace('ws:', 'http:'),
        webhookSecrets: [WEBHOOK_SECRET],
        port: 0,
        host: '127.0.0.1',
        logLevel: 'silent',
      },
      {},
    );
    const server = new RemoteTaskRunnerServer({
      agents: [adder],
      config,
      store: await PgliteStore.open({ pglite }),
      replicaId: 'only',
      leaseMs: 1_000,
      heartbeatIntervalMs: HEARTBEAT_MS,
      reconcileIntervalMs: 0,
      defaultMetrics: false,
      retry: { retries: 3, minTimeoutMs: 5, maxTimeoutMs: 20, attemptTimeoutMs: 5_000 },
    });
    const { url } = await server.start();
    cleanups.push(() => server.close());

    const body = pythonDumps({ event: 'room.started', data: { room_name: 'disabled' } });
    const headers = signWebhook('meshagent', { body, secret: WEBHOOK_SECRET });
    const response = await fetch(`${url}/webhook`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
    expect(response.status).toBe(200);
    await vi.waitFor(() => expect(server.attachments.failedFinally('disabled')).toBe(true), { timeout: 20_000 });

    // Many syncs later (each would have retried a failed room, and two failures would have handed it on):
    // still the one upgrade, still failed with the reason.
    await new Promise((resolve) => setTimeout(resolve, 20 * HEARTBEAT_MS));
    expect(refusing.upgrades).toEqual(['/rooms/disabled']);
    expect(server.attachments.state('disabled')).toBe('failed');
    expect(server.attachments.lastError('disabled')).toContain('status 423');
  }, 90_000); // PGlite start-up and migrations are slow on a loaded machine
});
