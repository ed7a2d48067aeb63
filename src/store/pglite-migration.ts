/**
 * Moves a data directory from PGlite to SQLite, once, at the first start of the SQLite store on it (the
 * directory lock held): every delivery, room (tombstones, owners, epochs) and replica is copied from `pglite/`
 * into a new file, and the epoch counter continues where PGlite's sequence stopped, so fencing epochs keep
 * growing. Crash-safe: the copy is written to `roomrunner.sqlite.migrating` and renamed into place only when
 * complete and checked (row counts), so an interrupted migration starts over from PGlite at the next start.
 * Afterwards `pglite/` is renamed `pglite.migrated/` (kept, not deleted: remove it when satisfied); the new file
 * records the migration, so a crash between the two renames is finished at the next start.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RoomrunnerError, isRoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { SqliteDatabase, fsyncDirectory, sqliteDriver, type SqliteConnection, type SqliteValue } from './sqlite.js';
import { SQLITE_FILE_NAME, installDatabaseFile } from './sqlite-store.js';

/** PGlite's directory inside a data directory (see ./pglite-store.ts). */
export const PGLITE_DIR_NAME = 'pglite';
/** What `pglite/` becomes once migrated. */
export const PGLITE_MIGRATED_DIR_NAME = 'pglite.migrated';
const MIGRATED_KEY = 'migrated_from_pglite';
const PAGE = 1_000;

export interface PgliteMigration {
  readonly deliveries: number;
  readonly rooms: number;
  readonly replicas: number;
  /** Where the PGlite files went. */
  readonly keptAt: string;
}

/**
 * Migrates `<dir>/pglite/` into `<dir>/roomrunner.sqlite` when the first exists and the second does not; does
 * nothing when there is no PGlite store. The caller holds the directory lock.
 * @throws RoomrunnerError RR_STORE_UNAVAILABLE when the directory holds both stores and the SQLite one is not
 *   a migration of the PGlite one (which to keep is the operator's call); RR_STORE_MIGRATION_FAILED when the
 *   copy fails or does not check out (nothing is installed then, and PGlite's files are untouched).
 */
export async function migratePgliteDirectory(dir: string, log?: Logger): Promise<PgliteMigration | undefined> {
  const source = join(dir, PGLITE_DIR_NAME);
  const target = join(dir, SQLITE_FILE_NAME);
  if (!existsSync(join(source, 'PG_VERSION'))) return undefined;
  if (existsSync(target)) {
    if (!recordsMigration(target)) {
      throw new RoomrunnerError(
        'RR_STORE_UNAVAILABLE',
        `the data directory ${dir} holds both a PGlite store (${PGLITE_DIR_NAME}/) and a SQLite store (${SQLITE_FILE_NAME}) that is not a migration of it; ` +
          `keep one: move ${SQLITE_FILE_NAME} away to migrate the PGlite store into a new one, or move ${PGLITE_DIR_NAME}/ away to keep the SQLite store`,
        { data: { dataDir: dir } },
      );
    }
    // A migration that crashed after installing the file: finish it.
    retire(dir);
    return undefined;
  }

  const temp = join(dir, `${SQLITE_FILE_NAME}.migrating`);
  removeDatabaseFiles(temp);
  log?.info({ dataDir: dir }, 'migrating the PGlite store to SQLite (once)');
  let counts: { deliveries: number; rooms: number; replicas: number };
  try {
    counts = await copy(source, temp);
  } catch (cause) {
    removeDatabaseFiles(temp);
    if (isRoomrunnerError(cause, 'RR_STORE_MIGRATION_FAILED')) throw cause;
    throw new RoomrunnerError('RR_STORE_MIGRATION_FAILED', `migrating the PGlite store in ${dir} to SQLite failed; nothing was changed`, {
      cause,
      data: { dataDir: dir },
    });
  }
  installDatabaseFile(dir, temp);
  const keptAt = retire(dir);
  const done: PgliteMigration = { ...counts, keptAt };
  log?.info({ dataDir: dir, ...done }, `migrated the PGlite store to SQLite; the PGlite files are kept in ${keptAt}: delete it when satisfied`);
  return done;
}

async function copy(source: string, temp: string): Promise<{ deliveries: number; rooms: number; replicas: number }> {
  const [{ PGlite }, { PgliteStore }] = await Promise.all([import('@electric-sql/pglite'), import('./pglite-store.js')]);
  const pglite = await PGlite.create(source);
  try {
    // Brings an older PGlite schema up to date first, so every column read below exists.
    await (await PgliteStore.open({ pglite })).close();
    const db = SqliteDatabase.open(temp);
    try {
      const c = db.connection;
      const ms = (value: unknown): SqliteValue => (value === null || value === undefined ? null : (value as Date).getTime());
      const deliveries = await copyPaged(pglite, db, 'deliveries', 'key', (row) => {
        db.statement(
          `INSERT INTO deliveries (key, event, room, scheme, body, received_at, result, attempts, last_error, updated_at, replica)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          row['key'] as string,
          row['event'] as string,
          (row['room'] as string | null) ?? null,
          row['scheme'] as string,
          row['body'] as string,
          ms(row['received_at']),
          row['result'] as string,
          Number(row['attempts']),
          (row['last_error'] as string | null) ?? null,
          ms(row['updated_at']),
          (row['replica'] as string | null) ?? null,
        );
      });
      const rooms = await copyPaged(pglite, db, 'rooms', 'room', (row) => {
        db.statement(
          `INSERT INTO rooms (room, status, owner, epoch, attempts, last_error, started_at, ended_at, updated_at, session_id)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          row['room'] as string,
          row['status'] as string,
          (row['owner'] as string | null) ?? null,
          Number(row['epoch']),
          Number(row['attempts']),
          (row['last_error'] as string | null) ?? null,
          ms(row['started_at']),
          ms(row['ended_at']),
          ms(row['updated_at']),
          (row['session_id'] as string | null) ?? null,
        );
      });
      const replicas = await copyPaged(pglite, db, 'replicas', 'id', (row) => {
        db.statement('INSERT INTO replicas (id, capacity, lease_expires_at, draining, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)').run(
          row['id'] as string,
          Number(row['capacity']),
          ms(row['lease_expires_at']),
          row['draining'] === true ? 1 : 0,
          ms(row['started_at']),
          ms(row['heartbeat_at']),
        );
      });
      // The next epoch must be larger than any PGlite gave out.
      const { rows } = await pglite.query<{ last_value: string | number }>('SELECT last_value FROM room_epoch_seq');
      const maxRoomEpoch = Number(c.prepare('SELECT coalesce(max(epoch), 0) AS n FROM rooms').get()?.['n'] ?? 0);
      const epoch = Math.max(Number(rows[0]?.last_value ?? 0), maxRoomEpoch);
      c.prepare(`UPDATE counters SET value = ? WHERE name = 'room_epoch'`).run(epoch);
      c.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(MIGRATED_KEY, new Date().toISOString());

      const copied = { deliveries, rooms, replicas };
      for (const [table, n] of Object.entries(copied)) {
        const there = await pglite.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
        const here = Number(c.prepare(`SELECT count(*) AS n FROM ${table}`).get()?.['n']);
        if (Number(there.rows[0]?.n) !== n || here !== n) {
          throw new RoomrunnerError(
            'RR_STORE_MIGRATION_FAILED',
            `migrating the PGlite store: ${table} has ${String(there.rows[0]?.n)} rows in PGlite and ${here} in SQLite; nothing was changed`,
          );
        }
      }
      return copied;
    } finally {
      // The close checkpoints the WAL into the file (fsynced: synchronous=FULL), so the file alone is complete.
      await db.close();
    }
  } finally {
    await pglite.close();
  }
}

/** Copies a table in pages by its key, each page one SQLite transaction; returns the rows copied. */
async function copyPaged(
  pglite: { query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }> },
  db: SqliteDatabase,
  table: string,
  key: string,
  insert: (row: Record<string, unknown>) => void,
): Promise<number> {
  let after: string | null = null;
  let copied = 0;
  for (;;) {
    const page: { rows: Array<Record<string, unknown>> } =
      after === null
        ? await pglite.query(`SELECT * FROM ${table} ORDER BY ${key} LIMIT ${PAGE}`)
        : await pglite.query(`SELECT * FROM ${table} WHERE ${key} > $1 ORDER BY ${key} LIMIT ${PAGE}`, [after]);
    if (page.rows.length === 0) return copied;
    db.connection.exec('BEGIN IMMEDIATE');
    try {
      for (const row of page.rows) insert(row);
      db.connection.exec('COMMIT');
    } catch (err) {
      db.connection.exec('ROLLBACK');
      throw err;
    }
    copied += page.rows.length;
    after = page.rows[page.rows.length - 1]![key] as string;
  }
}

/** Whether the SQLite file at `path` is the output of a PGlite migration. */
function recordsMigration(path: string): boolean {
  const driver = sqliteDriver();
  if (driver === undefined) return false;
  let connection: SqliteConnection | undefined;
  try {
    connection = driver.open(path);
    return connection.prepare('SELECT 1 AS yes FROM meta WHERE key = ?').get(MIGRATED_KEY) !== undefined;
  } catch {
    return false; // not a database, or no meta table: not a migration
  } finally {
    connection?.close();
  }
}

/** Renames `pglite/` out of the way (to `pglite.migrated/`, or with a time suffix when that exists). */
function retire(dir: string): string {
  let kept = join(dir, PGLITE_MIGRATED_DIR_NAME);
  if (existsSync(kept)) kept = `${kept}-${new Date().toISOString().replaceAll(':', '-')}`;
  renameSync(join(dir, PGLITE_DIR_NAME), kept);
  fsyncDirectory(dir);
  return kept;
}

function removeDatabaseFiles(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${path}${suffix}`, { force: true });
}
