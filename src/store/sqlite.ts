/**
 * The SQLite database under `SqliteStore`, one file per data directory, durable by configuration:
 *
 * - `journal_mode=WAL` and `synchronous=FULL`: every COMMIT fsyncs the write-ahead log before it returns, so a
 *   delivery acknowledged after its commit survives a power loss or a kernel crash, not only a process crash.
 *   On macOS, `fullfsync` too (its fsync does not flush the disk's cache). The pragmas are read back after
 *   opening and the store refuses to start when one did not take (a file system without shared memory for the
 *   WAL index, for instance).
 * - One transaction per event-loop turn: writes are queued and run together in one `BEGIN IMMEDIATE … COMMIT`
 *   on the next `setImmediate`, so every delivery that arrived in the same turn shares one fsync (group commit).
 *   Each write runs in its own SAVEPOINT, so one that fails leaves the others in. Nobody is answered before
 *   the COMMIT returned; when it fails, every write of the batch fails.
 * - Both drivers are synchronous: a transaction runs from BEGIN to COMMIT without yielding, so no other call
 *   of this process sees it half-done and writes need no lock of their own. Reads run at once.
 *
 * Two drivers, the same SQLite underneath: Node's built-in `node:sqlite` where Node has it unflagged (22.13 /
 * 23.4 on; Node 24 LTS, what roomrunner is run on), else the `better-sqlite3` package when it is installed
 * (an optional peer dependency: Node 20 needs it for the SQLite store). {@link sqliteDriver} picks one.
 *
 * One process per directory (the kernel lock of ./directory-lock.ts), as with PGlite. Several stores in one
 * process may share one database ("replicas" in tests): they share its write queue and its change
 * notifications, which are delivered after the commit that made them, as PostgreSQL's NOTIFY is.
 */
import type { Migration } from './sql.js';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setImmediate } from 'node:timers';
import { RoomrunnerError, isRoomrunnerError } from '../errors.js';
import { errorMessage } from '../util/error-message.js';

/** The part of a prepared statement used here (node:sqlite's StatementSync, better-sqlite3's Statement). */
export interface SqliteStatement {
  run(...params: SqliteValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: SqliteValue[]): Record<string, unknown> | undefined;
  all(...params: SqliteValue[]): Array<Record<string, unknown>>;
}

/** The part of a connection used here (node:sqlite's DatabaseSync, better-sqlite3's Database). */
export interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

export type SqliteValue = null | number | bigint | string | Uint8Array;

/** A way to open SQLite connections. */
export interface SqliteDriver {
  readonly name: 'node:sqlite' | 'better-sqlite3';
  /** Opens (creating) the database file at `path`, or `:memory:`; waits up to BUSY_TIMEOUT_MS for another connection's lock. */
  open(path: string): SqliteConnection;
}

interface NodeSqlite {
  DatabaseSync: new (path: string, options?: { timeout?: number; enableForeignKeyConstraints?: boolean }) => SqliteConnection;
}

type BetterSqlite3 = new (path: string, options?: { timeout?: number }) => SqliteConnection;

/** The oldest Node releases whose `node:sqlite` loads without a flag. */
export const NODE_SQLITE_SINCE = '22.13 / 23.4';
/** The better-sqlite3 releases this store is built and tested against (the optional peer dependency's range). */
export const BETTER_SQLITE3_RANGE = '12';
/** What to tell someone whose Node has no SQLite driver. */
export const SQLITE_DRIVER_FIX = `run Node 24 (node:sqlite), or install better-sqlite3 (npm install better-sqlite3@${BETTER_SQLITE3_RANGE})`;

let chosen: SqliteDriver | null | undefined;
let betterSqlite3Failure: string | undefined;

function nodeSqliteDriver(): SqliteDriver | undefined {
  try {
    const loaded = process.getBuiltinModule?.('node:sqlite') as NodeSqlite | undefined;
    if (typeof loaded?.DatabaseSync !== 'function') return undefined;
    const { DatabaseSync } = loaded;
    return {
      name: 'node:sqlite',
      open: (path) => new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS, enableForeignKeyConstraints: true }),
    };
  } catch {
    return undefined;
  }
}

function betterSqlite3Driver(): SqliteDriver | undefined {
  let Database: BetterSqlite3;
  try {
    Database = createRequire(import.meta.url)('better-sqlite3') as BetterSqlite3;
    // The native addon loads at the first open: one in memory tells whether it was built for this Node.
    new Database(':memory:').close();
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    betterSqlite3Failure = code === 'MODULE_NOT_FOUND' ? 'not installed' : `installed but does not load here (${errorMessage(err)})`;
    return undefined;
  }
  return { name: 'better-sqlite3', open: (path) => new Database(path, { timeout: BUSY_TIMEOUT_MS }) };
}

/**
 * The SQLite driver this process uses: `node:sqlite` when Node has it, else better-sqlite3 when it is
 * installed and loads, else undefined. Decided once per process; never throws.
 */
export function sqliteDriver(): SqliteDriver | undefined {
  if (chosen === undefined) chosen = nodeSqliteDriver() ?? betterSqlite3Driver() ?? null;
  return chosen ?? undefined;
}

/** Whether this process can run the SQLite store. */
export function sqliteAvailable(): boolean {
  return sqliteDriver() !== undefined;
}

/** Why there is no SQLite driver here, in words for an error message (undefined when there is one). */
export function sqliteMissingReason(): string | undefined {
  if (sqliteAvailable()) return undefined;
  return `Node ${process.versions.node} has no node:sqlite (unflagged since ${NODE_SQLITE_SINCE}) and better-sqlite3 is ${betterSqlite3Failure ?? 'not installed'}`;
}

/** How long a statement waits for a lock another connection holds (`busy_timeout`), in ms. */
export const BUSY_TIMEOUT_MS = 5_000;
/** Most writes one transaction takes; the rest go in the next one, at once. */
export const MAX_WRITES_PER_TRANSACTION = 512;

/** What the durability pragmas read back as after opening. */
export interface SqlitePragmas {
  readonly journalMode: string;
  /** 2 is FULL. */
  readonly synchronous: number;
  readonly busyTimeoutMs: number;
  readonly foreignKeys: boolean;
  /** macOS only: F_FULLFSYNC on every sync. */
  readonly fullfsync: boolean;
}

/**
 * Sets the pragmas and reads them back. A file database must come back WAL and FULL (else it is refused); an
 * in-memory one keeps its `memory` journal (it is durable nowhere by definition).
 */
export function configure(connection: SqliteConnection, options: { readonly inMemory: boolean; readonly path: string }): SqlitePragmas {
  const read = (pragma: string): unknown => {
    const row = connection.prepare(`PRAGMA ${pragma}`).get();
    return row === undefined ? undefined : Object.values(row)[0];
  };
  const wrong: string[] = [];
  const set = (pragma: string): void => {
    try {
      connection.exec(`PRAGMA ${pragma}`);
    } catch (err) {
      wrong.push(`PRAGMA ${pragma} failed (${errorMessage(err)})`);
    }
  };
  if (!options.inMemory) set('journal_mode = WAL');
  set('synchronous = FULL');
  set(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  set('foreign_keys = ON');
  if (process.platform === 'darwin') {
    set('fullfsync = ON');
    set('checkpoint_fullfsync = ON');
  }
  const pragmas: SqlitePragmas = {
    journalMode: String(read('journal_mode')).toLowerCase(),
    synchronous: Number(read('synchronous')),
    busyTimeoutMs: Number(read('busy_timeout')),
    foreignKeys: Number(read('foreign_keys')) === 1,
    fullfsync: Number(read('fullfsync')) === 1,
  };
  if (!options.inMemory && pragmas.journalMode !== 'wal') wrong.push(`journal_mode is ${pragmas.journalMode}, not wal`);
  if (pragmas.synchronous !== 2) wrong.push(`synchronous is ${pragmas.synchronous}, not 2 (FULL)`);
  if (pragmas.busyTimeoutMs !== BUSY_TIMEOUT_MS) wrong.push(`busy_timeout is ${pragmas.busyTimeoutMs}, not ${BUSY_TIMEOUT_MS}`);
  if (!pragmas.foreignKeys) wrong.push('foreign_keys is off');
  if (process.platform === 'darwin' && !pragmas.fullfsync) wrong.push('fullfsync is off');
  if (wrong.length > 0) {
    throw new RoomrunnerError(
      'RR_STORE_UNAVAILABLE',
      `the SQLite store at ${options.path} cannot be made durable (${wrong.join('; ')}); put the data directory on a local disk, or use DATABASE_URL`,
      { data: { dataDir: options.path } },
    );
  }
  return pragmas;
}

/** One numbered migration, as on PostgreSQL (src/store/sql.ts): statements run in one transaction, recorded in `schema_migrations`. */
export type SqliteMigration = Migration;

/**
 * The SQLite schema: the same tables and columns as the PostgreSQL one (src/store/sql.ts), with times as
 * integer milliseconds since the epoch, booleans as 0/1, and the epoch sequence as a row of `counters`.
 * Append only, never edit a shipped migration.
 */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'deliveries, replicas and rooms',
    statements: [
      `CREATE TABLE IF NOT EXISTS deliveries (
        key TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        room TEXT,
        scheme TEXT NOT NULL,
        body TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        result TEXT NOT NULL DEFAULT 'pending' CHECK (result IN ('pending', 'processed', 'ignored', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at INTEGER NOT NULL,
        replica TEXT
      )`,
      'CREATE INDEX IF NOT EXISTS deliveries_received_at_idx ON deliveries (received_at)',
      'CREATE INDEX IF NOT EXISTS deliveries_room_idx ON deliveries (room)',
      'CREATE INDEX IF NOT EXISTS deliveries_event_idx ON deliveries (event)',
      `CREATE INDEX IF NOT EXISTS deliveries_pending_idx ON deliveries (received_at) WHERE result = 'pending'`,
      `CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      )`,
      `INSERT INTO counters (name, value) VALUES ('room_epoch', 0) ON CONFLICT (name) DO NOTHING`,
      `CREATE TABLE IF NOT EXISTS replicas (
        id TEXT PRIMARY KEY,
        capacity INTEGER NOT NULL CHECK (capacity >= 0),
        lease_expires_at INTEGER NOT NULL,
        draining INTEGER NOT NULL DEFAULT 0,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS rooms (
        room TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('pending', 'attached', 'ended')),
        owner TEXT,
        epoch INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        started_at INTEGER,
        ended_at INTEGER,
        updated_at INTEGER NOT NULL,
        session_id TEXT,
        CHECK (status <> 'ended' OR owner IS NULL)
      )`,
      `CREATE INDEX IF NOT EXISTS rooms_owner_idx ON rooms (owner) WHERE status <> 'ended'`,
      `CREATE INDEX IF NOT EXISTS rooms_live_started_idx ON rooms (started_at) WHERE status <> 'ended'`,
      `CREATE INDEX IF NOT EXISTS rooms_ended_at_idx ON rooms (ended_at) WHERE status = 'ended'`,
      // Facts about the file itself, e.g. that it was migrated from a PGlite directory.
      `CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      )`,
    ],
  },
];

/**
 * Applies the migrations not yet recorded, in one transaction; returns the versions applied now. A version
 * this code does not know (a newer roomrunner wrote the file) is left alone: migrations are additive.
 */
export function migrateSqlite(connection: SqliteConnection, migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS): number[] {
  connection.exec('BEGIN IMMEDIATE');
  try {
    connection.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    )`);
    const done = new Set(
      connection
        .prepare('SELECT version FROM schema_migrations')
        .all()
        .map((row) => Number(row['version'])),
    );
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      try {
        for (const statement of migration.statements) connection.exec(statement);
        connection.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
      } catch (cause) {
        throw new RoomrunnerError('RR_STORE_MIGRATION_FAILED', `store migration ${migration.version} (${migration.name}) failed`, {
          cause,
          data: { version: migration.version },
        });
      }
      applied.push(migration.version);
    }
    connection.exec('COMMIT');
    return applied;
  } catch (err) {
    rollbackQuietly(connection);
    throw toStoreError(err);
  }
}

/** A write run inside the shared transaction; `notify` queues a change notification sent after COMMIT. */
export type SqliteWrite<T> = (notify: (room: string | null) => void) => T;

interface QueuedWrite {
  readonly run: SqliteWrite<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** An open SQLite database: the connection, its prepared statements, its write queue and its change listeners. */
export class SqliteDatabase {
  readonly connection: SqliteConnection;
  /** The database file, or `:memory:`. */
  readonly path: string;
  readonly pragmas: SqlitePragmas;
  /** Which driver opened it. */
  readonly driver: SqliteDriver['name'];
  readonly #statements = new Map<string, SqliteStatement>();
  readonly #listeners = new Set<(room: string | null) => void>();
  readonly #onClose: () => void;
  #queue: QueuedWrite[] = [];
  #scheduled = false;
  #idle: Array<() => void> = [];
  #closed = false;
  #commits = 0;
  /** Stores using this database; the connection closes when the last one lets go. */
  #users = 1;

  private constructor(connection: SqliteConnection, path: string, pragmas: SqlitePragmas, driver: SqliteDriver['name'], onClose: () => void) {
    this.connection = connection;
    this.path = path;
    this.pragmas = pragmas;
    this.driver = driver;
    this.#onClose = onClose;
  }

  /**
   * Opens (creating if needed), configures and migrates the database at `path` (`:memory:` for none).
   * `onClose` runs once after the connection closed, or when opening fails (e.g. to drop the directory lock).
   */
  static open(path: string, onClose: () => void = () => undefined): SqliteDatabase {
    const driver = sqliteDriver();
    if (driver === undefined) {
      onClose();
      throw new RoomrunnerError(
        'RR_STORE_UNAVAILABLE',
        `the SQLite store cannot run here: ${sqliteMissingReason()}; ${SQLITE_DRIVER_FIX}, or use DATABASE_URL`,
      );
    }
    let connection: SqliteConnection;
    try {
      connection = driver.open(path);
    } catch (cause) {
      onClose();
      throw new RoomrunnerError('RR_STORE_UNAVAILABLE', `SQLite could not open ${path}`, { cause, data: { dataDir: path } });
    }
    try {
      const pragmas = configure(connection, { inMemory: path === ':memory:', path });
      migrateSqlite(connection);
      return new SqliteDatabase(connection, path, pragmas, driver.name, onClose);
    } catch (err) {
      try {
        connection.close();
      } finally {
        onClose();
      }
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Transactions of queued writes committed so far (each one fsync of the WAL on a file database). */
  get commits(): number {
    return this.#commits;
  }

  /** A prepared statement, made once per text. */
  statement(sql: string): SqliteStatement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.connection.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs a read now, outside any transaction. */
  read<T>(fn: () => T): T {
    this.#assertOpen();
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /**
   * Queues a write for the transaction of this event-loop turn; resolves with what `write` returned once that
   * transaction committed (its WAL fsynced), rejects when `write` threw or the commit failed.
   */
  write<T>(write: SqliteWrite<T>): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run: write, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Subscribes to room changes committed by any store on this database. */
  listen(listener: (room: string | null) => void): () => void {
    this.#assertOpen();
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves when no write is queued. */
  idle(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** One more store uses this database (see {@link close}). */
  retain(): void {
    this.#assertOpen();
    this.#users++;
  }

  /**
   * One store lets go of the database; the last one's call writes what is queued and closes the connection.
   * Once closed, further calls do nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (--this.#users > 0) {
      await this.idle();
      return;
    }
    await this.idle();
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    try {
      // The last connection's close checkpoints the WAL into the database file and removes it.
      this.connection.close();
    } finally {
      this.#onClose();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the SQLite store is closed');
  }

  #flush(): void {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_WRITES_PER_TRANSACTION);
      this.#commit(batch);
    }
    this.#scheduled = false;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** One transaction: each write in a savepoint; answers only after COMMIT returned. */
  #commit(batch: readonly QueuedWrite[]): void {
    const { connection } = this;
    const outcomes: Array<{ ok: true; value: unknown; notes: Array<string | null> } | { ok: false; error: unknown }> = [];
    try {
      connection.exec('BEGIN IMMEDIATE');
      for (const write of batch) {
        const notes: Array<string | null> = [];
        connection.exec('SAVEPOINT write');
        try {
          const value = write.run((room) => notes.push(room));
          connection.exec('RELEASE write');
          outcomes.push({ ok: true, value, notes });
        } catch (error) {
          const failure = toStoreError(error);
          // An I/O error, a full disk or a lost lock may have rolled back the whole transaction already: the
          // batch fails together rather than run its remaining writes outside any transaction.
          if (isRoomrunnerError(failure, 'RR_STORE_UNAVAILABLE')) throw failure;
          connection.exec('ROLLBACK TO write');
          connection.exec('RELEASE write');
          outcomes.push({ ok: false, error: failure });
        }
      }
      connection.exec('COMMIT');
      this.#commits++;
    } catch (cause) {
      rollbackQuietly(connection);
      const error = toStoreError(cause);
      for (const write of batch) write.reject(error);
      return;
    }
    const changed: Array<string | null> = [];
    batch.forEach((write, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) {
        write.resolve(outcome.value);
        changed.push(...outcome.notes);
      } else write.reject(outcome.error);
    });
    if (changed.length > 0) {
      // After the callers' continuations, as a NOTIFY arrives after its COMMIT.
      const listeners = [...this.#listeners];
      queueMicrotask(() => {
        for (const room of changed) {
          for (const listener of listeners) {
            try {
              listener(room);
            } catch {
              // A listener's failure is its own; the others still hear of the change.
            }
          }
        }
      });
    }
  }
}

function rollbackQuietly(connection: SqliteConnection): void {
  try {
    connection.exec('ROLLBACK');
  } catch {
    // No transaction was open (SQLite rolls back by itself after some errors).
  }
}

/** SQLite primary result codes that mean the database cannot be written or read now, not a wrong statement. */
const UNAVAILABLE_CODES = new Map([
  [5, 'SQLITE_BUSY'],
  [6, 'SQLITE_LOCKED'],
  [7, 'SQLITE_NOMEM'],
  [8, 'SQLITE_READONLY'],
  [10, 'SQLITE_IOERR'],
  [11, 'SQLITE_CORRUPT'],
  [13, 'SQLITE_FULL'],
  [14, 'SQLITE_CANTOPEN'],
  [26, 'SQLITE_NOTADB'],
]);
const UNAVAILABLE_NAMES = new Set(UNAVAILABLE_CODES.values());

/**
 * Whether a driver's error is one of the unavailable codes: node:sqlite gives the (extended) result code as a
 * number in `errcode`, better-sqlite3 its name in `code` (`SQLITE_IOERR_WRITE` is an extended `SQLITE_IOERR`).
 */
function unavailableCode(err: unknown): number | string | undefined {
  const { errcode, code } = (err ?? {}) as { errcode?: unknown; code?: unknown };
  if (typeof errcode === 'number' && UNAVAILABLE_CODES.has(errcode & 0xff)) return errcode;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    const primary = code.match(/^SQLITE_[A-Z]+/)?.[0];
    if (primary !== undefined && UNAVAILABLE_NAMES.has(primary)) return code;
  }
  return undefined;
}

/** An I/O, lock or disk-full failure becomes RR_STORE_UNAVAILABLE (HTTP 503: the sender retries); others pass. */
export function toStoreError(err: unknown): unknown {
  if (isRoomrunnerError(err)) return err;
  const errcode = unavailableCode(err);
  if (errcode !== undefined) {
    return new RoomrunnerError('RR_STORE_UNAVAILABLE', `the SQLite store failed: ${errorMessage(err)}`, { cause: err, data: { errcode } });
  }
  return err;
}

/** fsyncs a directory, so a rename or a new file in it survives a power loss. */
export function fsyncDirectory(dir: string): void {
  if (process.platform === 'win32') return; // directories cannot be opened for fsync there
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
