/**
 * Fault suite, PostgreSQL restarted mid-run. A WebhookServer on a PostgresStore whose server is a
 * PRIVATE one (./private-postgres.ts), never the machine's shared cluster that other files use in parallel.
 * Signed deliveries are posted continuously, as the platform would (a 503 is retried with backoff); the server
 * is stopped mid-run and started again once the outage has been seen by both /readyz and a delivery. After it,
 * every delivery was accepted, is in the ledger exactly once, and ran its hook exactly once.
 *
 * Without initdb/pg_ctl the file skips loudly, or FAILS when ROOMRUNNER_REQUIRE_POSTGRES=1 (CI).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import type { RoomStartedEvent } from '../../src/webhooks/events.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres.js';
import { watchProcessFaults } from './support.js';

const REQUIRED = process.env['ROOMRUNNER_REQUIRE_POSTGRES'] === '1';
const SECRET = 'pg-restart-secret';
const DELIVERIES = 60;
/** Deliveries from this index on start only once the server is down, so the outage is sure to meet some. */
const FIRST_AFTER_STOP = 24;
const SENDERS = 8;
const REQUEST_DEADLINE_MS = 10_000;
/** A sender that gets more 503s than this in a row for one delivery gives up (the test then fails). */
const MAX_ATTEMPTS = 1_000;

let postgres: PrivatePostgres | undefined;
let unavailable: string | undefined;
try {
  postgres = await startPrivatePostgres();
} catch (error) {
  unavailable = error instanceof Error ? error.message : String(error);
}

interface Sent {
  readonly room: string;
  /** Every HTTP status, in order. */
  readonly statuses: number[];
  /** The body of the 200. */
  accepted?: { ok?: boolean; duplicate?: boolean };
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => (resolve = res));
  return { promise, resolve };
}

if (postgres === undefined) {
  const message = `no private PostgreSQL server could be started (${unavailable ?? 'unknown reason'})`;
  if (REQUIRED) {
    describe('PostgreSQL restarted mid-run', () => {
      it('starts a private PostgreSQL server (ROOMRUNNER_REQUIRE_POSTGRES=1)', () => {
        throw new Error(`${message}: install PostgreSQL (initdb, pg_ctl) or set ROOMRUNNER_PG_BIN`);
      });
    });
  } else {
    console.warn(`\n*** SKIPPING the PostgreSQL restart fault test: ${message}. Set ROOMRUNNER_REQUIRE_POSTGRES=1 to fail instead. ***\n`);
    describe.skip('PostgreSQL restarted mid-run (no server)', () => {
      it('needs initdb and pg_ctl', () => undefined);
    });
  }
} else {
  const pg = postgres;
  watchProcessFaults();
  afterAll(async () => {
    await pg.destroy();
  });

  describe('PostgreSQL restarted mid-run', () => {
    it('accepts every delivery exactly once across the restart, with readiness false while it is down and true after', async () => {
      const store = await PostgresStore.open({ connectionString: pg.url, connectTimeoutMs: 2_000, pingTimeoutMs: 1_000, max: 4 });
      const hooks = new Map<string, number>();
      const server = new WebhookServer({
        config: loadConfig({}, {}),
        port: 0,
        host: '127.0.0.1',
        secrets: [SECRET],
        logger: silentLogger(),
        defaultMetrics: false,
        store,
        onRoomStarted: (event: RoomStartedEvent) => {
          hooks.set(event.roomName, (hooks.get(event.roomName) ?? 0) + 1);
        },
      });
      try {
        const base = (await server.start()).url;
        const readiness = async (): Promise<{ status: number; body: { ready?: boolean; reasons?: string[] } }> => {
          const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(REQUEST_DEADLINE_MS) });
          return { status: response.status, body: (await response.json()) as { ready?: boolean; reasons?: string[] } };
        };
        expect(await readiness()).toEqual({ status: 200, body: { ready: true } });

        // --- the platform: every delivery is retried on 503 with backoff until it is accepted ---
        const sent: Sent[] = [];
        let accepted = 0;
        const enoughBeforeStop = deferred();
        const outage = deferred();
        const refusedDuringOutage = deferred();
        const deliver = async (i: number): Promise<void> => {
          if (i >= FIRST_AFTER_STOP) await outage.promise;
          const room = `pg-${i}`;
          const body = pythonDumps({ event: 'room.started', data: { room_name: room, room_url: `ws://127.0.0.1:1/rooms/${room}`, session_id: `s-${i}` } });
          const headers = { 'content-type': 'application/json', ...signWebhook('meshagent', { body, secret: SECRET }) };
          const record: Sent = { room, statuses: [] };
          sent.push(record);
          for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            const response = await fetch(`${base}/webhook`, { method: 'POST', body, headers, signal: AbortSignal.timeout(REQUEST_DEADLINE_MS) });
            const answer = (await response.json()) as { ok?: boolean; duplicate?: boolean; error?: { code?: string } };
            record.statuses.push(response.status);
            if (response.status === 200) {
              record.accepted = answer;
              if (++accepted >= FIRST_AFTER_STOP / 2) enoughBeforeStop.resolve();
              return;
            }
            expect({ status: response.status, code: answer.error?.code, retryAfter: response.headers.get('retry-after') }).toEqual({
              status: 503,
              code: 'RR_STORE_UNAVAILABLE',
              retryAfter: '5',
            });
            refusedDuringOutage.resolve();
            // A real sender honours Retry-After (5 s); a shorter backoff keeps the test short.
            await sleep(Math.min(200, 10 * 2 ** attempt));
          }
          throw new Error(`${room} was refused ${MAX_ATTEMPTS} times`);
        };
        let next = 0;
        const senders = Promise.all(
          Array.from({ length: SENDERS }, async () => {
            while (next < DELIVERIES) await deliver(next++);
          }),
        );
        // Awaited below; a sender's failure must not count as an unhandled rejection meanwhile.
        senders.catch(() => undefined);

        // --- the restart, mid-run ---
        await enoughBeforeStop.promise;
        await pg.stop('fast');
        outage.resolve();
        const downAnswers: Array<{ status: number; reasons?: string[] }> = [];
        for (;;) {
          const { status, body } = await readiness();
          downAnswers.push({ status, ...(body.reasons ? { reasons: body.reasons } : {}) });
          if (status === 503) break;
          await sleep(10);
        }
        expect(downAnswers.at(-1)).toEqual({ status: 503, reasons: ['store unavailable'] });
        await refusedDuringOutage.promise;
        await pg.start();
        for (;;) {
          const { status, body } = await readiness();
          if (status === 200) {
            expect(body).toEqual({ ready: true });
            break;
          }
          expect(body.reasons).toEqual(['store unavailable']);
          await sleep(10);
        }

        // --- afterwards: everything accepted once, recorded once, dispatched once ---
        await senders;
        await server.idle();
        expect(sent).toHaveLength(DELIVERIES);
        expect(sent.filter((s) => s.statuses.includes(503)).length).toBeGreaterThan(0);
        for (const delivery of sent) {
          expect({ room: delivery.room, accepted: delivery.accepted }).toEqual({ room: delivery.room, accepted: { ok: true } });
          expect(delivery.statuses.filter((status) => status === 200)).toHaveLength(1);
        }
        const ledger = await store.listDeliveries({ limit: 10_000 });
        expect(ledger.map((d) => d.room).sort()).toEqual(sent.map((s) => s.room).sort());
        expect(new Set(ledger.map((d) => d.key)).size).toBe(DELIVERIES);
        // A hook that finished while the server was down could not write its outcome: that row stays pending.
        for (const row of ledger) expect(['processed', 'pending']).toContain(row.result);
        expect(Object.fromEntries(hooks)).toEqual(Object.fromEntries(sent.map((s) => [s.room, 1])));
      } finally {
        await server.close();
        await store.close();
      }
    });
  });
}
