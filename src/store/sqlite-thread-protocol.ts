/**
 * The messages between a `ThreadedSqliteStore` (./threaded-sqlite-store.ts) and the worker thread that owns its
 * SQLite connection (./sqlite-thread.ts). Structured-clone data only: arguments and results (Dates included)
 * cross as they are, errors as their code, message and data.
 */
import type { SerializedError } from '../util/threads.js';
import type { SqliteDriver, SqlitePragmas } from './sqlite.js';

/** What the worker is started with. */
export interface SqliteThreadData {
  /** The data directory (not `memory://`: an in-memory store runs in the caller's thread). */
  readonly dataDir: string;
}

/** What the caller can see of the database the worker opened. */
export interface SqliteThreadInfo {
  readonly path: string;
  readonly driver: SqliteDriver['name'];
  readonly pragmas: SqlitePragmas;
}

/** The caller to the worker. `store` names one of the stores the worker holds on its database (0 is the first). */
export type ToSqliteThread =
  | { readonly op: 'call'; readonly req: number; readonly store: number; readonly method: string; readonly args: readonly unknown[] }
  /** Another store on the same database (a peer, as replicas in tests); replied with its number. */
  | { readonly op: 'peer'; readonly req: number }
  /** Closes one store; the last one's close closes the database, and the worker exits after replying. */
  | { readonly op: 'close'; readonly req: number; readonly store: number };

/** The worker to the caller. */
export type FromSqliteThread =
  | { readonly ev: 'ready'; readonly info: SqliteThreadInfo }
  | { readonly ev: 'start-failed'; readonly error: SerializedError }
  | { readonly ev: 'reply'; readonly req: number; readonly ok: true; readonly value: unknown }
  | { readonly ev: 'reply'; readonly req: number; readonly ok: false; readonly error: SerializedError }
  /** A room change committed on the database (onRoomsChanged), for every store's listeners. */
  | { readonly ev: 'rooms-changed'; readonly room: string | null }
  /** A line a start-up step logged (the PGlite migration), as pino wrote it. */
  | { readonly ev: 'log'; readonly line: string };
