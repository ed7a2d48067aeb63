/**
 * The embedded default: PostgreSQL compiled to WebAssembly (PGlite), in this process. `npm run dev` and a
 * single `serve` need no database server. Data lives in a directory (`.roomrunner/` by default, PGlite's files
 * under `pglite/` in it) or only in memory (`memory://`).
 *
 * PGlite is one connection: it queues queries and transactions itself, so the store needs no lock of its
 * own. One process per directory: a lock file (`roomrunner.lock`, holding the pid) refuses a second one,
 * since two PGlite instances on one directory corrupt it. Several replicas need PostgreSQL.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { RoomrunnerError } from '../errors.js';
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
    const releaseLock = inMemory ? () => undefined : lockDirectory(resolve(dataDir));
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

/**
 * Takes `<dir>/roomrunner.lock` for this process, or throws RR_STORE_LOCKED naming the live holder. A lock left
 * by a dead process is taken over. Returns the release.
 */
function lockDirectory(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'roomrunner.lock');
  for (let round = 0; round < 2; round++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RoomrunnerError('RR_STORE_UNAVAILABLE', `cannot create the lock file ${path}`, { cause: err, data: { dataDir: dir } });
      }
      const holder = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (Number.isSafeInteger(holder) && holder > 0 && isAlive(holder)) {
        throw new RoomrunnerError('RR_STORE_LOCKED', `the data directory ${dir} is in use by process ${holder} (if that is not roomrunner, delete ${path})`, {
          data: { dataDir: dir, pid: holder },
        });
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new RoomrunnerError('RR_STORE_LOCKED', `the data directory ${dir} is being locked by another process`, { data: { dataDir: dir } });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
