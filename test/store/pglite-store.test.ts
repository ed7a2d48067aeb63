import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { MEMORY_DATA_DIR, PgliteStore } from '../../src/store/pglite-store.js';
import { migrate, MIGRATIONS, type SqlClient } from '../../src/store/sql.js';
import { runStoreContract, type ContractStore } from './contract.js';

// PGlite takes seconds to start: one instance per engine variant, shared by the contract's stores (each test
// truncates the tables and opens light stores over the same instance).
const START_TIMEOUT_MS = 120_000;

function contractOver(base: () => PgliteStore) {
  const factory = async (options?: { peerOf?: ContractStore }): Promise<ContractStore> => {
    const { pglite } = base();
    if (options?.peerOf === undefined) await pglite.query('TRUNCATE deliveries, rooms, replicas');
    return PgliteStore.open({ pglite });
  };
  const cleanup = async (store: ContractStore): Promise<void> => store.close();
  return { factory, cleanup };
}

describe('PgliteStore in memory', () => {
  let base: PgliteStore;
  beforeAll(async () => {
    base = await PgliteStore.open({ dataDir: MEMORY_DATA_DIR });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await base?.close();
  });

  const { factory, cleanup } = contractOver(() => base);
  runStoreContract('PGlite (memory://)', factory, cleanup);

  it('migrates idempotently: a second migration run applies nothing', async () => {
    const over = (db: Pick<PGlite, 'query'>): SqlClient => ({
      query: async <T>(sql: string, params: readonly unknown[] = []) => db.query<T>(sql, [...params]),
      transaction: async (fn) => base.pglite.transaction((tx) => fn(over(tx))),
      listen: async () => async () => undefined,
      close: async () => undefined,
    });
    expect(await migrate(over(base.pglite))).toEqual([]);
    const { rows } = await base.pglite.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
  });

  it('does not close a PGlite instance it was given', async () => {
    const borrowed = await PgliteStore.open({ pglite: base.pglite });
    await borrowed.close();
    expect(base.pglite.closed).toBe(false);
    await base.ping();
  });
});

describe('PgliteStore in a directory', () => {
  let dir: string;
  let base: PgliteStore;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'roomrunner-pglite-'));
    base = await PgliteStore.open({ dataDir: dir });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await base?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const { factory, cleanup } = contractOver(() => base);
  runStoreContract('PGlite (directory)', factory, cleanup);

  it('refuses a second open of a directory in use, naming the process', async () => {
    const err = await PgliteStore.open({ dataDir: dir }).catch((e: unknown) => e);
    expect(isRoomrunnerError(err, 'RR_STORE_LOCKED')).toBe(true);
    expect((err as { data: Record<string, unknown> }).data['pid']).toBe(process.pid);
  });

  it(
    'keeps deliveries and tombstones across a restart of the same directory, taking a lock file that names a live pid',
    async () => {
      await base.pglite.query('TRUNCATE deliveries, rooms, replicas');
      const receivedAt = new Date('2026-03-01T12:00:00.000Z');
      await base.recordDelivery({ key: 'kept', event: 'room.ended', room: 'r', scheme: 'meshagent', body: '{"a":1}', receivedAt }, 60_000);
      await base.finishDelivery('kept', 'processed');
      await base.markRoomEnded('r', receivedAt);
      await base.close();
      // As a killed container leaves it: the lock file names pid 1, which is alive (in a container it is the
      // new process itself), but nobody holds the lock, so it is taken.
      await writeFile(join(dir, 'roomrunner.lock'), '1');

      base = await PgliteStore.open({ dataDir: dir });
      expect(await base.getDelivery('kept')).toMatchObject({ key: 'kept', result: 'processed', attempts: 1, body: '{"a":1}' });
      expect((await base.recordDelivery({ key: 'kept', event: 'room.ended', room: 'r', scheme: 'meshagent', body: '', receivedAt }, 60_000)).duplicate).toBe(
        true,
      );
      expect(await base.getRoom('r')).toMatchObject({ status: 'ended' });
      expect(await base.markRoomStarted('r', new Date(receivedAt.getTime() + 1000), 60_000)).toBe(false);
    },
    START_TIMEOUT_MS,
  );
});
