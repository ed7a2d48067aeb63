/**
 * The store contract against SQLite, in memory and in a directory, plus what only SQLite has: the durability
 * pragmas read back, one transaction per event-loop turn, and a write that fails alone. It runs on the driver
 * this Node has: `node:sqlite` (Node 24) or better-sqlite3 (Node 20, a dev dependency here), so CI's two runs
 * cover both. Without either the suite is skipped loudly, or FAILS when ROOMRUNNER_REQUIRE_SQLITE=1 (CI).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { MEMORY_DATA_DIR, PRUNE_CHUNK, SQLITE_FILE_NAME, SqliteStore } from '../../src/store/sqlite-store.js';
import { BUSY_TIMEOUT_MS, SQLITE_MIGRATIONS, configure, migrateSqlite, sqliteAvailable, sqliteDriver, sqliteMissingReason } from '../../src/store/sqlite.js';
import type { NewDelivery } from '../../src/store/store.js';
import { runStoreContract, type ContractStore } from './contract.js';

const REQUIRED = process.env['ROOMRUNNER_REQUIRE_SQLITE'] === '1';

const delivery = (key: string, overrides: Partial<NewDelivery> = {}): NewDelivery => ({
  key,
  event: 'room.started',
  room: 'room-s',
  scheme: 'meshagent',
  body: `{"key":"${key}"}`,
  receivedAt: new Date('2026-03-01T12:00:00.000Z'),
  ...overrides,
});

if (!sqliteAvailable()) {
  const message = sqliteMissingReason();
  if (REQUIRED) {
    describe('SqliteStore', () => {
      it('runs where there is a SQLite driver (ROOMRUNNER_REQUIRE_SQLITE=1)', () => {
        throw new Error(`${message}: run npm ci (it installs better-sqlite3), or Node 24`);
      });
    });
  } else {
    console.warn(`\n*** SKIPPING the SQLite store tests: ${message}. Set ROOMRUNNER_REQUIRE_SQLITE=1 to fail instead. ***\n`);
    describe.skip('SqliteStore (no SQLite driver)', () => {
      it('needs node:sqlite or better-sqlite3', () => undefined);
    });
  }
} else {
  const dirs: string[] = [];
  const newDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'roomrunner-sqlite-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  const peer = (of: ContractStore): Promise<SqliteStore> => SqliteStore.open({ database: (of as SqliteStore).database });

  runStoreContract(
    'SQLite (memory://)',
    async (options) => (options?.peerOf === undefined ? SqliteStore.open({ dataDir: MEMORY_DATA_DIR }) : peer(options.peerOf)),
    (store) => store.close(),
  );

  runStoreContract(
    'SQLite (directory)',
    async (options) => (options?.peerOf === undefined ? SqliteStore.open({ dataDir: await newDir() }) : peer(options.peerOf)),
    (store) => store.close(),
  );

  describe('SqliteStore in a directory', () => {
    it('sets WAL, synchronous=FULL, a busy timeout and foreign keys, and the file says so to a second connection', async () => {
      const dir = await newDir();
      const store = await SqliteStore.open({ dataDir: dir });
      try {
        expect(store.database.pragmas).toMatchObject({ journalMode: 'wal', synchronous: 2, busyTimeoutMs: BUSY_TIMEOUT_MS, foreignKeys: true });
        expect(store.database.connection.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 2 });
        // WAL is a property of the file: another connection reads it back.
        const other = sqliteDriver()!.open(join(dir, SQLITE_FILE_NAME));
        try {
          expect({ ...other.prepare('PRAGMA journal_mode').get() }).toEqual({ journal_mode: 'wal' });
        } finally {
          other.close();
        }
      } finally {
        await store.close();
      }
    });

    it('refuses a connection on which WAL does not take, saying which pragma failed', async () => {
      const dir = await newDir();
      const connection = sqliteDriver()!.open(join(dir, 'in-a-transaction.sqlite'));
      try {
        // SQLite does not change the journal mode inside a transaction: the mode stays `delete`.
        connection.exec('BEGIN');
        connection.exec('CREATE TABLE t (a INTEGER)');
        const err = (() => {
          try {
            configure(connection, { inMemory: false, path: dir });
            return undefined;
          } catch (e) {
            return e;
          }
        })();
        expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE')).toBe(true);
        expect((err as Error).message).toContain('journal_mode is delete, not wal');
      } finally {
        connection.close();
      }
    });

    it('writes the deliveries of one event-loop turn in one transaction, and answers each as it would alone', async () => {
      const store = await SqliteStore.open({ dataDir: await newDir() });
      try {
        await store.recordDelivery(delivery('warm'), 60_000);
        const before = store.database.commits;
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.recordDelivery(delivery(`turn-${i % 25}`, { body: `b${i}` }), 60_000)));
        expect(store.database.commits - before).toBe(1);
        expect(results.filter((result) => !result.duplicate)).toHaveLength(25);
        for (const [i, result] of results.entries()) expect(result.record.body).toBe(`b${i % 25}`);
      } finally {
        await store.close();
      }
    });

    it('fails only the write that failed in a shared transaction; the others are committed', async () => {
      const store = await SqliteStore.open({ dataDir: await newDir() });
      try {
        // A null event breaks the NOT NULL constraint inside that write's savepoint.
        const broken = { ...delivery('broken'), event: null } as unknown as NewDelivery;
        const [good, bad, alsoGood] = await Promise.allSettled([
          store.recordDelivery(delivery('good'), 60_000),
          store.recordDelivery(broken, 60_000),
          store.recordDelivery(delivery('also-good'), 60_000),
        ]);
        expect(good.status).toBe('fulfilled');
        expect(alsoGood.status).toBe('fulfilled');
        expect(bad.status).toBe('rejected');
        expect(String((bad as PromiseRejectedResult).reason)).toContain('NOT NULL');
        expect(await store.getDelivery('good')).toMatchObject({ key: 'good' });
        expect(await store.getDelivery('also-good')).toMatchObject({ key: 'also-good' });
        expect(await store.getDelivery('broken')).toBeUndefined();
      } finally {
        await store.close();
      }
    });

    it('answers RR_STORE_UNAVAILABLE to every write of a transaction that hits a full database, and records none of them', async () => {
      const store = await SqliteStore.open({ dataDir: await newDir() });
      try {
        await store.recordDelivery(delivery('before'), 60_000);
        // SQLITE_FULL for real: the database may not grow by a page more.
        const pages = Number(store.database.connection.prepare('PRAGMA page_count').get()?.['page_count']);
        store.database.connection.exec(`PRAGMA max_page_count = ${pages}`);
        const big = 'x'.repeat(64 * 1024);
        const results = await Promise.allSettled([
          store.recordDelivery(delivery('small'), 60_000),
          store.recordDelivery(delivery('big', { body: big }), 60_000),
          store.recordDelivery(delivery('after'), 60_000),
        ]);
        for (const result of results) {
          expect(result.status).toBe('rejected');
          expect(isRoomrunnerError((result as PromiseRejectedResult).reason, 'RR_STORE_UNAVAILABLE')).toBe(true);
        }
        for (const key of ['small', 'big', 'after']) expect(await store.getDelivery(key)).toBeUndefined();

        // Room again: the store writes as before.
        store.database.connection.exec('PRAGMA max_page_count = 1073741823');
        expect((await store.recordDelivery(delivery('big', { body: big }), 60_000)).duplicate).toBe(false);
        expect(await store.getDelivery('before')).toMatchObject({ key: 'before' });
      } finally {
        await store.close();
      }
    });

    it('migrates idempotently: a second run applies nothing', async () => {
      const store = await SqliteStore.open({ dataDir: await newDir() });
      try {
        expect(migrateSqlite(store.database.connection)).toEqual([]);
        const versions = store.database.connection.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
        expect(versions.map((row) => row['version'])).toEqual(SQLITE_MIGRATIONS.map((migration) => migration.version));
      } finally {
        await store.close();
      }
    });

    it('refuses a second open of a directory in use, naming the process', async () => {
      const dir = await newDir();
      const store = await SqliteStore.open({ dataDir: dir });
      try {
        const err = await SqliteStore.open({ dataDir: dir }).catch((e: unknown) => e);
        expect(isRoomrunnerError(err, 'RR_STORE_LOCKED')).toBe(true);
        expect((err as { data: Record<string, unknown> }).data['pid']).toBe(process.pid);
      } finally {
        await store.close();
      }
    });

    it('keeps deliveries, tombstones and growing epochs across a restart of the same directory', async () => {
      const dir = await newDir();
      const receivedAt = new Date('2026-03-01T12:00:00.000Z');
      let store = await SqliteStore.open({ dataDir: dir });
      await store.recordDelivery(delivery('kept', { receivedAt }), 60_000);
      await store.finishDelivery('kept', 'processed');
      await store.markRoomEnded('r', receivedAt);
      const epoch = (await store.roomState('r'))?.epoch ?? Number.POSITIVE_INFINITY;
      await store.close();
      // As a killed container leaves it: the lock file names pid 1, but nobody holds the lock.
      await writeFile(join(dir, 'roomrunner.lock'), '1');

      store = await SqliteStore.open({ dataDir: dir });
      try {
        expect(await store.getDelivery('kept')).toMatchObject({ key: 'kept', result: 'processed', attempts: 1 });
        expect((await store.recordDelivery(delivery('kept', { receivedAt }), 60_000)).duplicate).toBe(true);
        expect(await store.getRoom('r')).toMatchObject({ status: 'ended' });
        expect(await store.markRoomStarted('r', new Date(receivedAt.getTime() + 1000), 60_000)).toBe(false);
        await store.markRoomStarted('other', receivedAt, 60_000);
        expect((await store.roomState('other'))?.epoch).toBeGreaterThan(epoch);
      } finally {
        await store.close();
      }
    });

    it('prunes more deliveries than one chunk in several short transactions, counting them all', async () => {
      const store = await SqliteStore.open({ dataDir: await newDir() });
      try {
        const old = new Date('2026-01-01T00:00:00.000Z');
        const n = 2 * PRUNE_CHUNK + 5;
        await Promise.all(Array.from({ length: n }, (_, i) => store.recordDelivery(delivery(`old-${i}`, { receivedAt: old }), 60_000)));
        await store.recordDelivery(delivery('new'), 60_000);
        const before = store.database.commits;
        expect(await store.pruneDeliveries(new Date('2026-02-01T00:00:00.000Z'))).toBe(n);
        expect(store.database.commits - before).toBe(3);
        expect((await store.listDeliveries()).map((record) => record.key)).toEqual(['new']);
      } finally {
        await store.close();
      }
    });

    it('rejects an empty data directory with RR_STORE_OPTION_INVALID', async () => {
      const err = await SqliteStore.open({ dataDir: '' }).catch((e: unknown) => e);
      expect(isRoomrunnerError(err, 'RR_STORE_OPTION_INVALID')).toBe(true);
    });
  });
}
