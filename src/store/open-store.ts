/**
 * Picks the engine: a DATABASE_URL means PostgreSQL (several replicas). Otherwise an embedded store in a
 * directory (`.roomrunner/` by default) or in memory (`memory://`):
 *
 * - `sqlite` (the default where Node has `node:sqlite`, Node 24 LTS): durable, every acknowledged delivery is
 *   fsynced (./sqlite.ts). A directory that still holds a PGlite store (`pglite/`) is migrated into it first
 *   (./pglite-migration.ts).
 * - `pglite` (the default only on a Node without `node:sqlite`, or when asked for): NOT durable against a power
 *   loss or a kernel crash (PGlite runs with fsync off), which start-up says once, loudly.
 *
 * Each engine is imported only when chosen, so a SQLite deployment never loads PGlite or `pg`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Coordinator } from './coordinator.js';
import { NODE_SQLITE_SINCE, sqliteAvailable } from './sqlite.js';
import type { Store } from './store.js';

/** Where the embedded store keeps its data when nothing else is said. */
export const DEFAULT_DATA_DIR = '.roomrunner';
/** The `dataDir` value that keeps everything in memory (lost when the process exits). */
export const MEMORY_DATA_DIR = 'memory://';
/** The SQLite file inside a data directory (see ./sqlite-store.ts). */
const SQLITE_FILE = 'roomrunner.sqlite';

/** The embedded engines; `auto` is `sqlite` where this Node has `node:sqlite`, else `pglite`. */
export const EMBEDDED_ENGINES = ['auto', 'sqlite', 'pglite'] as const;
export type EmbeddedEngine = (typeof EMBEDDED_ENGINES)[number];

export interface OpenStoreOptions {
  /** `postgres://…` or `postgresql://…`: use PostgreSQL. */
  readonly databaseUrl?: string | undefined;
  /** The embedded store's directory, or `memory://`; default `.roomrunner`. Ignored with a databaseUrl. */
  readonly dataDir?: string | undefined;
  /** Which embedded engine; default `auto`. Ignored with a databaseUrl. */
  readonly engine?: EmbeddedEngine | undefined;
  /** Start-up notes go here: the non-durable warning, a PGlite migration. Without one: process warnings. */
  readonly log?: Logger | undefined;
}

/** What openStore returns: a Store and a Coordinator, saying which engine it is. */
export type OpenedStore = Store & Coordinator & { readonly engine: string; readonly closed: boolean };

/** The warning an embedded PGlite store on disk gives at start-up. */
export function pgliteNotDurableWarning(dataDir: string, chosen: boolean): string {
  const why = chosen
    ? 'chosen with ROOMRUNNER_STORE=pglite'
    : `the default because Node ${process.versions.node} has no node:sqlite (since ${NODE_SQLITE_SINCE})`;
  return (
    `the PGlite store in ${dataDir} (${why}) is NOT durable against a power loss or a kernel crash: PGlite runs with fsync off, ` +
    'so an acknowledged delivery survives a process crash only. For a durable store run Node 24 LTS (the SQLite store), or set DATABASE_URL (PostgreSQL).'
  );
}

/** Opens and migrates the store the options ask for. */
export async function openStore(options: OpenStoreOptions = {}): Promise<OpenedStore> {
  const databaseUrl = options.databaseUrl?.trim();
  if (databaseUrl !== undefined && databaseUrl !== '') {
    if (!/^postgres(ql)?:\/\//i.test(databaseUrl)) {
      throw new RoomrunnerError('RR_STORE_OPTION_INVALID', 'DATABASE_URL must start with postgres:// or postgresql://', {
        data: { option: 'databaseUrl' },
      });
    }
    const { PostgresStore } = await import('./postgres-store.js');
    return PostgresStore.open({
      connectionString: databaseUrl,
      ...(options.log === undefined ? {} : { log: options.log }),
    });
  }
  const requested = options.engine ?? 'auto';
  if (!(EMBEDDED_ENGINES as readonly string[]).includes(requested)) {
    throw new RoomrunnerError('RR_STORE_OPTION_INVALID', `the embedded store engine must be one of ${EMBEDDED_ENGINES.join(', ')}, got ${String(requested)}`, {
      data: { option: 'engine' },
    });
  }
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  if (dataDir === '') {
    throw new RoomrunnerError('RR_STORE_OPTION_INVALID', `dataDir must be a directory or ${MEMORY_DATA_DIR}`, { data: { option: 'dataDir' } });
  }
  const inMemory = dataDir === MEMORY_DATA_DIR;
  const engine = requested === 'auto' ? (sqliteAvailable() ? 'sqlite' : 'pglite') : requested;
  const warn = (message: string): void => {
    if (options.log !== undefined) options.log.warn({ dataDir }, message);
    else process.emitWarning(message, { code: 'RR_STORE_NOT_DURABLE' });
  };

  if (engine === 'sqlite') {
    if (!sqliteAvailable()) {
      throw new RoomrunnerError(
        'RR_STORE_UNAVAILABLE',
        `the SQLite store needs node:sqlite, which Node ${process.versions.node} does not have unflagged (since ${NODE_SQLITE_SINCE}); run Node 24, or choose ROOMRUNNER_STORE=pglite (not durable) or DATABASE_URL`,
      );
    }
    const [{ SqliteStore }, { migratePgliteDirectory }] = await Promise.all([import('./sqlite-store.js'), import('./pglite-migration.js')]);
    return SqliteStore.open({
      dataDir,
      beforeOpen: async (dir) => {
        await migratePgliteDirectory(dir, options.log);
      },
    });
  }

  if (!inMemory && existsSync(join(resolve(dataDir), SQLITE_FILE))) {
    throw new RoomrunnerError(
      'RR_STORE_UNAVAILABLE',
      `the data directory ${dataDir} holds a SQLite store (${SQLITE_FILE}); PGlite would start empty beside it. ${
        sqliteAvailable() ? 'Leave ROOMRUNNER_STORE unset (or set it to sqlite) to use it' : `Run Node 24 (node:sqlite, since ${NODE_SQLITE_SINCE}) to use it`
      }, or give PGlite another data directory`,
      { data: { dataDir } },
    );
  }
  const { PgliteStore } = await import('./pglite-store.js');
  const store = await PgliteStore.open({ dataDir });
  if (!inMemory) warn(pgliteNotDurableWarning(dataDir, requested === 'pglite'));
  return store;
}
