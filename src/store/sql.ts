/**
 * The one SQL schema, its migrations, and the tiny query interface both engines implement (docs/architecture.md §Style 10).
 * Every string here runs unchanged on PGlite (in process) and PostgreSQL (several replicas): one statement
 * per string (PGlite's extended-protocol `query` takes one), `$n` parameters, no engine-specific syntax.
 *
 * Time: lease columns use the database's `now()`, so replicas with skewed clocks agree on who holds a lease.
 * Delivery and room timestamps (`received_at`, `started_at`, `ended_at`) are the caller's, as the Store
 * interface passes them in.
 */
import { RoomrunnerError, isRoomrunnerError } from '../errors.js';

/** The smallest client the SQL store needs; `PgliteStore` and `PostgresStore` each provide one. */
export interface SqlClient {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: T[] }>;
  /** Runs `fn` in one transaction (READ COMMITTED): COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /** LISTEN on `channel`; `onNotify` gets each payload. Resolves to an unsubscribe. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** The NOTIFY channel: a room became claimable, ended, or changed owner. The payload is the room, or '' for "several". */
export const ROOMS_CHANNEL = 'roomrunner_rooms';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Idempotent statements (`IF NOT EXISTS`), so a half-known database can be migrated again. */
  readonly statements: readonly string[];
}

/** Numbered migrations; append only, never edit a shipped one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'deliveries ledger',
    statements: [
      `CREATE TABLE IF NOT EXISTS deliveries (
        key text PRIMARY KEY,
        event text NOT NULL,
        room text,
        scheme text NOT NULL,
        body text NOT NULL,
        received_at timestamptz NOT NULL,
        result text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        updated_at timestamptz NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS deliveries_received_at_idx ON deliveries (received_at)`,
      `CREATE INDEX IF NOT EXISTS deliveries_room_idx ON deliveries (room)`,
      `CREATE INDEX IF NOT EXISTS deliveries_event_idx ON deliveries (event)`,
    ],
  },
  {
    version: 2,
    name: 'replicas and room ownership',
    statements: [
      // Fencing epochs come from one sequence: they only grow, even across clearRoom and pruning.
      `CREATE SEQUENCE IF NOT EXISTS room_epoch_seq`,
      `CREATE TABLE IF NOT EXISTS replicas (
        id text PRIMARY KEY,
        capacity integer NOT NULL CHECK (capacity >= 0),
        lease_expires_at timestamptz NOT NULL,
        draining boolean NOT NULL DEFAULT false,
        started_at timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE IF NOT EXISTS rooms (
        room text PRIMARY KEY,
        status text NOT NULL CHECK (status IN ('pending', 'attached', 'ended')),
        owner text,
        epoch bigint NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        started_at timestamptz,
        ended_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        session_id text,
        CONSTRAINT rooms_ended_has_no_owner CHECK (status <> 'ended' OR owner IS NULL)
      )`,
      `CREATE INDEX IF NOT EXISTS rooms_owner_idx ON rooms (owner) WHERE status <> 'ended'`,
      `CREATE INDEX IF NOT EXISTS rooms_live_started_idx ON rooms (started_at) WHERE status <> 'ended'`,
      `CREATE INDEX IF NOT EXISTS rooms_ended_at_idx ON rooms (ended_at) WHERE status = 'ended'`,
    ],
  },
  {
    version: 3,
    name: 'the replica that runs each delivery',
    statements: [
      // NULL for rows recorded before: the recovery sweep treats them as a replica it does not know.
      `ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS replica text`,
      `CREATE INDEX IF NOT EXISTS deliveries_pending_idx ON deliveries (received_at) WHERE result = 'pending'`,
    ],
  },
];

const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * Serialises migrations of one schema across replicas that start at once. Transaction-scoped, so a replica
 * that dies mid-migration releases it with its connection. Keyed by schema so test schemas do not wait on
 * each other.
 */
const MIGRATION_LOCK = `SELECT pg_advisory_xact_lock(hashtext('roomrunner.migrations.' || current_schema()))`;

/**
 * Applies the migrations not yet recorded in `schema_migrations`, all in one transaction under an advisory
 * lock. Returns the versions applied now (empty when the schema was current). A version unknown to this code
 * (a newer replica migrated first) is left alone: migrations are additive.
 */
export async function migrate(client: SqlClient, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return client.transaction(async (tx) => {
    await tx.query(MIGRATION_LOCK);
    await tx.query(CREATE_MIGRATIONS_TABLE);
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => Number(row.version)));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      try {
        for (const statement of migration.statements) await tx.query(statement);
        await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      } catch (cause) {
        if (isRoomrunnerError(cause)) throw cause; // the store went away: RR_STORE_UNAVAILABLE
        throw new RoomrunnerError('RR_STORE_MIGRATION_FAILED', `store migration ${migration.version} (${migration.name}) failed`, {
          cause,
          data: { version: migration.version },
        });
      }
      applied.push(migration.version);
    }
    return applied;
  });
}

/** The statements of SqlStore, named; kept here so the whole SQL surface reads in one file. */
export const SQL = {
  notify: `SELECT pg_notify($1, $2)`,

  // --- deliveries ---
  /**
   * A batch of deliveries (SqlStore's group commit): one statement, so all of them are recorded or none. Each is
   * inserted, or takes over a row whose key is older than the dedupe window ($7 ms before this delivery); the
   * row lock ON CONFLICT takes makes two replicas recording the same expired key agree on one winner. A key
   * must appear at most once per call (PostgreSQL refuses to update one row twice in a statement). The rows
   * come as arrays ($1..$7, one element per delivery), so the text is the same for every batch size and the
   * parameter count stays at 8. A key with no row back is a duplicate (see `getDeliveries`).
   */
  recordDeliveries: `INSERT INTO deliveries (key, event, room, scheme, body, received_at, result, attempts, last_error, updated_at, replica)
    SELECT v.key, v.event, v.room, v.scheme, v.body, v.received_at, 'pending', 0, NULL, v.received_at, v.replica
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
      AS v(key, event, room, scheme, body, received_at, replica)
    ON CONFLICT (key) DO UPDATE SET
      event = EXCLUDED.event, room = EXCLUDED.room, scheme = EXCLUDED.scheme, body = EXCLUDED.body,
      received_at = EXCLUDED.received_at, result = 'pending', attempts = 0, last_error = NULL,
      updated_at = EXCLUDED.updated_at, replica = EXCLUDED.replica
    WHERE EXCLUDED.received_at - deliveries.received_at >= $8::double precision * interval '1 millisecond'
    RETURNING *`,
  getDelivery: `SELECT * FROM deliveries WHERE key = $1`,
  getDeliveries: `SELECT * FROM deliveries WHERE key = ANY($1::text[])`,
  /**
   * A batch of outcomes, one attempt more each, in one statement. A key must appear at most once per call
   * (an UPDATE … FROM applies only one of several matching rows); `at` NULL means the database's now().
   */
  finishDeliveries: `UPDATE deliveries d
    SET result = v.result, attempts = d.attempts + 1, last_error = v.last_error, updated_at = COALESCE(v.at, now())
    FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS v(key, result, last_error, at)
    WHERE d.key = v.key`,
  reclaimDelivery: `UPDATE deliveries SET updated_at = COALESCE($3::timestamptz, now()), replica = COALESCE($4::text, replica)
    WHERE key = $1 AND result = 'pending' AND updated_at < $2 RETURNING key`,
  /**
   * Crash recovery (see `Store.claimPendingDeliveries`): pending rows nobody runs, oldest first, become replica
   * $1's. Its own rows count when last touched before its process started ($2) or stale ($3); a known
   * replica's only once its lease ran out (by the database clock); an unknown one's (deregistered, pruned,
   * NULL) when stale. SKIP LOCKED and the re-check on the UPDATE give each row to one caller; after that the
   * row names a live replica, so peers leave it alone. $5: keys running here now; $6: the most rows taken.
   */
  claimPendingDeliveries: `WITH picked AS (
      SELECT d.key FROM deliveries d
      WHERE d.result = 'pending' AND NOT (d.key = ANY($5::text[]))
        AND CASE
          WHEN d.replica = $1 THEN d.updated_at < $2 OR d.updated_at < $3
          WHEN EXISTS (SELECT 1 FROM replicas r WHERE r.id = d.replica)
            THEN NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = d.replica AND r.lease_expires_at > now())
          ELSE d.updated_at < $3 END
      ORDER BY d.received_at, d.key
      LIMIT $6
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE deliveries u SET replica = $1, updated_at = $4
    FROM picked WHERE u.key = picked.key AND u.result = 'pending'
    RETURNING u.*`,
  pruneDeliveries: `WITH gone AS (DELETE FROM deliveries WHERE received_at < $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`,

  // --- rooms (Store) ---
  /**
   * A new room, or a tombstone that this start may revive, becomes pending with no owner; a live room is left
   * alone. When both the start ($4) and the tombstone carry a session id, they decide: another session
   * revives the room at once, the same session never does (its late start). Otherwise the tombstone must be
   * older than the window ($3 ms before this start). No row back: see `roomStatus` to tell "already live"
   * from "tombstoned".
   */
  startRoom: `INSERT INTO rooms (room, status, owner, epoch, attempts, started_at, updated_at, session_id)
    VALUES ($1, 'pending', NULL, nextval('room_epoch_seq'), 0, $2, now(), $4)
    ON CONFLICT (room) DO UPDATE SET
      status = 'pending', owner = NULL, epoch = nextval('room_epoch_seq'), attempts = 0, last_error = NULL,
      started_at = EXCLUDED.started_at, ended_at = NULL, updated_at = now(), session_id = EXCLUDED.session_id
    WHERE rooms.status = 'ended'
      AND CASE WHEN EXCLUDED.session_id IS NOT NULL AND rooms.session_id IS NOT NULL
        THEN rooms.session_id <> EXCLUDED.session_id
        ELSE EXCLUDED.started_at - rooms.ended_at >= $3::double precision * interval '1 millisecond' END
    RETURNING room`,
  roomStatus: `SELECT status FROM rooms WHERE room = $1`,
  /**
   * A start naming a new session ($2) for a room that is live: the room has one session at a time, so the live
   * one is now this session, and a late end of the earlier one must not end it (see `endRoom`).
   */
  adoptSession: `UPDATE rooms SET session_id = $2, updated_at = now() WHERE room = $1 AND status <> 'ended' AND session_id IS DISTINCT FROM $2`,
  /**
   * An end before any start leaves a tombstone too; an owned room loses its owner (new epoch: fenced). The
   * ended session's id ($3, when given) stays on the tombstone so its late start is recognised on any replica.
   * An end naming another session than the live room's is an earlier session's, late: no row back, no change.
   */
  endRoom: `INSERT INTO rooms (room, status, owner, epoch, ended_at, updated_at, session_id)
    VALUES ($1, 'ended', NULL, nextval('room_epoch_seq'), $2, now(), $3)
    ON CONFLICT (room) DO UPDATE SET
      status = 'ended', owner = NULL, epoch = nextval('room_epoch_seq'), ended_at = EXCLUDED.ended_at, updated_at = now(),
      session_id = COALESCE(EXCLUDED.session_id, rooms.session_id)
    WHERE rooms.status = 'ended' OR EXCLUDED.session_id IS NULL OR rooms.session_id IS NULL OR rooms.session_id = EXCLUDED.session_id
    RETURNING room`,
  clearRoom: `DELETE FROM rooms WHERE room = $1 RETURNING room`,
  getRoom: `SELECT * FROM rooms WHERE room = $1`,

  // --- replicas and ownership (Coordinator) ---
  registerReplica: `INSERT INTO replicas (id, capacity, lease_expires_at, draining, started_at, heartbeat_at)
    VALUES ($1, $2, now() + $3::double precision * interval '1 millisecond', false, now(), now())
    ON CONFLICT (id) DO UPDATE SET
      capacity = EXCLUDED.capacity, lease_expires_at = EXCLUDED.lease_expires_at, draining = false,
      started_at = now(), heartbeat_at = now()`,
  /** Rooms a previous process with the same replica id held go back to the pool (new epoch). */
  releaseAllOf: `UPDATE rooms SET owner = NULL, epoch = nextval('room_epoch_seq'), status = 'pending', updated_at = now()
    WHERE owner = $1 AND status <> 'ended' RETURNING room`,
  lockReplica: `SELECT lease_expires_at > now() AS live, draining FROM replicas WHERE id = $1 FOR UPDATE`,
  renewLease: `UPDATE replicas
    SET lease_expires_at = now() + $2::double precision * interval '1 millisecond', heartbeat_at = now()
    WHERE id = $1`,
  /** Takes the claiming replica's row lock: claims by one replica are serialised, so its count is exact. */
  lockReplicaForClaim: `UPDATE replicas
    SET capacity = $2, lease_expires_at = now() + $3::double precision * interval '1 millisecond', heartbeat_at = now()
    WHERE id = $1 RETURNING draining`,
  countOwned: `SELECT count(*)::int AS n FROM rooms WHERE owner = $1 AND status <> 'ended'`,
  /**
   * Claimable: live (not ended) and either unowned, or owned by a replica with no live lease (expired or
   * deregistered). SKIP LOCKED lets replicas claim side by side without waiting on each other's rows; the
   * condition is repeated on the UPDATE so a row re-read after a concurrent change is checked again.
   */
  claimRooms: `WITH picked AS (
      SELECT room, owner AS previous_owner FROM rooms c
      WHERE c.status <> 'ended'
        AND (c.owner IS NULL OR NOT EXISTS (
          SELECT 1 FROM replicas o WHERE o.id = c.owner AND o.lease_expires_at > now()))
      ORDER BY c.started_at NULLS LAST, c.room
      LIMIT $2
      FOR UPDATE SKIP LOCKED
    )
    UPDATE rooms r SET owner = $1, epoch = nextval('room_epoch_seq'), status = 'pending', updated_at = now()
    FROM picked
    WHERE r.room = picked.room AND r.status <> 'ended'
      AND (r.owner IS NULL OR NOT EXISTS (
        SELECT 1 FROM replicas o WHERE o.id = r.owner AND o.lease_expires_at > now()))
    RETURNING r.room, r.epoch, r.session_id, picked.previous_owner`,
  ownedRooms: `SELECT room, epoch, status, session_id FROM rooms WHERE owner = $1 AND status <> 'ended' ORDER BY room`,
  markAttached: `UPDATE rooms
    SET status = 'attached', attempts = attempts + 1, last_error = NULL, session_id = COALESCE($4, session_id), updated_at = now()
    WHERE room = $1 AND owner = $2 AND epoch = $3 AND status <> 'ended'
    RETURNING room`,
  recordAttachFailure: `UPDATE rooms
    SET status = 'pending', attempts = attempts + 1, last_error = $4, updated_at = now()
    WHERE room = $1 AND owner = $2 AND epoch = $3 AND status <> 'ended'
    RETURNING room`,
  releaseRooms: `UPDATE rooms SET owner = NULL, epoch = nextval('room_epoch_seq'), status = 'pending', updated_at = now()
    WHERE owner = $1 AND status <> 'ended' AND room = ANY($2::text[])
    RETURNING room`,
  setDraining: `UPDATE replicas SET draining = true WHERE id = $1`,
  deleteReplica: `DELETE FROM replicas WHERE id = $1`,
  activeRooms: `SELECT * FROM rooms WHERE status <> 'ended' ORDER BY room`,
  listReplicas: `SELECT *, lease_expires_at > now() AS live FROM replicas ORDER BY id`,
  pruneRooms: `WITH gone AS (DELETE FROM rooms WHERE status = 'ended' AND ended_at < $1 RETURNING 1)
    SELECT count(*)::int AS n FROM gone`,
  pruneReplicas: `WITH gone AS (
      DELETE FROM replicas WHERE lease_expires_at <= now() - $1::double precision * interval '1 millisecond' RETURNING 1)
    SELECT count(*)::int AS n FROM gone`,
} as const;

/** Builds the filtered, newest-first delivery listing; values go in as parameters, never into the text. */
export function listDeliveriesQuery(filter: {
  event?: string | undefined;
  room?: string | undefined;
  result?: string | undefined;
  since?: Date | undefined;
  limit?: number | undefined;
}): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (column: string, op: string, value: unknown): void => {
    params.push(value);
    where.push(`${column} ${op} $${params.length}`);
  };
  if (filter.event !== undefined) add('event', '=', filter.event);
  if (filter.room !== undefined) add('room', '=', filter.room);
  if (filter.result !== undefined) add('result', '=', filter.result);
  if (filter.since !== undefined) add('received_at', '>=', filter.since);
  let sql = 'SELECT * FROM deliveries';
  if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
  sql += ' ORDER BY received_at DESC, key DESC';
  if (filter.limit !== undefined && filter.limit !== Number.POSITIVE_INFINITY) {
    params.push(Math.max(0, Math.floor(filter.limit)));
    sql += ` LIMIT $${params.length}`;
  }
  return { sql, params };
}
