/**
 * The durable embedded default: the Store and Coordinator over SQLite (`node:sqlite`, see ./sqlite.ts for the
 * pragmas, the group commit and why writes need no lock). One file, `<data dir>/roomrunner.sqlite`, or memory
 * only (`memory://`). Same contract as the PostgreSQL engine (test/store/contract.ts); the statements are
 * SQLite's own, one write = one short function run inside the turn's transaction.
 *
 * Time: SQLite has no server clock, and one process holds the file, so leases use this process's clock
 * (`Date.now()`), the part PostgreSQL's `now()` plays there. Delivery and room times are the caller's.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RoomrunnerError } from '../errors.js';
import type {
  ClaimOptions,
  ClaimedRoom,
  Coordinator,
  OwnedRoom,
  RegisterOptions,
  ReplicaState,
  RoomPhase,
  RoomState,
  RoomsChangedListener,
} from './coordinator.js';
import { DEFAULT_LEASE_MS } from './coordinator.js';
import { lockDirectory } from './directory-lock.js';
import { SqliteDatabase, fsyncDirectory, type SqliteValue } from './sqlite.js';
import type { DeliveryFilter, DeliveryRecord, DeliveryResult, NewDelivery, PendingClaim, RoomRecord, Store } from './store.js';
import { byReceipt } from './store.js';

/** The database file inside the data directory. */
export const SQLITE_FILE_NAME = 'roomrunner.sqlite';
/** The `dataDir` value that keeps everything in memory (lost when the process exits). */
export const MEMORY_DATA_DIR = 'memory://';

export interface SqliteStoreOptions {
  /** A directory (the file is `<dir>/roomrunner.sqlite`), or `memory://`. Ignored when `database` is given. */
  readonly dataDir?: string;
  /**
   * An open database to share instead of opening one (another "replica" in this process): the database closes
   * when the last store on it closes.
   */
  readonly database?: SqliteDatabase;
  /**
   * Runs with the directory locked and before the file is opened, e.g. to migrate a PGlite directory into
   * `<dir>/roomrunner.sqlite` (see ./pglite-migration.ts). Not called for `memory://` or a given database.
   */
  readonly beforeOpen?: (dir: string) => Promise<void>;
}

type Row = Record<string, unknown>;

/** Store + Coordinator over one SQLite database. */
export class SqliteStore implements Store, Coordinator {
  /** The database (for tests and tools that need raw SQL, and for peers sharing it). */
  readonly database: SqliteDatabase;
  readonly #unsubscribes = new Set<() => void>();
  #closed = false;

  private constructor(database: SqliteDatabase) {
    this.database = database;
  }

  /** Opens (creating if needed) and migrates the store; refuses a file whose durability pragmas do not take. */
  static async open(options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    if (options.database !== undefined) {
      options.database.retain();
      return new SqliteStore(options.database);
    }
    const dataDir = options.dataDir;
    if (dataDir === undefined || dataDir === '') {
      throw new RoomrunnerError('RR_STORE_OPTION_INVALID', `dataDir must be a directory or ${MEMORY_DATA_DIR}`, { data: { option: 'dataDir' } });
    }
    if (dataDir === MEMORY_DATA_DIR) return new SqliteStore(SqliteDatabase.open(':memory:'));
    const dir = resolve(dataDir);
    const lock = lockDirectory(dir);
    try {
      await options.beforeOpen?.(dir);
    } catch (err) {
      lock.release();
      throw err;
    }
    const file = join(dir, SQLITE_FILE_NAME);
    const created = !existsSync(file);
    const database = SqliteDatabase.open(file, () => lock.release());
    // A new file's directory entry must survive a power loss too.
    if (created) fsyncDirectory(dir);
    return new SqliteStore(database);
  }

  /** `sqlite`. */
  get engine(): string {
    return 'sqlite';
  }

  get closed(): boolean {
    return this.#closed;
  }

  // --- deliveries ---

  /** Group-committed: every call of this event-loop turn is written in one transaction, one fsync. */
  async recordDelivery(delivery: NewDelivery, dedupeWindowMs: number): Promise<{ duplicate: boolean; record: DeliveryRecord }> {
    const db = this.#open();
    nonNegative('dedupeWindowMs', dedupeWindowMs);
    const receivedAt = delivery.receivedAt.getTime();
    return db.write(() => {
      const existing = db.statement('SELECT * FROM deliveries WHERE key = ?').get(delivery.key);
      if (existing !== undefined && receivedAt - Number(existing['received_at']) < dedupeWindowMs) {
        return { duplicate: true, record: toDelivery(existing) };
      }
      const row = db
        .statement(
          `INSERT INTO deliveries (key, event, room, scheme, body, received_at, result, attempts, last_error, updated_at, replica)
          VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, NULL, ?, ?)
          ON CONFLICT (key) DO UPDATE SET
            event = excluded.event, room = excluded.room, scheme = excluded.scheme, body = excluded.body,
            received_at = excluded.received_at, result = 'pending', attempts = 0, last_error = NULL,
            updated_at = excluded.updated_at, replica = excluded.replica
          RETURNING *`,
        )
        .get(delivery.key, delivery.event, delivery.room, delivery.scheme, delivery.body, receivedAt, receivedAt, delivery.replica ?? null);
      return { duplicate: false, record: toDelivery(row!) };
    });
  }

  /** Group-committed like recordDelivery. */
  async finishDelivery(key: string, result: DeliveryResult, error: string | null = null, at?: Date): Promise<void> {
    const db = this.#open();
    const when = at?.getTime() ?? null;
    await db.write(() => {
      db.statement('UPDATE deliveries SET result = ?, attempts = attempts + 1, last_error = ?, updated_at = ? WHERE key = ?').run(
        result,
        error ?? null,
        when ?? Date.now(),
        key,
      );
    });
  }

  async reclaimDelivery(key: string, staleBefore: Date, at?: Date, replica: string | null = null): Promise<boolean> {
    const db = this.#open();
    const when = at?.getTime() ?? null;
    return db.write(() => {
      const { changes } = db
        .statement(`UPDATE deliveries SET updated_at = ?, replica = COALESCE(?, replica) WHERE key = ? AND result = 'pending' AND updated_at < ?`)
        .run(when ?? Date.now(), replica, key, staleBefore.getTime());
      return Number(changes) === 1;
    });
  }

  /**
   * Crash recovery (see `Store.claimPendingDeliveries`): pending rows nobody runs, oldest first, become this
   * replica's. A known replica's rows only once its lease ran out; an unknown one's (or NULL) when stale.
   */
  async claimPendingDeliveries(claim: PendingClaim): Promise<DeliveryRecord[]> {
    const db = this.#open();
    count('limit', claim.limit);
    if (claim.limit === 0) return [];
    const exclude = JSON.stringify([...(claim.exclude ?? [])]);
    return db.write(() => {
      const rows = db
        .statement(
          // Plain `?` placeholders only (better-sqlite3 binds no numbered ones): some values are passed twice.
          `UPDATE deliveries SET replica = ?, updated_at = ?
          WHERE key IN (
            SELECT d.key FROM deliveries d
            WHERE d.result = 'pending' AND d.key NOT IN (SELECT value FROM json_each(?))
              AND CASE
                WHEN d.replica = ? THEN d.updated_at < ? OR d.updated_at < ?
                WHEN EXISTS (SELECT 1 FROM replicas r WHERE r.id = d.replica)
                  THEN NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = d.replica AND r.lease_expires_at > ?)
                ELSE d.updated_at < ? END
            ORDER BY d.received_at, d.key
            LIMIT ?)
          RETURNING *`,
        )
        .all(
          claim.replica,
          claim.at.getTime(),
          exclude,
          claim.replica,
          claim.processStartedAt.getTime(),
          claim.staleBefore.getTime(),
          Date.now(),
          claim.staleBefore.getTime(),
          claim.limit,
        );
      return rows.map(toDelivery).sort(byReceipt);
    });
  }

  async getDelivery(key: string): Promise<DeliveryRecord | undefined> {
    const db = this.#open();
    const row = db.read(() => db.statement('SELECT * FROM deliveries WHERE key = ?').get(key));
    return row === undefined ? undefined : toDelivery(row);
  }

  /** Newest first (by `receivedAt`, the key breaking ties), at most `limit`. */
  async listDeliveries(filter: DeliveryFilter = {}): Promise<DeliveryRecord[]> {
    const db = this.#open();
    if (filter.limit !== undefined && Number.isNaN(filter.limit)) {
      throw new RoomrunnerError('RR_STORE_OPTION_INVALID', 'limit must be a number', { data: { option: 'limit' } });
    }
    const where: string[] = [];
    const params: SqliteValue[] = [];
    if (filter.event !== undefined) {
      where.push('event = ?');
      params.push(filter.event);
    }
    if (filter.room !== undefined) {
      where.push('room = ?');
      params.push(filter.room);
    }
    if (filter.result !== undefined) {
      where.push('result = ?');
      params.push(filter.result);
    }
    if (filter.since !== undefined) {
      where.push('received_at >= ?');
      params.push(filter.since.getTime());
    }
    let sql = 'SELECT * FROM deliveries';
    if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
    sql += ' ORDER BY received_at DESC, key DESC';
    if (filter.limit !== undefined && filter.limit !== Number.POSITIVE_INFINITY) {
      sql += ' LIMIT ?';
      params.push(Math.max(0, Math.floor(filter.limit)));
    }
    return db.read(() => db.statement(sql).all(...params)).map(toDelivery);
  }

  /** In chunks of {@link PRUNE_CHUNK} rows, one transaction each, so a week of deliveries never holds up the turn. */
  async pruneDeliveries(before: Date): Promise<number> {
    const db = this.#open();
    return pruneInChunks(db, 'DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE received_at < ? LIMIT ?)', before.getTime());
  }

  // --- rooms (Store) ---

  /**
   * A new room, or a tombstone this start may revive, becomes pending with no owner, and peers are notified.
   * When the start and the tombstone both carry a session id they decide: another session revives the room
   * at once, the same one never does. Otherwise the tombstone must be older than the window. A start naming a
   * new session for a live room makes it the room's session.
   */
  async markRoomStarted(room: string, at: Date, tombstoneWindowMs: number, sessionId: string | null = null): Promise<boolean> {
    const db = this.#open();
    nonNegative('tombstoneWindowMs', tombstoneWindowMs);
    const startedAt = at.getTime();
    return db.write((notify) => {
      const row = db.statement('SELECT status, session_id, ended_at FROM rooms WHERE room = ?').get(room);
      const now = Date.now();
      if (row === undefined) {
        db.statement(
          `INSERT INTO rooms (room, status, owner, epoch, attempts, started_at, updated_at, session_id) VALUES (?, 'pending', NULL, ?, 0, ?, ?, ?)`,
        ).run(room, nextEpoch(db), startedAt, now, sessionId);
        notify(room);
        return true;
      }
      if (row['status'] !== 'ended') {
        if (sessionId !== null && row['session_id'] !== sessionId) {
          db.statement('UPDATE rooms SET session_id = ?, updated_at = ? WHERE room = ?').run(sessionId, now, room);
        }
        return true;
      }
      const endedAt = row['ended_at'] === null ? null : Number(row['ended_at']);
      const revive =
        sessionId !== null && row['session_id'] !== null ? row['session_id'] !== sessionId : endedAt !== null && startedAt - endedAt >= tombstoneWindowMs;
      if (!revive) return false;
      db.statement(
        `UPDATE rooms SET status = 'pending', owner = NULL, epoch = ?, attempts = 0, last_error = NULL, started_at = ?, ended_at = NULL,
          updated_at = ?, session_id = ? WHERE room = ?`,
      ).run(nextEpoch(db), startedAt, now, sessionId, room);
      notify(room);
      return true;
    });
  }

  /**
   * Leaves a tombstone (an end before any start too); an owner loses the room (new epoch). An end naming
   * another session than the live room's is an earlier session's, late: false, nothing changes.
   */
  async markRoomEnded(room: string, at: Date, sessionId: string | null = null): Promise<boolean> {
    const db = this.#open();
    const endedAt = at.getTime();
    return db.write((notify) => {
      const row = db.statement('SELECT status, session_id FROM rooms WHERE room = ?').get(room);
      const now = Date.now();
      if (row === undefined) {
        db.statement(`INSERT INTO rooms (room, status, owner, epoch, ended_at, updated_at, session_id) VALUES (?, 'ended', NULL, ?, ?, ?, ?)`).run(
          room,
          nextEpoch(db),
          endedAt,
          now,
          sessionId,
        );
        notify(room);
        return true;
      }
      const current = row['session_id'] as string | null;
      if (row['status'] !== 'ended' && sessionId !== null && current !== null && current !== sessionId) return false;
      db.statement(
        `UPDATE rooms SET status = 'ended', owner = NULL, epoch = ?, ended_at = ?, updated_at = ?, session_id = COALESCE(?, session_id) WHERE room = ?`,
      ).run(nextEpoch(db), endedAt, now, sessionId, room);
      notify(room);
      return true;
    });
  }

  async clearRoom(room: string): Promise<void> {
    const db = this.#open();
    await db.write((notify) => {
      if (Number(db.statement('DELETE FROM rooms WHERE room = ?').run(room).changes) > 0) notify(room);
    });
  }

  /** `started` while pending or attached; `updatedAt` is the start or end time the caller gave. */
  async getRoom(room: string): Promise<RoomRecord | undefined> {
    const row = this.#roomRow(room);
    if (row === undefined) return undefined;
    const status = row.status === 'ended' ? 'ended' : 'started';
    const at = status === 'ended' ? row.endedAt : row.startedAt;
    return { room: row.room, status, updatedAt: at ?? row.updatedAt };
  }

  // --- replicas and ownership (Coordinator) ---

  async registerReplica(id: string, capacity: number, options: RegisterOptions = {}): Promise<void> {
    const db = this.#open();
    count('capacity', capacity);
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    nonNegative('leaseMs', leaseMs);
    await db.write((notify) => {
      const now = Date.now();
      db.statement(
        `INSERT INTO replicas (id, capacity, lease_expires_at, draining, started_at, heartbeat_at) VALUES (?, ?, ?, 0, ?, ?)
        ON CONFLICT (id) DO UPDATE SET capacity = excluded.capacity, lease_expires_at = excluded.lease_expires_at, draining = 0,
          started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
      ).run(id, capacity, now + leaseMs, now, now);
      if (releaseOwned(db, id).length > 0) notify(null);
    });
  }

  async heartbeat(id: string, leaseMs: number): Promise<{ ok: boolean }> {
    const db = this.#open();
    nonNegative('leaseMs', leaseMs);
    return db.write(() => {
      const now = Date.now();
      const row = db.statement('SELECT lease_expires_at FROM replicas WHERE id = ?').get(id);
      if (row === undefined) return { ok: false };
      db.statement('UPDATE replicas SET lease_expires_at = ?, heartbeat_at = ? WHERE id = ?').run(now + leaseMs, now, id);
      return { ok: Number(row['lease_expires_at']) > now };
    });
  }

  async claimRooms(replicaId: string, options: ClaimOptions): Promise<ClaimedRoom[]> {
    const db = this.#open();
    count('capacity', options.capacity);
    nonNegative('leaseMs', options.leaseMs);
    return db.write((notify) => {
      const now = Date.now();
      const me = db
        .statement('UPDATE replicas SET capacity = ?, lease_expires_at = ?, heartbeat_at = ? WHERE id = ? RETURNING draining')
        .get(options.capacity, now + options.leaseMs, now, replicaId);
      if (me === undefined || Number(me['draining']) !== 0) return [];
      const owned = Number(db.statement(`SELECT count(*) AS n FROM rooms WHERE owner = ? AND status <> 'ended'`).get(replicaId)?.['n'] ?? 0);
      const free = options.capacity - owned;
      if (free <= 0) return [];
      const picked = db
        .statement(
          `SELECT room, owner, session_id FROM rooms c
          WHERE c.status <> 'ended'
            AND (c.owner IS NULL OR NOT EXISTS (SELECT 1 FROM replicas o WHERE o.id = c.owner AND o.lease_expires_at > ?))
          ORDER BY c.started_at NULLS LAST, c.room
          LIMIT ?`,
        )
        .all(now, free);
      const take = db.statement(`UPDATE rooms SET owner = ?, epoch = ?, status = 'pending', updated_at = ? WHERE room = ?`);
      const claimed: ClaimedRoom[] = [];
      for (const row of picked) {
        const room = row['room'] as string;
        const epoch = nextEpoch(db);
        take.run(replicaId, epoch, now, room);
        const previousOwner = (row['owner'] as string | null) ?? null;
        // A room taken from another replica: tell it now rather than at its next heartbeat.
        if (previousOwner !== null) notify(room);
        claimed.push({ room, epoch, sessionId: (row['session_id'] as string | null) ?? null, previousOwner });
      }
      return claimed.sort((a, b) => compare(a.room, b.room));
    });
  }

  async ownedRooms(replicaId: string): Promise<OwnedRoom[]> {
    const db = this.#open();
    const rows = db.read(() =>
      db.statement(`SELECT room, epoch, status, session_id FROM rooms WHERE owner = ? AND status <> 'ended' ORDER BY room`).all(replicaId),
    );
    return rows.map((row) => ({
      room: row['room'] as string,
      epoch: Number(row['epoch']),
      status: row['status'] as 'pending' | 'attached',
      sessionId: (row['session_id'] as string | null) ?? null,
    }));
  }

  async markAttached(room: string, replicaId: string, epoch: number, sessionId: string | null = null): Promise<boolean> {
    const db = this.#open();
    return db.write(
      () =>
        Number(
          db
            .statement(
              `UPDATE rooms SET status = 'attached', attempts = attempts + 1, last_error = NULL, session_id = COALESCE(?, session_id), updated_at = ?
              WHERE room = ? AND owner = ? AND epoch = ? AND status <> 'ended'`,
            )
            .run(sessionId, Date.now(), room, replicaId, epoch).changes,
        ) > 0,
    );
  }

  async recordAttachFailure(room: string, replicaId: string, epoch: number, error: string): Promise<boolean> {
    const db = this.#open();
    return db.write(
      () =>
        Number(
          db
            .statement(
              `UPDATE rooms SET status = 'pending', attempts = attempts + 1, last_error = ?, updated_at = ?
              WHERE room = ? AND owner = ? AND epoch = ? AND status <> 'ended'`,
            )
            .run(error, Date.now(), room, replicaId, epoch).changes,
        ) > 0,
    );
  }

  async releaseRooms(replicaId: string, rooms?: readonly string[]): Promise<string[]> {
    const db = this.#open();
    if (rooms !== undefined && rooms.length === 0) return [];
    return db.write((notify) => {
      const names = releaseOwned(db, replicaId, rooms);
      if (names.length > 0) notify(names.length === 1 ? names[0]! : null);
      return names;
    });
  }

  async setDraining(replicaId: string): Promise<void> {
    const db = this.#open();
    await db.write(() => {
      db.statement('UPDATE replicas SET draining = 1 WHERE id = ?').run(replicaId);
    });
  }

  async deregisterReplica(id: string): Promise<void> {
    const db = this.#open();
    await db.write((notify) => {
      const released = releaseOwned(db, id);
      db.statement('DELETE FROM replicas WHERE id = ?').run(id);
      if (released.length > 0) notify(null);
    });
  }

  /** Changes committed by any store on this database, after their commit; null means "several". */
  async onRoomsChanged(listener: RoomsChangedListener): Promise<() => Promise<void>> {
    const db = this.#open();
    const unlisten = db.listen(listener);
    let done = false;
    const unsubscribe = (): void => {
      if (done) return;
      done = true;
      this.#unsubscribes.delete(unsubscribe);
      unlisten();
    };
    this.#unsubscribes.add(unsubscribe);
    return async () => unsubscribe();
  }

  async activeRooms(): Promise<RoomState[]> {
    const db = this.#open();
    return db.read(() => db.statement(`SELECT * FROM rooms WHERE status <> 'ended' ORDER BY room`).all()).map(toRoomState);
  }

  async roomState(room: string): Promise<RoomState | undefined> {
    return this.#roomRow(room);
  }

  async listReplicas(): Promise<ReplicaState[]> {
    const db = this.#open();
    const now = Date.now();
    return db
      .read(() => db.statement('SELECT * FROM replicas ORDER BY id').all())
      .map((row) => ({
        id: row['id'] as string,
        capacity: Number(row['capacity']),
        leaseExpiresAt: new Date(Number(row['lease_expires_at'])),
        live: Number(row['lease_expires_at']) > now,
        draining: Number(row['draining']) !== 0,
        startedAt: new Date(Number(row['started_at'])),
        heartbeatAt: new Date(Number(row['heartbeat_at'])),
      }));
  }

  /** In chunks, like pruneDeliveries. */
  async pruneRooms(endedBefore: Date): Promise<number> {
    const db = this.#open();
    return pruneInChunks(
      db,
      `DELETE FROM rooms WHERE rowid IN (SELECT rowid FROM rooms WHERE status = 'ended' AND ended_at < ? LIMIT ?)`,
      endedBefore.getTime(),
    );
  }

  async pruneReplicas(expiredForMs: number): Promise<number> {
    const db = this.#open();
    nonNegative('expiredForMs', expiredForMs);
    return db.write(() => Number(db.statement('DELETE FROM replicas WHERE lease_expires_at <= ?').run(Date.now() - expiredForMs).changes));
  }

  // --- lifecycle ---

  async ping(): Promise<void> {
    const db = this.#open();
    db.read(() => db.statement('SELECT 1').get());
  }

  /** Idempotent; writes accepted before it are committed first; afterwards every call rejects with RR_STORE_UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of [...this.#unsubscribes]) unsubscribe();
    await this.database.close();
  }

  #roomRow(room: string): RoomState | undefined {
    const db = this.#open();
    const row = db.read(() => db.statement('SELECT * FROM rooms WHERE room = ?').get(room));
    return row === undefined ? undefined : toRoomState(row);
  }

  #open(): SqliteDatabase {
    if (this.#closed || this.database.closed) throw new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the SQLite store is closed');
    return this.database;
  }
}

/** Most rows one prune transaction deletes. */
export const PRUNE_CHUNK = 2_000;

/** Runs `sql` (a DELETE of at most the second `?` rows older than the first) until it deletes fewer than a chunk; the total. */
async function pruneInChunks(db: SqliteDatabase, sql: string, before: number): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await db.write(() => Number(db.statement(sql).run(before, PRUNE_CHUNK).changes));
    total += deleted;
    if (deleted < PRUNE_CHUNK) return total;
  }
}

/** Takes the next fencing epoch: one counter for every room, so epochs only grow (clearRoom and pruning too). */
function nextEpoch(db: SqliteDatabase): number {
  return Number(db.statement(`UPDATE counters SET value = value + 1 WHERE name = 'room_epoch' RETURNING value`).get()!['value']);
}

/** Gives back the replica's live rooms (all, or the listed ones): no owner, pending, each a new epoch. Sorted names. */
function releaseOwned(db: SqliteDatabase, replicaId: string, rooms?: readonly string[]): string[] {
  const owned =
    rooms === undefined
      ? db.statement(`SELECT room FROM rooms WHERE owner = ? AND status <> 'ended' ORDER BY room`).all(replicaId)
      : db
          .statement(`SELECT room FROM rooms WHERE owner = ? AND status <> 'ended' AND room IN (SELECT value FROM json_each(?)) ORDER BY room`)
          .all(replicaId, JSON.stringify(rooms));
  const release = db.statement(`UPDATE rooms SET owner = NULL, epoch = ?, status = 'pending', updated_at = ? WHERE room = ?`);
  const now = Date.now();
  const names = owned.map((row) => row['room'] as string);
  for (const room of names) release.run(nextEpoch(db), now, room);
  return names;
}

/**
 * Moves a database file written elsewhere (a migration's output) into place as `<dir>/roomrunner.sqlite`,
 * durably: the rename and the directory entry are fsynced. Any WAL left beside the target is removed first.
 */
export function installDatabaseFile(dir: string, from: string): void {
  const target = join(dir, SQLITE_FILE_NAME);
  for (const suffix of ['-wal', '-shm']) rmSync(`${target}${suffix}`, { force: true });
  renameSync(from, target);
  fsyncDirectory(dir);
}

function toDelivery(row: Row): DeliveryRecord {
  return {
    key: row['key'] as string,
    event: row['event'] as string,
    room: (row['room'] as string | null) ?? null,
    scheme: row['scheme'] as string,
    body: row['body'] as string,
    receivedAt: new Date(Number(row['received_at'])),
    result: row['result'] as DeliveryResult,
    attempts: Number(row['attempts']),
    lastError: (row['last_error'] as string | null) ?? null,
    updatedAt: new Date(Number(row['updated_at'])),
    replica: (row['replica'] as string | null) ?? null,
  };
}

function toRoomState(row: Row): RoomState {
  const date = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(Number(value)));
  return {
    room: row['room'] as string,
    status: row['status'] as RoomPhase,
    owner: (row['owner'] as string | null) ?? null,
    epoch: Number(row['epoch']),
    attempts: Number(row['attempts']),
    lastError: (row['last_error'] as string | null) ?? null,
    sessionId: (row['session_id'] as string | null) ?? null,
    startedAt: date(row['started_at']),
    endedAt: date(row['ended_at']),
    updatedAt: new Date(Number(row['updated_at'])),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function nonNegative(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RoomrunnerError('RR_STORE_OPTION_INVALID', `${name} must be a finite number of milliseconds >= 0, got ${String(value)}`, {
      data: { option: name },
    });
  }
}

function count(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RoomrunnerError('RR_STORE_OPTION_INVALID', `${name} must be an integer >= 0, got ${String(value)}`, { data: { option: name } });
  }
}
