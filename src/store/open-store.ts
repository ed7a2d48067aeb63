/**
 * Picks the engine: a DATABASE_URL means PostgreSQL (several replicas), otherwise PGlite in process, in a
 * directory (`.roomrunner/` by default) or in memory (`memory://`). Each engine is imported only when chosen,
 * so a PGlite deployment never loads `pg` and the other way round.
 */
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SqlStore } from './sql-store.js';

export interface OpenStoreOptions {
  /** `postgres://…` or `postgresql://…`: use PostgreSQL. */
  readonly databaseUrl?: string | undefined;
  /** PGlite directory, or `memory://`; default `.roomrunner`. Ignored with a databaseUrl. */
  readonly dataDir?: string | undefined;
  readonly log?: Logger | undefined;
}

/** Opens and migrates the store the options ask for (a Store and a Coordinator; `engine` says which). */
export async function openStore(options: OpenStoreOptions = {}): Promise<SqlStore> {
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
  const { PgliteStore, DEFAULT_DATA_DIR } = await import('./pglite-store.js');
  return PgliteStore.open({ dataDir: options.dataDir ?? DEFAULT_DATA_DIR });
}
