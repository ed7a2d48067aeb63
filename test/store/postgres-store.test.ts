/**
 * The store contract against a real PostgreSQL server, plus what only a server can show: replicas migrating
 * at once, and connections killed under the store (a server restart as the store sees it).
 *
 * TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). Each run works in a fresh schema
 * (search_path via the connection string) dropped afterwards, so parallel runs do not collide. When the
 * server cannot be reached the suite is skipped loudly, or FAILS when ROOMRUNNER_REQUIRE_POSTGRES=1 (CI).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { PostgresStore, isServerDownError } from '../../src/store/postgres-store.js';
import { openStore } from '../../src/store/open-store.js';
import { MIGRATIONS } from '../../src/store/sql.js';
import type { NewDelivery } from '../../src/store/store.js';
import { runStoreContract, type ContractStore } from './contract.js';

const DATABASE_URL = process.env['TEST_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRED = process.env['ROOMRUNNER_REQUIRE_POSTGRES'] === '1';
const SCHEMA = `rr_test_${process.pid}_${randomBytes(4).toString('hex')}`;

/** The URL with a search_path and an application_name (which the kill test uses to pick its victims). */
function urlFor(schema: string, applicationName: string): string {
  const url = new URL(DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  url.searchParams.set('application_name', applicationName);
  return url.toString();
}

function redacted(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

async function reach(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message || String((err as { code?: unknown }).code) : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('openStore', () => {
  it('rejects a database URL that is not postgres: with RR_STORE_OPTION_INVALID', async () => {
    const err = await openStore({ databaseUrl: 'mysql://localhost/db' }).catch((e: unknown) => e);
    expect(isRoomrunnerError(err, 'RR_STORE_OPTION_INVALID')).toBe(true);
  });
});

const unreachable = await reach();

if (unreachable !== undefined) {
  const message = `PostgreSQL at ${redacted(DATABASE_URL)} is unreachable (${unreachable})`;
  if (REQUIRED) {
    describe('PostgresStore', () => {
      it('reaches the PostgreSQL server (ROOMRUNNER_REQUIRE_POSTGRES=1)', () => {
        throw new Error(`${message}: set TEST_DATABASE_URL to a running server`);
      });
    });
  } else {
    console.warn(`\n*** SKIPPING the PostgreSQL store tests: ${message}. Set TEST_DATABASE_URL, or ROOMRUNNER_REQUIRE_POSTGRES=1 to fail instead. ***\n`);
    describe.skip('PostgresStore (no server)', () => {
      it('needs a PostgreSQL server', () => undefined);
    });
  }
} else {
  let admin: pg.Client;
  const schemas = [SCHEMA];

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: DATABASE_URL, application_name: `${SCHEMA}_admin` });
    admin.on('error', () => undefined);
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  });

  afterAll(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  let replicaCount = 0;
  const factory = async (options?: { peerOf?: ContractStore }): Promise<ContractStore> => {
    const store = await PostgresStore.open({ connectionString: urlFor(SCHEMA, `${SCHEMA}_contract_${replicaCount++}`), max: 4 });
    if (options?.peerOf === undefined) await admin.query(`TRUNCATE ${SCHEMA}.deliveries, ${SCHEMA}.rooms, ${SCHEMA}.replicas`);
    return store;
  };
  runStoreContract('PostgreSQL', factory, (store) => store.close());

  describe('PostgresStore on a live server', () => {
    const delivery = (key: string): NewDelivery => ({
      key,
      event: 'room.started',
      room: 'room-k',
      scheme: 'meshagent',
      body: `{"key":"${key}"}`,
      receivedAt: new Date('2026-03-01T12:00:00.000Z'),
    });

    /** Kills every connection of one application_name, as a server restart would. */
    async function killConnections(applicationName: string): Promise<number> {
      const { rows } = await admin.query<{ killed: boolean }>(
        'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1',
        [applicationName],
      );
      return rows.filter((row) => row.killed).length;
    }

    /** Retries `fn` until it succeeds; every failure on the way must be RR_STORE_UNAVAILABLE. */
    async function untilUp<T>(fn: () => Promise<T>): Promise<{ value: T; failures: number }> {
      for (let failures = 0; ; failures++) {
        try {
          return { value: await fn(), failures };
        } catch (err) {
          expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE'), String(err)).toBe(true);
          expect(failures).toBeLessThan(100);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }

    it('migrates safely when several replicas start at once', async () => {
      const schema = `${SCHEMA}_m`;
      schemas.push(schema);
      await admin.query(`CREATE SCHEMA ${schema}`);
      const stores = await Promise.all(Array.from({ length: 5 }, (_, i) => PostgresStore.open({ connectionString: urlFor(schema, `${schema}_${i}`), max: 2 })));
      const { rows } = await admin.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
      expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
      await Promise.all(stores.map((store) => store.close()));
    });

    it('opens through openStore when a database URL is given', async () => {
      const store = await openStore({ databaseUrl: urlFor(SCHEMA, `${SCHEMA}_open`) });
      expect(store.engine).toBe('postgres');
      await store.ping();
      await store.close();
    });

    it('fails to open with RR_STORE_UNAVAILABLE when no server listens', async () => {
      const err = await PostgresStore.open({ connectionString: 'postgres://postgres@127.0.0.1:1/test', connectTimeoutMs: 2_000 }).catch((e: unknown) => e);
      expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).cause).toBeDefined();
    });

    it('tells a dropped connection from a statement error', async () => {
      const statementError = await admin.query('SELECT 1 / 0').catch((e: unknown) => e);
      expect(isServerDownError(statementError)).toBe(false);
      expect(isServerDownError(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
      expect(isServerDownError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true);
      expect(isServerDownError(new Error('Connection terminated unexpectedly'))).toBe(true);
    });

    it('survives its connections being killed: calls fail with RR_STORE_UNAVAILABLE or succeed, LISTEN comes back, nothing is half-recorded', async () => {
      const appName = `${SCHEMA}_victim`;
      const store = await PostgresStore.open({ connectionString: urlFor(SCHEMA, appName), listenReconnect: { minMs: 10, maxMs: 200 } });
      const peer = await PostgresStore.open({ connectionString: urlFor(SCHEMA, `${SCHEMA}_peer`) });
      try {
        await admin.query(`TRUNCATE ${SCHEMA}.deliveries, ${SCHEMA}.rooms, ${SCHEMA}.replicas`);
        const changes: Array<string | null> = [];
        let wake = (): void => undefined;
        const seen = (predicate: (change: string | null) => boolean): Promise<void> =>
          new Promise((resolve) => {
            wake = () => {
              if (changes.some(predicate)) resolve();
            };
            wake();
          });
        await store.onRoomsChanged((room) => {
          changes.push(room);
          wake();
        });
        await store.recordDelivery(delivery('before'), 60_000);
        // Several pooled connections, so that several of them die.
        await Promise.all(Array.from({ length: 6 }, (_, i) => store.getDelivery(`warm-${i}`)));

        expect(await killConnections(appName)).toBeGreaterThan(1); // pooled connections and the LISTEN one

        // Each call either fails with RR_STORE_UNAVAILABLE (a dead pooled connection) or succeeds.
        const failedKeys: string[] = [];
        for (let i = 0; i < 8; i++) {
          const key = `during-${i}`;
          try {
            await store.recordDelivery(delivery(key), 60_000);
          } catch (err) {
            expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE'), String(err)).toBe(true);
            expect((err as Error).cause).toBeDefined();
            failedKeys.push(key);
          }
        }
        await untilUp(() => store.ping());

        // Nothing half-recorded: a failed record left either no row or a whole one.
        for (const key of failedKeys) {
          const row = await store.getDelivery(key);
          if (row !== undefined) expect(row).toMatchObject({ key, body: `{"key":"${key}"}`, result: 'pending', attempts: 0 });
        }
        expect(await store.getDelivery('before')).toMatchObject({ key: 'before' });

        // LISTEN comes back: a change event after the reconnect, then later notifications arrive again.
        await seen((change) => change === null);
        await peer.markRoomStarted('after-restart', new Date(), 60_000);
        await seen((change) => change === 'after-restart');
      } finally {
        await store.close();
        await peer.close();
      }
    }, 60_000);

    it('rolls a transaction back whole when its connection dies half-way', async () => {
      const appName = `${SCHEMA}_halfway`;
      const store = await PostgresStore.open({ connectionString: urlFor(SCHEMA, appName) });
      const locker = new pg.Client({ connectionString: urlFor(SCHEMA, `${SCHEMA}_locker`) });
      locker.on('error', () => undefined);
      await locker.connect();
      try {
        await admin.query(`TRUNCATE ${SCHEMA}.deliveries, ${SCHEMA}.rooms, ${SCHEMA}.replicas`);
        for (const room of ['h1', 'h2']) await store.markRoomStarted(room, new Date(), 60_000);
        await store.registerReplica('half', 2);
        const claimed = await store.claimRooms('half', { capacity: 2, leaseMs: 60_000 });
        expect(claimed).toHaveLength(2);

        // Hold h2 so deregisterReplica stops inside its transaction: replica row locked, h1 released, h2 waiting.
        await locker.query('BEGIN');
        await locker.query(`SELECT room FROM rooms WHERE room = 'h2' FOR UPDATE`);
        const deregistering = store.deregisterReplica('half').then(
          () => undefined,
          (e: unknown) => e,
        );
        for (;;) {
          const { rows } = await admin.query(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE 'UPDATE rooms%'`,
            [appName],
          );
          if (rows.length > 0) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await killConnections(appName);
        const err = await deregistering;
        expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE'), String(err)).toBe(true);
        await locker.query('ROLLBACK');

        // Nothing of the transaction remains: the replica is still there and still owns both rooms.
        const { value: owned } = await untilUp(() => store.ownedRooms('half'));
        expect(owned.map((room) => [room.room, room.epoch])).toEqual(claimed.map((room) => [room.room, room.epoch]));
        expect((await store.listReplicas()).map((replica) => replica.id)).toEqual(['half']);

        await untilUp(() => store.deregisterReplica('half'));
        expect(await store.ownedRooms('half')).toEqual([]);
      } finally {
        await locker.end().catch(() => undefined);
        await store.close();
      }
    }, 60_000);
  });
}
