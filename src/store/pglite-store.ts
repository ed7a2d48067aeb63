/**
 * PostgreSQL compiled to WebAssembly (PGlite), in this process: the embedded store on a Node without
 * `node:sqlite` (Node 20), or when chosen with `ROOMRUNNER_STORE=pglite`. NOT durable against a power loss or
 * a kernel crash: PGlite runs with `fsync` off (its file system layer never syncs), so "recorded before
 * acknowledged" holds against a process crash only; openStore (./open-store.ts) says so at start-up. The
 * durable embedded store is SQLite (./sqlite-store.ts). Data lives in a directory (`.roomrunner/` by default,
 * PGlite's files under `pglite/` in it) or only in memory (`memory://`).
 *
 * PGlite is one connection: it queues queries and transactions itself, so the store needs no lock of its
 * own. One process per directory: a kernel file lock on `roomrunner.lock` (./directory-lock.ts) refuses a second
 * one, since two PGlite instances on one directory corrupt it, and is gone the moment its holder dies (a killed
 * container starts again). Several replicas need PostgreSQL.
 */
import { join, resolve } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { RoomrunnerError } from '../errors.js';
import { lockDirectory } from './directory-lock.js';
import { migrate, type SqlClient } from './sql.js';
import { SqlStore } from './sql-store.js';

/** Where the embedded store keeps its data when nothing else is said. */
export const DEFAULT_DATA_DIR = '.roomrunner';
/** The `dataDir` value that keeps everything in memory (lost when the process exits). */
export const MEMORY_DATA_DIR = 'memory://';

export interface PgliteStoreOptions {
  /** A directory, or `memory://`. Default {@link DEFAULT_DATA_DIR}. Ignored when `pglite` is given. */
  readonly dataDir?: string;
  /**
   * An open PGlite instance to use instead of opening one. The store then does not close it: several stores
   * may share one instance (tests; several "replicas" in one process).
   */
  readonly pglite?: PGlite;
}

export class PgliteStore extends SqlStore {
  /** The PGlite instance (for tests and tools that need raw SQL). */
  readonly pglite: PGlite;

  private constructor(pglite: PGlite, client: SqlClient, ownsClient: boolean) {
    super(client, { engine: 'pglite', ownsClient });
    this.pglite = pglite;
  }

  /** Opens (creating if needed) and migrates the store. First start of PGlite takes a few seconds. */
  static async open(options: PgliteStoreOptions = {}): Promise<PgliteStore> {
    if (options.pglite !== undefined) {
      const client = pgliteClient(options.pglite, async () => undefined);
      await migrate(client);
      return new PgliteStore(options.pglite, client, false);
    }
    const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
    if (dataDir === '') {
      throw new RoomrunnerError('RR_STORE_OPTION_INVALID', `dataDir must be a directory or ${MEMORY_DATA_DIR}`, { data: { option: 'dataDir' } });
    }
    const inMemory = dataDir === MEMORY_DATA_DIR;
    const lock = inMemory ? undefined : lockDirectory(resolve(dataDir));
    const releaseLock = (): void => lock?.release();
    let pglite: PGlite;
    try {
      pglite = inMemory ? await PGlite.create() : await PGlite.create(join(resolve(dataDir), 'pglite'));
    } catch (cause) {
      releaseLock();
      throw new RoomrunnerError('RR_STORE_UNAVAILABLE', `PGlite could not open ${dataDir}`, { cause, data: { dataDir } });
    }
    const client = pgliteClient(pglite, async () => {
      try {
        await pglite.close();
      } finally {
        releaseLock();
      }
    });
    try {
      await migrate(client);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    return new PgliteStore(pglite, client, true);
  }
}

/** The SqlClient over PGlite; `closeFn` runs once, on close. */
function pgliteClient(pglite: PGlite, closeFn: () => Promise<void>): SqlClient {
  let closing: Promise<void> | undefined;
  const unavailable = (cause?: unknown): RoomrunnerError =>
    new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the PGlite store is closed', cause === undefined ? {} : { cause });
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (pglite.closed) throw unavailable();
    try {
      return await fn();
    } catch (err) {
      throw pglite.closed ? unavailable(err) : err;
    }
  };
  const over = (tx: Transaction): SqlClient => ({
    query: async <T>(sql: string, params: readonly unknown[] = []) => tx.query<T>(sql, [...params]),
    transaction: async <T>(fn: (inner: SqlClient) => Promise<T>) => fn(over(tx)),
    listen: async () => {
      throw new Error('listen inside a transaction is not supported');
    },
    close: async () => undefined,
  });
  return {
    query: <T>(sql: string, params: readonly unknown[] = []) => guard(() => pglite.query<T>(sql, [...params])),
    transaction: <T>(fn: (tx: SqlClient) => Promise<T>) => guard(() => pglite.transaction((tx) => fn(over(tx)))),
    listen: (channel, onNotify) =>
      guard(async () => {
        const unlisten = await pglite.listen(channel, onNotify);
        return async () => {
          if (!pglite.closed) await unlisten();
        };
      }),
    close: () => (closing ??= closeFn()),
  };
}
