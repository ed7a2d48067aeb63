/**
 * An in-process {@link Store} and {@link Coordinator}: the library's default. It keeps the same contract as the
 * SQL stores (the contract suite runs on it), so a process on it runs the one coordinated code path; it just
 * coordinates only the replicas of one process. Nothing survives a restart, so a duplicate delivered after a
 * restart is not recognised. Good for one process, tests and local work.
 *
 * Several stores may share one in-process database ({@link MemoryStoreOptions.peerOf}): each is a replica's
 * handle, as several pools on one PostgreSQL database are. Every call runs to completion before the next (one
 * thread, no awaits inside), which gives each call the atomicity a SQL transaction gives it there.
 *
 * Time: the database's clock (`now`, shared by its stores) sets leases, as `now()` does in SQL; delivery and
 * room times are the caller's. Dedupe window: a key is a duplicate when its earlier record was received less
 * than `dedupeWindowMs` before the new delivery's `receivedAt`.
 */
import { RoomrunnerError } from '../errors.js';
import {
  type ClaimedRoom,
  type ClaimOptions,
  type Coordinator,
  DEFAULT_LEASE_MS,
  type OwnedRoom,
  type RegisterOptions,
  type ReplicaState,
  type RoomPhase,
  type RoomsChangedListener,
  type RoomState,
} from './coordinator.js';
import { nonNegativeMs, wholeNumber } from '../util/options.js';
import type { DeliveryFilter, DeliveryRecord, DeliveryResult, NewDelivery, PendingClaim, RoomRecord, Store } from './store.js';
import { byReceipt } from './store.js';

/** How many deliveries are kept before the oldest are forgotten (bounds memory under a flood). */
export const DEFAULT_MEMORY_STORE_MAX_DELIVERIES = 100_000;

export interface MemoryStoreOptions {
  /** The database's clock, milliseconds since the epoch (leases; times the caller does not pass). Default `Date.now`. */
  readonly now?: () => number;
  /** Default {@link DEFAULT_MEMORY_STORE_MAX_DELIVERIES}. */
  readonly maxDeliveries?: number;
  /** Share this store's database (another replica in the same process); `now` and `maxDeliveries` are then its. */
  readonly peerOf?: MemoryStore;
}

interface RoomRow {
  room: string;
  status: RoomPhase;
  /** Changed only by {@link MemoryDatabase.setOwner}, which keeps the owner index. */
  readonly owner: string | null;
  epoch: number;
  attempts: number;
  lastError: string | null;
  sessionId: string | null;
  startedAt: Date | null;
  endedAt: Date | null;
  updatedAt: Date;
}

interface ReplicaRow {
  id: string;
  capacity: number;
  leaseExpiresAt: number;
  draining: boolean;
  startedAt: number;
  heartbeatAt: number;
}

/** The state several stores share: the tables, the epoch sequence and the change listeners. */
class MemoryDatabase {
  readonly now: () => number;
  readonly maxDeliveries: number;
  /** Map keeps insertion order, so the first entries are the oldest. */
  readonly deliveries = new Map<string, DeliveryRecord>();
  readonly #rooms = new Map<string, RoomRow>();
  /**
   * Rooms not ended, by owner (null: nobody): an index, so that a claim counts the claimer's rooms and visits only
   * the rooms it may take instead of every row (a storm claims once per room). Kept by putRoom, deleteRoom, setOwner.
   */
  readonly #byOwner = new Map<string | null, Set<RoomRow>>();
  readonly replicas = new Map<string, ReplicaRow>();
  readonly listeners = new Set<RoomsChangedListener>();
  #epoch = 0;

  constructor(now: () => number, maxDeliveries: number) {
    this.now = now;
    this.maxDeliveries = maxDeliveries;
  }

  /** The next fencing epoch: one sequence for every room, so epochs only grow (clearRoom and pruning included). */
  nextEpoch(): number {
    this.#epoch += 1;
    return this.#epoch;
  }

  /** Like NOTIFY: delivered after the change is visible, never inside the call that made it. */
  notify(room: string | null): void {
    if (this.listeners.size === 0) return;
    const listeners = [...this.listeners];
    setImmediate(() => {
      for (const listener of listeners) if (this.listeners.has(listener)) listener(room);
    });
  }

  /** The rooms table: read here, written through putRoom, deleteRoom and setOwner. */
  get rooms(): ReadonlyMap<string, RoomRow> {
    return this.#rooms;
  }

  /** Inserts or replaces the room's row. */
  putRoom(row: RoomRow): void {
    const existing = this.#rooms.get(row.room);
    if (existing !== undefined) this.#unindex(existing);
    this.#rooms.set(row.room, row);
    if (row.status !== 'ended') this.#index(row);
  }

  deleteRoom(room: string): boolean {
    const existing = this.#rooms.get(room);
    if (existing === undefined) return false;
    this.#unindex(existing);
    return this.#rooms.delete(room);
  }

  /** A live room's new owner (ended rows always have none). */
  setOwner(row: RoomRow, owner: string | null): void {
    this.#unindex(row);
    (row as { owner: string | null }).owner = owner;
    this.#index(row);
  }

  /** The live rooms `owner` holds (null: the rooms nobody holds). */
  ownedBy(owner: string | null): ReadonlySet<RoomRow> {
    return this.#byOwner.get(owner) ?? NO_ROWS;
  }

  /** Live rooms another replica may take from `replicaId`'s point of view: nobody's, or a replica's whose lease ran out. */
  claimableBy(replicaId: string): RoomRow[] {
    const claimable: RoomRow[] = [];
    for (const [owner, rows] of this.#byOwner) {
      if (owner === replicaId || this.live(owner)) continue;
      for (const row of rows) claimable.push(row);
    }
    return claimable;
  }

  #index(row: RoomRow): void {
    let rows = this.#byOwner.get(row.owner);
    if (rows === undefined) {
      rows = new Set();
      this.#byOwner.set(row.owner, rows);
    }
    rows.add(row);
  }

  #unindex(row: RoomRow): void {
    const rows = this.#byOwner.get(row.owner);
    if (rows === undefined) return;
    rows.delete(row);
    if (rows.size === 0) this.#byOwner.delete(row.owner);
  }

  live(replicaId: string | null): boolean {
    if (replicaId === null) return false;
    const replica = this.replicas.get(replicaId);
    return replica !== undefined && replica.leaseExpiresAt > this.now();
  }

  /** Gives back every live room `owner` holds (new epochs); returns their names, sorted. */
  releaseAllOf(owner: string, only?: ReadonlySet<string>): string[] {
    const released: string[] = [];
    const now = new Date(this.now());
    for (const row of [...this.ownedBy(owner)]) {
      if (only !== undefined && !only.has(row.room)) continue;
      this.setOwner(row, null);
      row.epoch = this.nextEpoch();
      row.status = 'pending';
      row.updatedAt = now;
      released.push(row.room);
    }
    return released.sort(byName);
  }
}

export class MemoryStore implements Store, Coordinator {
  readonly #db: MemoryDatabase;
  readonly #subscriptions = new Set<RoomsChangedListener>();
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const peer = options.peerOf;
    this.#db = peer !== undefined ? peer.#db : new MemoryDatabase(options.now ?? Date.now, options.maxDeliveries ?? DEFAULT_MEMORY_STORE_MAX_DELIVERIES);
  }

  // --- deliveries ---

  async recordDelivery(delivery: NewDelivery, dedupeWindowMs: number): Promise<{ duplicate: boolean; record: DeliveryRecord }> {
    this.#assertOpen();
    nonNegativeMs('dedupeWindowMs', dedupeWindowMs, 'RR_STORE_OPTION_INVALID');
    const deliveries = this.#db.deliveries;
    const existing = deliveries.get(delivery.key);
    if (existing !== undefined && delivery.receivedAt.getTime() - existing.receivedAt.getTime() < dedupeWindowMs) {
      return { duplicate: true, record: existing };
    }
    const record: DeliveryRecord = {
      key: delivery.key,
      event: delivery.event,
      room: delivery.room,
      scheme: delivery.scheme,
      body: delivery.body,
      receivedAt: new Date(delivery.receivedAt.getTime()),
      replica: delivery.replica ?? null,
      result: 'pending',
      attempts: 0,
      lastError: null,
      updatedAt: new Date(delivery.receivedAt.getTime()),
    };
    // Delete first so a re-recorded key moves to the newest end.
    deliveries.delete(delivery.key);
    deliveries.set(delivery.key, record);
    while (deliveries.size > this.#db.maxDeliveries) {
      const oldest = deliveries.keys().next().value;
      if (oldest === undefined) break;
      deliveries.delete(oldest);
    }
    return { duplicate: false, record };
  }

  async finishDelivery(key: string, result: DeliveryResult, error: string | null = null, at?: Date): Promise<void> {
    this.#assertOpen();
    const existing = this.#db.deliveries.get(key);
    if (existing === undefined) return; // pruned or evicted meanwhile: nothing to update
    this.#db.deliveries.set(key, {
      ...existing,
      result,
      attempts: existing.attempts + 1,
      lastError: error ?? null,
      updatedAt: at ?? new Date(this.#db.now()),
    });
  }

  async reclaimDelivery(key: string, staleBefore: Date, at?: Date, replica: string | null = null): Promise<boolean> {
    this.#assertOpen();
    const existing = this.#db.deliveries.get(key);
    if (existing === undefined || existing.result !== 'pending' || existing.updatedAt >= staleBefore) return false;
    this.#db.deliveries.set(key, { ...existing, updatedAt: at ?? new Date(this.#db.now()), replica: replica ?? existing.replica });
    return true;
  }

  /**
   * As the SQL stores: its own rows from before this process or stale; a known replica's once its lease ran
   * out; an unknown replica's (deregistered, pruned, none) when stale.
   */
  async claimPendingDeliveries(claim: PendingClaim): Promise<DeliveryRecord[]> {
    this.#assertOpen();
    wholeNumber('limit', claim.limit, 0, 'RR_STORE_OPTION_INVALID');
    const exclude = new Set(claim.exclude ?? []);
    const db = this.#db;
    const due = [...db.deliveries.values()]
      .filter((record) => {
        if (record.result !== 'pending' || exclude.has(record.key)) return false;
        const stale = record.updatedAt < claim.staleBefore;
        if (record.replica === claim.replica) return stale || record.updatedAt < claim.processStartedAt;
        if (record.replica !== null && db.replicas.has(record.replica)) return !db.live(record.replica);
        return stale;
      })
      .sort(byReceipt)
      .slice(0, claim.limit);
    return due.map((record) => {
      const taken: DeliveryRecord = { ...record, replica: claim.replica, updatedAt: new Date(claim.at.getTime()) };
      db.deliveries.set(record.key, taken);
      return taken;
    });
  }

  async getDelivery(key: string): Promise<DeliveryRecord | undefined> {
    this.#assertOpen();
    return this.#db.deliveries.get(key);
  }

  /** Newest first (by `receivedAt`), at most `limit`. */
  async listDeliveries(filter: DeliveryFilter = {}): Promise<DeliveryRecord[]> {
    this.#assertOpen();
    const matching = [...this.#db.deliveries.values()].filter(
      (record) =>
        (filter.event === undefined || record.event === filter.event) &&
        (filter.room === undefined || record.room === filter.room) &&
        (filter.result === undefined || record.result === filter.result) &&
        (filter.since === undefined || record.receivedAt.getTime() >= filter.since.getTime()),
    );
    matching.sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime() || (a.key < b.key ? 1 : a.key > b.key ? -1 : 0));
    return filter.limit === undefined ? matching : matching.slice(0, Math.max(0, filter.limit));
  }

  async pruneDeliveries(before: Date): Promise<number> {
    this.#assertOpen();
    let pruned = 0;
    for (const [key, record] of this.#db.deliveries) {
      if (record.receivedAt.getTime() < before.getTime()) {
        this.#db.deliveries.delete(key);
        pruned++;
      }
    }
    return pruned;
  }

  // --- rooms (Store) ---

  /**
   * A new room, or a tombstone this start may revive, becomes pending with no owner; a live room stays as it is
   * (taking the start's session when it names a new one). Session ids on both decide a tombstone; otherwise it
   * must be older than the window. False when the start is refused by a tombstone.
   */
  async markRoomStarted(room: string, at: Date, tombstoneWindowMs: number, sessionId: string | null = null): Promise<boolean> {
    this.#assertOpen();
    nonNegativeMs('tombstoneWindowMs', tombstoneWindowMs, 'RR_STORE_OPTION_INVALID');
    const db = this.#db;
    const existing = db.rooms.get(room);
    if (existing !== undefined && existing.status !== 'ended') {
      if (sessionId !== null && existing.sessionId !== sessionId) {
        existing.sessionId = sessionId;
        existing.updatedAt = new Date(db.now());
      }
      return true;
    }
    if (existing !== undefined) {
      const revives =
        sessionId !== null && existing.sessionId !== null
          ? existing.sessionId !== sessionId
          : at.getTime() - (existing.endedAt ?? existing.updatedAt).getTime() >= tombstoneWindowMs;
      if (!revives) return false;
    }
    db.putRoom({
      room,
      status: 'pending',
      owner: null,
      epoch: db.nextEpoch(),
      attempts: 0,
      lastError: null,
      sessionId,
      startedAt: new Date(at.getTime()),
      endedAt: null,
      updatedAt: new Date(db.now()),
    });
    db.notify(room);
    return true;
  }

  /**
   * Leaves a tombstone (also for a room never started); an owner loses the room (new epoch). An end naming
   * another session than the live room's is an earlier session's, late: false, nothing changes.
   */
  async markRoomEnded(room: string, at: Date, sessionId: string | null = null): Promise<boolean> {
    this.#assertOpen();
    const db = this.#db;
    const existing = db.rooms.get(room);
    if (existing !== undefined && existing.status !== 'ended' && sessionId !== null && existing.sessionId !== null && existing.sessionId !== sessionId) {
      return false;
    }
    db.putRoom({
      room,
      status: 'ended',
      owner: null,
      epoch: db.nextEpoch(),
      attempts: existing?.attempts ?? 0,
      lastError: existing?.lastError ?? null,
      sessionId: sessionId ?? existing?.sessionId ?? null,
      startedAt: existing?.startedAt ?? null,
      endedAt: new Date(at.getTime()),
      updatedAt: new Date(db.now()),
    });
    db.notify(room);
    return true;
  }

  async clearRoom(room: string): Promise<void> {
    this.#assertOpen();
    if (this.#db.deleteRoom(room)) this.#db.notify(room);
  }

  /** `started` while pending or attached; `updatedAt` is the start or end time the caller gave. */
  async getRoom(room: string): Promise<RoomRecord | undefined> {
    this.#assertOpen();
    const row = this.#db.rooms.get(room);
    if (row === undefined) return undefined;
    const status = row.status === 'ended' ? 'ended' : 'started';
    const at = status === 'ended' ? row.endedAt : row.startedAt;
    return { room: row.room, status, updatedAt: at ?? row.updatedAt, sessionId: row.sessionId };
  }

  // --- replicas and ownership (Coordinator) ---

  async registerReplica(id: string, capacity: number, options: RegisterOptions = {}): Promise<void> {
    this.#assertOpen();
    wholeNumber('capacity', capacity, 0, 'RR_STORE_OPTION_INVALID');
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    nonNegativeMs('leaseMs', leaseMs, 'RR_STORE_OPTION_INVALID');
    const db = this.#db;
    const now = db.now();
    db.replicas.set(id, { id, capacity, leaseExpiresAt: now + leaseMs, draining: false, startedAt: now, heartbeatAt: now });
    if (db.releaseAllOf(id).length > 0) db.notify(null);
  }

  async heartbeat(id: string, leaseMs: number): Promise<{ ok: boolean }> {
    this.#assertOpen();
    nonNegativeMs('leaseMs', leaseMs, 'RR_STORE_OPTION_INVALID');
    const db = this.#db;
    const replica = db.replicas.get(id);
    if (replica === undefined) return { ok: false };
    const now = db.now();
    const ok = replica.leaseExpiresAt > now;
    replica.leaseExpiresAt = now + leaseMs;
    replica.heartbeatAt = now;
    return { ok };
  }

  async claimRooms(replicaId: string, options: ClaimOptions): Promise<ClaimedRoom[]> {
    this.#assertOpen();
    wholeNumber('capacity', options.capacity, 0, 'RR_STORE_OPTION_INVALID');
    nonNegativeMs('leaseMs', options.leaseMs, 'RR_STORE_OPTION_INVALID');
    const db = this.#db;
    const me = db.replicas.get(replicaId);
    if (me === undefined) return [];
    const now = db.now();
    me.capacity = options.capacity;
    me.leaseExpiresAt = now + options.leaseMs;
    me.heartbeatAt = now;
    if (me.draining) return [];
    const free = options.capacity - db.ownedBy(replicaId).size;
    if (free <= 0) return [];
    const claimable = db.claimableBy(replicaId);
    // Oldest start first, the name breaking ties; when every claimable room fits, the order does not matter.
    if (claimable.length > free) claimable.sort((a, b) => byStart(a, b) || byName(a.room, b.room));
    const claimed: ClaimedRoom[] = [];
    for (const row of claimable.slice(0, free)) {
      const previousOwner = row.owner;
      db.setOwner(row, replicaId);
      row.epoch = db.nextEpoch();
      row.status = 'pending';
      row.updatedAt = new Date(now);
      // A room taken from another replica: tell it now rather than at its next heartbeat.
      if (previousOwner !== null) db.notify(row.room);
      claimed.push({ room: row.room, epoch: row.epoch, sessionId: row.sessionId, previousOwner });
    }
    return claimed.sort((a, b) => byName(a.room, b.room));
  }

  async ownedRooms(replicaId: string): Promise<OwnedRoom[]> {
    this.#assertOpen();
    const owned: OwnedRoom[] = [];
    for (const row of this.#db.ownedBy(replicaId)) {
      if (row.status === 'ended') continue;
      owned.push({ room: row.room, epoch: row.epoch, status: row.status, sessionId: row.sessionId });
    }
    return owned.sort((a, b) => byName(a.room, b.room));
  }

  async markAttached(room: string, replicaId: string, epoch: number, sessionId: string | null = null): Promise<boolean> {
    this.#assertOpen();
    const row = this.#fenced(room, replicaId, epoch);
    if (row === undefined) return false;
    row.status = 'attached';
    row.attempts += 1;
    row.lastError = null;
    row.sessionId = sessionId ?? row.sessionId;
    row.updatedAt = new Date(this.#db.now());
    return true;
  }

  async recordAttachFailure(room: string, replicaId: string, epoch: number, error: string): Promise<boolean> {
    this.#assertOpen();
    const row = this.#fenced(room, replicaId, epoch);
    if (row === undefined) return false;
    row.status = 'pending';
    row.attempts += 1;
    row.lastError = error;
    row.updatedAt = new Date(this.#db.now());
    return true;
  }

  async releaseRooms(replicaId: string, rooms?: readonly string[]): Promise<string[]> {
    this.#assertOpen();
    if (rooms !== undefined && rooms.length === 0) return [];
    const released = this.#db.releaseAllOf(replicaId, rooms === undefined ? undefined : new Set(rooms));
    if (released.length > 0) this.#db.notify(released.length === 1 ? (released[0] ?? null) : null);
    return released;
  }

  async setDraining(replicaId: string): Promise<void> {
    this.#assertOpen();
    const replica = this.#db.replicas.get(replicaId);
    if (replica !== undefined) replica.draining = true;
  }

  async deregisterReplica(id: string): Promise<void> {
    this.#assertOpen();
    const released = this.#db.releaseAllOf(id);
    this.#db.replicas.delete(id);
    if (released.length > 0) this.#db.notify(null);
  }

  async onRoomsChanged(listener: RoomsChangedListener): Promise<() => Promise<void>> {
    this.#assertOpen();
    // One entry per subscription, even when the same function subscribes twice.
    const subscription: RoomsChangedListener = (room) => listener(room);
    this.#db.listeners.add(subscription);
    this.#subscriptions.add(subscription);
    return async () => {
      this.#db.listeners.delete(subscription);
      this.#subscriptions.delete(subscription);
    };
  }

  async activeRooms(): Promise<RoomState[]> {
    this.#assertOpen();
    return [...this.#db.rooms.values()]
      .filter((row) => row.status !== 'ended')
      .sort((a, b) => byName(a.room, b.room))
      .map(toRoomState);
  }

  async roomState(room: string): Promise<RoomState | undefined> {
    this.#assertOpen();
    const row = this.#db.rooms.get(room);
    return row === undefined ? undefined : toRoomState(row);
  }

  async listReplicas(): Promise<ReplicaState[]> {
    this.#assertOpen();
    const now = this.#db.now();
    return [...this.#db.replicas.values()]
      .sort((a, b) => byName(a.id, b.id))
      .map((row) => ({
        id: row.id,
        capacity: row.capacity,
        leaseExpiresAt: new Date(row.leaseExpiresAt),
        live: row.leaseExpiresAt > now,
        draining: row.draining,
        startedAt: new Date(row.startedAt),
        heartbeatAt: new Date(row.heartbeatAt),
      }));
  }

  async pruneRooms(endedBefore: Date): Promise<number> {
    this.#assertOpen();
    let pruned = 0;
    for (const [room, row] of this.#db.rooms) {
      if (row.status === 'ended' && row.endedAt !== null && row.endedAt < endedBefore) {
        this.#db.deleteRoom(room);
        pruned++;
      }
    }
    return pruned;
  }

  async pruneReplicas(expiredForMs: number): Promise<number> {
    this.#assertOpen();
    nonNegativeMs('expiredForMs', expiredForMs, 'RR_STORE_OPTION_INVALID');
    const cutoff = this.#db.now() - expiredForMs;
    let pruned = 0;
    for (const [id, replica] of this.#db.replicas) {
      if (replica.leaseExpiresAt <= cutoff) {
        this.#db.replicas.delete(id);
        pruned++;
      }
    }
    return pruned;
  }

  // --- lifecycle ---

  async ping(): Promise<void> {
    this.#assertOpen();
  }

  /** Idempotent; afterwards every call rejects with `RR_STORE_UNAVAILABLE`. Peers sharing the database go on. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const subscription of this.#subscriptions) this.#db.listeners.delete(subscription);
    this.#subscriptions.clear();
  }

  /** `memory`: tells status pages and the replica id which engine this is. */
  get engine(): string {
    return 'memory';
  }

  /** The row when `replicaId` still owns the live room at `epoch` (the fencing check), else undefined. */
  #fenced(room: string, replicaId: string, epoch: number): RoomRow | undefined {
    const row = this.#db.rooms.get(room);
    if (row === undefined || row.status === 'ended' || row.owner !== replicaId || row.epoch !== epoch) return undefined;
    return row;
  }

  #assertOpen(): void {
    if (this.#closed) throw new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the memory store is closed');
  }
}

const NO_ROWS: ReadonlySet<RoomRow> = new Set();

/** A copy, so a caller never holds the live row. */
function toRoomState(row: RoomRow): RoomState {
  return { ...row };
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Oldest start first, rooms never started (a tombstone revived by clearRoom has none) last. */
function byStart(a: RoomRow, b: RoomRow): number {
  if (a.startedAt === null || b.startedAt === null) return (a.startedAt === null ? 1 : 0) - (b.startedAt === null ? 1 : 0);
  return a.startedAt.getTime() - b.startedAt.getTime();
}
