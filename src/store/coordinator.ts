/**
 * Room ownership across replicas (docs/coordination.md §Invariant): every live room has at most one owner, held as a lease that
 * the owning replica renews with one heartbeat for all its rooms; a fencing epoch that changes on every
 * ownership change lets a replica that lost a room find out and leave it. Epochs come from one database
 * sequence, so they only grow, across rooms, restarts, `clearRoom` and pruning alike (never reused).
 * Implemented by the SQL stores (`SqlStore`); kept apart from `Store` so the in-memory store need not
 * implement it.
 *
 * Guarantees and their limits (the README states them):
 * - Exactly one owner per room in the database, and never more rooms owned by a replica than the capacity it
 *   claims with: each claim locks the claiming replica's row, counts its rooms, then takes rooms with
 *   `FOR UPDATE SKIP LOCKED`.
 * - Fencing is checked by the database only for the writes that go through it (`markAttached`,
 *   `recordAttachFailure`). What a replica does inside the room is not fenced by the platform: a replica that
 *   lost its lease keeps acting until it notices (heartbeat `ok: false`, `ownedRooms`) or until its own lease
 *   deadline passes on its own clock; it must then leave every room whose lease it cannot prove.
 */

/** Lease length: a replica that stops renewing loses its rooms this long after its last renewal. */
export const DEFAULT_LEASE_MS = 10_000;
/** Heartbeat period: several renewals per lease, so one slow round trip does not lose the lease. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 2_500;
/**
 * Bound on how long rooms of a dead replica stay unowned, with the defaults: the lease runs out at most
 * DEFAULT_LEASE_MS after the last renewal, and peers claim on their next heartbeat tick (they also claim on
 * every change notification). 10 s + 2.5 s, rounded up to leave room for query time.
 */
export const DEFAULT_TAKEOVER_BOUND_MS = 15_000;

export type RoomPhase = 'pending' | 'attached' | 'ended';

export interface ClaimOptions {
  /** The replica's hard cap on owned rooms, counting rooms it already owns. */
  readonly capacity: number;
  /** The claim also renews the replica's lease by this much. */
  readonly leaseMs: number;
}

export interface ClaimedRoom {
  readonly room: string;
  /** The fencing epoch of this ownership; pass it back to `markAttached` / `recordAttachFailure`. */
  readonly epoch: number;
  readonly sessionId: string | null;
  /** The replica that owned the room before this claim (its lease ran out); null for a new or released room. */
  readonly previousOwner: string | null;
}

export interface OwnedRoom {
  readonly room: string;
  readonly epoch: number;
  readonly status: 'pending' | 'attached';
  readonly sessionId: string | null;
}

/** A room row as the coordinator sees it. */
export interface RoomState {
  readonly room: string;
  readonly status: RoomPhase;
  readonly owner: string | null;
  readonly epoch: number;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly sessionId: string | null;
  readonly startedAt: Date | null;
  /** The tombstone: when the room ended (null while it lives). */
  readonly endedAt: Date | null;
  readonly updatedAt: Date;
}

export interface ReplicaState {
  readonly id: string;
  readonly capacity: number;
  readonly leaseExpiresAt: Date;
  /** The lease has not run out (by the database's clock). */
  readonly live: boolean;
  readonly draining: boolean;
  readonly startedAt: Date;
  readonly heartbeatAt: Date;
}

export interface RegisterOptions {
  /** Default {@link DEFAULT_LEASE_MS}. */
  readonly leaseMs?: number;
}

/**
 * Called on `roomrunner_rooms` notifications: `room` names the room that changed, or is null when several
 * did or when the store reconnected (notifications may have been missed: re-claim and re-check ownership).
 */
export type RoomsChangedListener = (room: string | null) => void;

export interface Coordinator {
  /**
   * Registers (or re-registers) a replica with a fresh lease, not draining. Call once per process start: rooms
   * still owned under this id by an earlier process are released (new epoch) so they go through a claim again.
   */
  registerReplica(id: string, capacity: number, options?: RegisterOptions): Promise<void>;
  /**
   * Renews the replica's lease by `leaseMs` (one heartbeat for all its rooms). `ok: false` when the replica is
   * unknown (deregistered or pruned: register again) or its lease had run out before this renewal (rooms may
   * have been taken: check `ownedRooms` and leave the rest). The lease is renewed whenever the row exists.
   */
  heartbeat(id: string, leaseMs: number): Promise<{ ok: boolean }>;
  /**
   * Takes claimable rooms (live and unowned, or owned by a replica whose lease ran out or that is gone), at
   * most `capacity` minus the rooms already owned, and renews the lease. Each claimed room gets a new epoch,
   * larger than any it had before. A draining or unknown replica claims nothing.
   */
  claimRooms(replicaId: string, options: ClaimOptions): Promise<ClaimedRoom[]>;
  /** The fencing check: rooms this replica owns now, with their epochs. Leave any attached room not listed. */
  ownedRooms(replicaId: string): Promise<OwnedRoom[]>;
  /** Records the attachment; false when fenced out (not the owner, or the epoch moved on, or the room ended). */
  markAttached(room: string, replicaId: string, epoch: number, sessionId?: string | null): Promise<boolean>;
  /** Counts a failed attach and keeps the room pending with its owner; false when fenced out. */
  recordAttachFailure(room: string, replicaId: string, epoch: number, error: string): Promise<boolean>;
  /**
   * Gives rooms back (all the replica's rooms, or the listed ones it owns): owner cleared, new epoch, and a
   * notification so peers claim them at once. Returns the rooms released. Drain calls this (release, not hold).
   */
  releaseRooms(replicaId: string, rooms?: readonly string[]): Promise<string[]>;
  /** Marks the replica draining: it claims nothing more. */
  setDraining(replicaId: string): Promise<void>;
  /** Releases the replica's rooms and forgets it. */
  deregisterReplica(id: string): Promise<void>;
  /** Subscribes to room changes from every replica (LISTEN). Resolves to an unsubscribe. */
  onRoomsChanged(listener: RoomsChangedListener): Promise<() => Promise<void>>;
  /** Rooms not ended, with owner and epoch (reconciliation, status pages, tests). */
  activeRooms(): Promise<RoomState[]>;
  /** One room's full row, ended ones included. */
  roomState(room: string): Promise<RoomState | undefined>;
  listReplicas(): Promise<ReplicaState[]>;
  /** Deletes tombstones of rooms that ended before `endedBefore`; returns how many. */
  pruneRooms(endedBefore: Date): Promise<number>;
  /** Deletes replicas whose lease ran out more than `expiredForMs` ago (their rooms are claimable anyway). */
  pruneReplicas(expiredForMs: number): Promise<number>;
}
