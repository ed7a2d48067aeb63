/**
 * Experiment behind bench/findings.md: how many deliveries per second the ledger can take when each delivery is
 * two statements (today: SqlStore.recordDelivery's INSERT … ON CONFLICT … RETURNING *, then finishDelivery's
 * UPDATE), against the same rows written in batches (one multi-row INSERT and one UPDATE … WHERE key = ANY per
 * batch), on PGlite (on disk) and PostgreSQL. No HTTP: the store alone.
 * `node --import tsx bench/experiments/ledger-batching.ts`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../../src/store/open-store.js';
import type { PgliteStore } from '../../src/store/pglite-store.js';
import type { Store } from '../../src/store/store.js';
import { createSchema } from '../lib/postgres.js';

const SECONDS = 5;
const WORKERS = 10;
const BATCH = 32;
const DAY_MS = 7 * 24 * 3600 * 1000;
type Query = (sql: string, params: unknown[]) => Promise<unknown>;

let counter = 0;
const body = '{"event":"room.started","data":{"room_name":"x","room_url":"ws://127.0.0.1:9/rooms/x"}}';

async function perDelivery(store: Store): Promise<number> {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (performance.now() < until) {
        const key = `k-${counter++}`;
        await store.recordDelivery({ key, event: 'room.started', room: key, scheme: 'meshagent', body, receivedAt: new Date() }, DAY_MS);
        await store.finishDelivery(key, 'processed', null, new Date());
        done += 1;
      }
    }),
  );
  return done / SECONDS;
}

async function batched(query: Query): Promise<number> {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (performance.now() < until) {
        const keys = Array.from({ length: BATCH }, () => `b-${counter++}`);
        const values: string[] = [];
        const params: unknown[] = [];
        const now = new Date();
        keys.forEach((key, i) => {
          values.push(`($${i * 3 + 1}, 'room.started', $${i * 3 + 2}, 'meshagent', $${i * 3 + 3}, now(), 'pending', 0, NULL, now())`);
          params.push(key, key, body);
        });
        await query(
          `INSERT INTO deliveries (key, event, room, scheme, body, received_at, result, attempts, last_error, updated_at) VALUES ${values.join(', ')} ON CONFLICT (key) DO NOTHING RETURNING key`,
          params,
        );
        await query(`UPDATE deliveries SET result = 'processed', attempts = attempts + 1, updated_at = $2 WHERE key = ANY($1)`, [keys, now]);
        done += BATCH;
      }
    }),
  );
  return done / SECONDS;
}

const dir = mkdtempSync(join(tmpdir(), 'rr-exp-ledger-'));
const pglite = (await openStore({ dataDir: dir })) as PgliteStore;
console.log(`PGlite (on disk), ${WORKERS} workers: ${(await perDelivery(pglite)).toFixed(0)} deliveries/s as two statements each`);
console.log(
  `PGlite (on disk), ${WORKERS} workers: ${(await batched((sql, params) => pglite.pglite.query(sql, params))).toFixed(0)} deliveries/s in batches of ${BATCH}`,
);
await pglite.close();
rmSync(dir, { recursive: true, force: true });

const schema = await createSchema('exp');
try {
  const postgres = await openStore({ databaseUrl: schema.url });
  console.log(`PostgreSQL, ${WORKERS} workers:       ${(await perDelivery(postgres)).toFixed(0)} deliveries/s as two statements each`);
  await postgres.close();
  const pool = new pg.Pool({ connectionString: schema.url, max: WORKERS });
  console.log(
    `PostgreSQL, ${WORKERS} workers:       ${(await batched((sql, params) => pool.query(sql, params))).toFixed(0)} deliveries/s in batches of ${BATCH}`,
  );
  await pool.end();
} finally {
  await schema.drop();
}
process.exit(0);
