/**
 * The Store and Coordinator over any {@link SqlClient}: one implementation, two engines (PGlite in process,
 * PostgreSQL for several replicas), the same statements from `sql.ts`.
 *
 * Every operation is one statement or one transaction, so a store that goes away mid-call leaves nothing
 * recorded half-way. Writes that make a room claimable, end it or move it to another owner send
 * `pg_notify('roomrunner_rooms', room)` in the same transaction: peers hear of it when it commits.
 */
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
import { GroupCommit, type Settled } from './group-commit.js';
import { nonNegativeMs, wholeNumber } from '../util/options.js';
import { ROOMS_CHANNEL, SQL, listDeliveriesQuery, type SqlClient } from './sql.js';
import type { DeliveryFilter, DeliveryRecord, DeliveryResult, NewDelivery, PendingClaim, RoomRecord, Store } from './store.js';
import { byReceipt } from './store.js';

interface DeliveryRow {
  key: string;
  event: string;
  room: string | null;
  scheme: string;
  body: string;
  received_at: Date;
  result: string;
  attempts: number;
  last_error: string | null;
  updated_at: Date;
  replica: string | null;
}

interface RoomRow {
  room: string;
  status: RoomPhase;
  owner: string | null;
  epoch: number | string;
  attempts: number;
  last_error: string | null;
  started_at: Date | null;
  ended_at: Date | null;
  updated_at: Date;
  session_id: string | null;
}

interface ReplicaRow {
  id: string;
  capacity: number;
  lease_expires_at: Date;
  live: boolean;
  draining: boolean;
  started_at: Date;
  heartbeat_at: Date;
}

export interface SqlStoreOptions {
  /** Shown in errors, e.g. `pglite` or `postgres`. */
  readonly engine: string;
  /** Close the client with the store (false when the client is shared). Default true. */
  readonly ownsClient?: boolean;
}

/** Most calls one group commit writes in one statement (the rest go in the next). */
export const MAX_DELIVERY_BATCH = 256;

/** A duplicate is told from memory only when it is this far inside the window (else the database decides). */
const LOCAL_DUPLICATE_MARGIN_MS = 1;

interface RecordCall {
  readonly delivery: NewDelivery;
  readonly dedupeWindowMs: number;
}

interface RecordOutcome {
  duplicate: boolean;
  record: DeliveryRecord;
}

interface FinishCall {
  readonly key: string;
  readonly result: DeliveryResult;
  readonly error: string | null;
  readonly at: Date | null;
}

/** Store + Coordinator over SQL. Engines subclass it only to open their client. */
export class SqlStore implements Store, Coordinator {
  readonly #client: SqlClient;
  readonly #engine: string;
  readonly #ownsClient: boolean;
  readonly #unsubscribes = new Set<() => Promise<void>>();
  readonly #records = new GroupCommit<RecordCall, RecordOutcome>((calls) => this.#recordBatch(calls), { maxBatch: MAX_DELIVERY_BATCH });
  readonly #finishes = new GroupCommit<FinishCall, void>((calls) => this.#finishBatch(calls), { maxBatch: MAX_DELIVERY_BATCH });
  #closed = false;

  constructor(client: SqlClient, options: SqlStoreOptions) {
    this.#client = client;
    this.#engine = options.engine;
    this.#ownsClient = options.ownsClient ?? true;
  }

  // --- deliveries ---

  /**
   * Group-committed (see `group-commit.ts`): calls made while an earlier batch is being written go together in
   * one statement (`SQL.recordDeliveries`); each caller gets what it would have got alone.
   */
  async recordDelivery(delivery: NewDelivery, dedupeWindowMs: number): Promise<RecordOutcome> {
    this.#open();
    nonNegativeMs('dedupeWindowMs', dedupeWindowMs, 'RR_STORE_OPTION_INVALID');
    return this.#records.submit({ delivery, dedupeWindowMs });
  }

  /** Group-committed like recordDelivery: one `SQL.finishDeliveries` per batch. */
  async finishDelivery(key: string, result: DeliveryResult, error: string | null = null, at?: Date): Promise<void> {
    this.#open();
    await this.#finishes.submit({ key, result, error: error ?? null, at: at ?? null });
  }

  async reclaimDelivery(key: string, staleBefore: Date, at?: Date, replica: string | null = null): Promise<boolean> {
    const { rows } = await this.#open().query(SQL.reclaimDelivery, [key, staleBefore, at ?? null, replica]);
    return rows.length === 1;
  }

  /** One statement (`SQL.claimPendingDeliveries`); the rows come back oldest first. */
  async claimPendingDeliveries(claim: PendingClaim): Promise<DeliveryRecord[]> {
    const client = this.#open();
    wholeNumber('limit', claim.limit, 0, 'RR_STORE_OPTION_INVALID');
    if (claim.limit === 0) return [];
    const { rows } = await client.query<DeliveryRow>(SQL.claimPendingDeliveries, [
      claim.replica,
      claim.processStartedAt,
      claim.staleBefore,
      claim.at,
      [...(claim.exclude ?? [])],
      claim.limit,
    ]);
    return rows.map(toDelivery).sort(byReceipt);
  }

  async getDelivery(key: string): Promise<DeliveryRecord | undefined> {
    const { rows } = await this.#open().query<DeliveryRow>(SQL.getDelivery, [key]);
    return rows[0] === undefined ? undefined : toDelivery(rows[0]);
  }

  /** Newest first (by `receivedAt`), at most `limit`. */
  async listDeliveries(filter: DeliveryFilter = {}): Promise<DeliveryRecord[]> {
    const client = this.#open();
    if (filter.limit !== undefined && Number.isNaN(filter.limit)) {
      throw new RoomrunnerError('RR_STORE_OPTION_INVALID', 'limit must be a number', { data: { option: 'limit' } });
    }
    const { sql, params } = listDeliveriesQuery(filter);
    const { rows } = await client.query<DeliveryRow>(sql, params);
    return rows.map(toDelivery);
  }

  async pruneDeliveries(before: Date): Promise<number> {
    const { rows } = await this.#open().query<{ n: number }>(SQL.pruneDeliveries, [before]);
    return Number(rows[0]?.n ?? 0);
  }

  // --- rooms (Store) ---

  /**
   * Marks the room started: a new room (or one whose tombstone is older than the window) becomes pending with
   * no owner, and peers are notified so one claims it. `sessionId` is kept with a new or revived room.
   * When the start and the tombstone both carry a session id they decide instead of the window: another session
   * revives the room, the same one never does (see `SQL.startRoom`).
   */
  async markRoomStarted(room: string, at: Date, tombstoneWindowMs: number, sessionId: string | null = null): Promise<boolean> {
    const client = this.#open();
    nonNegativeMs('tombstoneWindowMs', tombstoneWindowMs, 'RR_STORE_OPTION_INVALID');
    return client.transaction(async (tx) => {
      const started = await tx.query(SQL.startRoom, [room, at, tombstoneWindowMs, sessionId]);
      if (started.rows.length > 0) {
        await tx.query(SQL.notify, [ROOMS_CHANNEL, room]);
        return true;
      }
      // The conflicting row is locked by the statement above, so this read is stable.
      const { rows } = await tx.query<{ status: RoomPhase }>(SQL.roomStatus, [room]);
      const live = rows[0]?.status !== 'ended';
      if (live && sessionId !== null) await tx.query(SQL.adoptSession, [room, sessionId]);
      return live;
    });
  }

  /**
   * Leaves a tombstone; an owner loses the room (new epoch) and hears of it through the notification. The ended
   * session's id, when given, is kept on the tombstone so a late start of that session is ignored everywhere.
   */
  async markRoomEnded(room: string, at: Date, sessionId: string | null = null): Promise<boolean> {
    return this.#open().transaction(async (tx) => {
      const { rows } = await tx.query(SQL.endRoom, [room, at, sessionId]);
      if (rows.length === 0) return false;
      await tx.query(SQL.notify, [ROOMS_CHANNEL, room]);
      return true;
    });
  }

  async clearRoom(room: string): Promise<void> {
    await this.#open().transaction(async (tx) => {
      const { rows } = await tx.query(SQL.clearRoom, [room]);
      if (rows.length > 0) await tx.query(SQL.notify, [ROOMS_CHANNEL, room]);
    });
  }

  /** `started` while pending or attached; `updatedAt` is the start or end time the caller gave. */
  async getRoom(room: string): Promise<RoomRecord | undefined> {
    const row = await this.#roomRow(room);
    if (row === undefined) return undefined;
    const status = row.status === 'ended' ? 'ended' : 'started';
    const at = status === 'ended' ? row.ended_at : row.started_at;
    return { room: row.room, status, updatedAt: at ?? row.updated_at };
  }

  // --- replicas and ownership (Coordinator) ---

  async registerReplica(id: string, capacity: number, options: RegisterOptions = {}): Promise<void> {
    const client = this.#open();
    wholeNumber('capacity', capacity, 0, 'RR_STORE_OPTION_INVALID');
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    nonNegativeMs('leaseMs', leaseMs, 'RR_STORE_OPTION_INVALID');
    await client.transaction(async (tx) => {
      await tx.query(SQL.registerReplica, [id, capacity, leaseMs]);
      const released = await tx.query(SQL.releaseAllOf, [id]);
      if (released.rows.length > 0) await tx.query(SQL.notify, [ROOMS_CHANNEL, '']);
    });
  }

  async heartbeat(id: string, leaseMs: number): Promise<{ ok: boolean }> {
    const client = this.#open();
    nonNegativeMs('leaseMs', leaseMs, 'RR_STORE_OPTION_INVALID');
    return client.transaction(async (tx) => {
      const { rows } = await tx.query<{ live: boolean }>(SQL.lockReplica, [id]);
      if (rows[0] === undefined) return { ok: false };
      await tx.query(SQL.renewLease, [id, leaseMs]);
      return { ok: rows[0].live };
    });
  }

  async claimRooms(replicaId: string, options: ClaimOptions): Promise<ClaimedRoom[]> {
    const client = this.#open();
    wholeNumber('capacity', options.capacity, 0, 'RR_STORE_OPTION_INVALID');
    nonNegativeMs('leaseMs', options.leaseMs, 'RR_STORE_OPTION_INVALID');
    return client.transaction(async (tx) => {
      // The replica's row lock serialises its claims: the count below sees every claim it committed before.
      const me = await tx.query<{ draining: boolean }>(SQL.lockReplicaForClaim, [replicaId, options.capacity, options.leaseMs]);
      if (me.rows[0] === undefined || me.rows[0].draining) return [];
      const owned = await tx.query<{ n: number }>(SQL.countOwned, [replicaId]);
      const free = options.capacity - Number(owned.rows[0]?.n ?? 0);
      if (free <= 0) return [];
      const { rows } = await tx.query<{ room: string; epoch: number | string; session_id: string | null; previous_owner: string | null }>(SQL.claimRooms, [
        replicaId,
        free,
      ]);
      // A room taken from another replica: tell it now rather than at its next heartbeat.
      for (const row of rows) {
        if (row.previous_owner !== null) await tx.query(SQL.notify, [ROOMS_CHANNEL, row.room]);
      }
      return rows
        .map((row) => ({ room: row.room, epoch: Number(row.epoch), sessionId: row.session_id, previousOwner: row.previous_owner }))
        .sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
    });
  }

  async ownedRooms(replicaId: string): Promise<OwnedRoom[]> {
    const { rows } = await this.#open().query<{ room: string; epoch: number | string; status: 'pending' | 'attached'; session_id: string | null }>(
      SQL.ownedRooms,
      [replicaId],
    );
    return rows.map((row) => ({ room: row.room, epoch: Number(row.epoch), status: row.status, sessionId: row.session_id }));
  }

  async markAttached(room: string, replicaId: string, epoch: number, sessionId: string | null = null): Promise<boolean> {
    const { rows } = await this.#open().query(SQL.markAttached, [room, replicaId, epoch, sessionId]);
    return rows.length > 0;
  }

  async recordAttachFailure(room: string, replicaId: string, epoch: number, error: string): Promise<boolean> {
    const { rows } = await this.#open().query(SQL.recordAttachFailure, [room, replicaId, epoch, error]);
    return rows.length > 0;
  }

  async releaseRooms(replicaId: string, rooms?: readonly string[]): Promise<string[]> {
    const client = this.#open();
    if (rooms !== undefined && rooms.length === 0) return [];
    return client.transaction(async (tx) => {
      const released =
        rooms === undefined
          ? await tx.query<{ room: string }>(SQL.releaseAllOf, [replicaId])
          : await tx.query<{ room: string }>(SQL.releaseRooms, [replicaId, [...rooms]]);
      const names = released.rows.map((row) => row.room).sort();
      if (names.length > 0) await tx.query(SQL.notify, [ROOMS_CHANNEL, names.length === 1 ? names[0] : '']);
      return names;
    });
  }

  async setDraining(replicaId: string): Promise<void> {
    await this.#open().query(SQL.setDraining, [replicaId]);
  }

  async deregisterReplica(id: string): Promise<void> {
    await this.#open().transaction(async (tx) => {
      // Replica row first, then its rooms: the same lock order as claims, so the two never deadlock.
      await tx.query(SQL.lockReplica, [id]);
      const released = await tx.query(SQL.releaseAllOf, [id]);
      await tx.query(SQL.deleteReplica, [id]);
      if (released.rows.length > 0) await tx.query(SQL.notify, [ROOMS_CHANNEL, '']);
    });
  }

  async onRoomsChanged(listener: RoomsChangedListener): Promise<() => Promise<void>> {
    const client = this.#open();
    const unlisten = await client.listen(ROOMS_CHANNEL, (payload) => listener(payload === '' ? null : payload));
    let done = false;
    const unsubscribe = async (): Promise<void> => {
      if (done) return;
      done = true;
      this.#unsubscribes.delete(unsubscribe);
      await unlisten();
    };
    this.#unsubscribes.add(unsubscribe);
    return unsubscribe;
  }

  async activeRooms(): Promise<RoomState[]> {
    const { rows } = await this.#open().query<RoomRow>(SQL.activeRooms);
    return rows.map(toRoomState);
  }

  async roomState(room: string): Promise<RoomState | undefined> {
    const row = await this.#roomRow(room);
    return row === undefined ? undefined : toRoomState(row);
  }

  async listReplicas(): Promise<ReplicaState[]> {
    const { rows } = await this.#open().query<ReplicaRow>(SQL.listReplicas);
    return rows.map((row) => ({
      id: row.id,
      capacity: Number(row.capacity),
      leaseExpiresAt: row.lease_expires_at,
      live: row.live,
      draining: row.draining,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
    }));
  }

  async pruneRooms(endedBefore: Date): Promise<number> {
    const { rows } = await this.#open().query<{ n: number }>(SQL.pruneRooms, [endedBefore]);
    return Number(rows[0]?.n ?? 0);
  }

  async pruneReplicas(expiredForMs: number): Promise<number> {
    const client = this.#open();
    nonNegativeMs('expiredForMs', expiredForMs, 'RR_STORE_OPTION_INVALID');
    const { rows } = await client.query<{ n: number }>(SQL.pruneReplicas, [expiredForMs]);
    return Number(rows[0]?.n ?? 0);
  }

  // --- lifecycle ---

  async ping(): Promise<void> {
    await this.#open().query('SELECT 1');
  }

  /** Idempotent; afterwards every call rejects with `RR_STORE_UNAVAILABLE`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Calls accepted before close() are still written (or fail) before the client goes.
    await Promise.all([this.#records.idle(), this.#finishes.idle()]);
    for (const unsubscribe of [...this.#unsubscribes]) await unsubscribe().catch(() => undefined);
    if (this.#ownsClient) await this.#client.close();
  }

  /** `pglite` or `postgres`. */
  get engine(): string {
    return this.#engine;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * One batch of recordDelivery calls, in rounds of one `SQL.recordDeliveries` statement each (nearly always
   * one round). A round writes the first pending call of each key ("leader"); a later call of the same key is a
   * duplicate of what its leader left, told from memory when clearly within its window, otherwise it waits for
   * the next round, so every call sees what it would have seen alone, in arrival order. A round takes one
   * dedupe window (the statement has one); calls with another wait for a later round. Keys with no row back
   * are duplicates, read with one `SQL.getDeliveries`; a row pruned in between is retried (3 tries, as alone).
   * A failed statement fails every call not yet answered, and none of its rows are written.
   */
  async #recordBatch(calls: readonly RecordCall[]): Promise<Array<Settled<RecordOutcome>>> {
    const client = this.#client; // not #open(): calls accepted before close() still run
    const out: Array<Settled<RecordOutcome> | undefined> = new Array(calls.length);
    const misses = new Array<number>(calls.length).fill(0);
    let pending = calls.map((_, i) => i);
    try {
      while (pending.length > 0) {
        const windowMs = calls[pending[0]!]!.dedupeWindowMs;
        const leaders = new Map<string, number>();
        const seen = new Set<string>();
        for (const i of pending) {
          const call = calls[i]!;
          if (seen.has(call.delivery.key)) continue;
          seen.add(call.delivery.key);
          if (call.dedupeWindowMs === windowMs) leaders.set(call.delivery.key, i);
        }
        const batch = [...leaders.values()].map((i) => calls[i]!.delivery);
        const inserted = await client.query<DeliveryRow>(SQL.recordDeliveries, [
          batch.map((d) => d.key),
          batch.map((d) => d.event),
          batch.map((d) => d.room),
          batch.map((d) => d.scheme),
          batch.map((d) => d.body),
          batch.map((d) => d.receivedAt),
          batch.map((d) => d.replica ?? null),
          windowMs,
        ]);
        const known = new Map<string, DeliveryRecord>();
        const fresh = new Set<string>();
        for (const row of inserted.rows) {
          known.set(row.key, toDelivery(row));
          fresh.add(row.key);
        }
        const missing = batch.filter((d) => !fresh.has(d.key)).map((d) => d.key);
        if (missing.length > 0) {
          const existing = await client.query<DeliveryRow>(SQL.getDeliveries, [missing]);
          for (const row of existing.rows) known.set(row.key, toDelivery(row));
        }
        const next: number[] = [];
        const blocked = new Set<string>();
        for (const i of pending) {
          const { delivery, dedupeWindowMs } = calls[i]!;
          const key = delivery.key;
          const record = known.get(key);
          if (leaders.get(key) === i) {
            if (record !== undefined) out[i] = { ok: true, value: { duplicate: !fresh.has(key), record } };
            else if (++misses[i]! >= 3) {
              out[i] = {
                ok: false,
                error: new RoomrunnerError('RR_STORE_UNAVAILABLE', `the ${this.#engine} store could not settle delivery ${key}`),
              };
            } else {
              next.push(i);
              blocked.add(key);
            }
          } else if (
            leaders.has(key) &&
            !blocked.has(key) &&
            record !== undefined &&
            delivery.receivedAt.getTime() - record.receivedAt.getTime() < dedupeWindowMs - LOCAL_DUPLICATE_MARGIN_MS
          ) {
            out[i] = { ok: true, value: { duplicate: true, record } };
          } else {
            next.push(i);
            blocked.add(key);
          }
        }
        pending = next;
      }
    } catch (error) {
      for (const i of pending) out[i] ??= { ok: false, error };
    }
    return out as Array<Settled<RecordOutcome>>;
  }

  /**
   * One batch of finishDelivery calls: one `SQL.finishDeliveries` per round, a key at most once per round, so
   * several outcomes of one key land in arrival order (each counting an attempt).
   */
  async #finishBatch(calls: readonly FinishCall[]): Promise<Array<Settled<void>>> {
    const client = this.#client;
    const out: Array<Settled<void> | undefined> = new Array(calls.length);
    let pending = calls.map((_, i) => i);
    try {
      while (pending.length > 0) {
        const seen = new Set<string>();
        const now: number[] = [];
        const next: number[] = [];
        for (const i of pending) {
          const key = calls[i]!.key;
          if (seen.has(key)) next.push(i);
          else {
            seen.add(key);
            now.push(i);
          }
        }
        const batch = now.map((i) => calls[i]!);
        await client.query(SQL.finishDeliveries, [batch.map((c) => c.key), batch.map((c) => c.result), batch.map((c) => c.error), batch.map((c) => c.at)]);
        for (const i of now) out[i] = { ok: true, value: undefined };
        pending = next;
      }
    } catch (error) {
      for (const i of pending) out[i] ??= { ok: false, error };
    }
    return out as Array<Settled<void>>;
  }

  async #roomRow(room: string): Promise<RoomRow | undefined> {
    const { rows } = await this.#open().query<RoomRow>(SQL.getRoom, [room]);
    return rows[0];
  }

  #open(): SqlClient {
    if (this.#closed) throw new RoomrunnerError('RR_STORE_UNAVAILABLE', `the ${this.#engine} store is closed`);
    return this.#client;
  }
}

function toDelivery(row: DeliveryRow): DeliveryRecord {
  return {
    key: row.key,
    event: row.event,
    room: row.room,
    scheme: row.scheme,
    body: row.body,
    receivedAt: row.received_at,
    result: row.result as DeliveryResult,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    updatedAt: row.updated_at,
    replica: row.replica ?? null,
  };
}

function toRoomState(row: RoomRow): RoomState {
  return {
    room: row.room,
    status: row.status,
    owner: row.owner,
    epoch: Number(row.epoch),
    attempts: Number(row.attempts),
    lastError: row.last_error,
    sessionId: row.session_id,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    updatedAt: row.updated_at,
  };
}
