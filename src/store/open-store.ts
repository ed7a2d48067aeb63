/**
 * Picks the engine: a DATABASE_URL means PostgreSQL (several replicas). Otherwise an embedded store in a
 * directory (`.roomrunner/` by default) or in memory (`memory://`):
 *
 * - `sqlite` (the default, `auto`): durable, every acknowledged delivery is fsynced (./sqlite.ts), through
 *   `node:sqlite` (Node 24) or better-sqlite3 (Node 20, an optional peer dependency). A directory that still
 *   holds a PGlite store (`pglite/`) is migrated into it first (./pglite-migration.ts). Where neither driver
 *   is present, start-up is refused with the ways out; the default never falls back to a store that is not
 *   durable.
 * - `pglite` (only when asked for): NOT durable against a power loss or a kernel crash (PGlite runs with fsync
 *   off), which start-up says once, loudly.
 *
 * Each engine is imported only when chosen, so a SQLite deployment never loads PGlite or `pg`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Coordinator } from './coordinator.js';
import { SQLITE_DRIVER_FIX, sqliteAvailable, sqliteMissingReason } from './sqlite.js';
import type { Store } from './store.js';

/** Where the embedded store keeps its data when nothing else is said. */
export const DEFAULT_DATA_DIR = '.roomrunner';
/** The `dataDir` value that keeps everything in memory (lost when the process exits). */
export const MEMORY_DATA_DIR = 'memory://';
/** The SQLite file inside a data directory (see ./sqlite-store.ts). */
const SQLITE_FILE = 'roomrunner.sqlite';

/** The embedded engines; `auto` is `sqlite` (PGlite is never picked for you). */
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
export function pgliteNotDurableWarning(dataDir: string): string {
  return (
    `the PGlite store in ${dataDir} (chosen with ROOMRUNNER_STORE=pglite) is NOT durable against a power loss or a kernel crash: PGlite runs with fsync off, ` +
    'so an acknowledged delivery survives a process crash only. For a durable store leave ROOMRUNNER_STORE unset (SQLite), or set DATABASE_URL (PostgreSQL).'
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
  const engine = requested === 'auto' ? 'sqlite' : requested;
  const warn = (message: string): void => {
    if (options.log !== undefined) options.log.warn({ dataDir }, message);
    else process.emitWarning(message, { code: 'RR_STORE_NOT_DURABLE' });
  };

  if (engine === 'sqlite') {
    if (!sqliteAvailable()) {
      throw new RoomrunnerError(
        'RR_STORE_UNAVAILABLE',
        `the embedded store is SQLite, which cannot run here: ${sqliteMissingReason()}. To fix: ${SQLITE_DRIVER_FIX}; or set DATABASE_URL (PostgreSQL); or choose ROOMRUNNER_STORE=pglite (NOT durable against a power loss)`,
        { data: { dataDir } },
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
        sqliteAvailable() ? 'Leave ROOMRUNNER_STORE unset (or set it to sqlite) to use it' : `To use it, ${SQLITE_DRIVER_FIX}`
      }, or give PGlite another data directory`,
      { data: { dataDir } },
    );
  }
  const { PgliteStore } = await import('./pglite-store.js');
  const store = await PgliteStore.open({ dataDir });
  if (!inMemory) warn(pgliteNotDurableWarning(dataDir));
  return store;
}
