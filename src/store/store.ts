/**
 * What roomrunner keeps: the deliveries ledger (every accepted webhook, recorded before it is acknowledged,
 * deduplicated by key) and room state (started/ended, with tombstones so a late `room.started` after its
 * `room.ended` is ignored). One interface, several engines (docs/architecture.md §Style 10).
 */

export type DeliveryResult = 'pending' | 'processed' | 'ignored' | 'failed';

export interface NewDelivery {
  /** Dedupe key: `webhook-id` for Standard Webhooks, `sha256:<digest of the body>` for MeshAgent and HMAC. */
  readonly key: string;
  readonly event: string;
  readonly room: string | null;
  readonly scheme: string;
  /** The raw body as received (UTF-8), kept for replay. */
  readonly body: string;
  readonly receivedAt: Date;
  /**
   * The replica that answered it and runs its hook (null when unknown: recorded before replicas were kept). A
   * crash-recovery sweep re-dispatches a replica's pending deliveries (see {@link Store.claimPendingDeliveries}).
   */
  readonly replica?: string | null;
}

export interface DeliveryRecord extends NewDelivery {
  readonly replica: string | null;
  readonly result: DeliveryResult;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly updatedAt: Date;
}

export interface DeliveryFilter {
  event?: string;
  room?: string;
  result?: DeliveryResult;
  since?: Date;
  limit?: number;
}

/** What {@link Store.claimPendingDeliveries} may take. */
export interface PendingClaim {
  /** The replica taking them; it becomes their `replica`. */
  readonly replica: string;
  /** When this process started: its replica's rows last touched before then are a dead process's, whatever their age. */
  readonly processStartedAt: Date;
  /** Rows of this replica (or of one the store knows nothing of) last touched before this are stale. */
  readonly staleBefore: Date;
  /** The new `updatedAt` of the rows taken. */
  readonly at: Date;
  /** Keys whose hook runs in this process right now: never taken. */
  readonly exclude?: readonly string[];
  /** Most rows taken at once. */
  readonly limit: number;
}

export type RoomStatus = 'started' | 'ended';

export interface RoomRecord {
  readonly room: string;
  readonly status: RoomStatus;
  readonly updatedAt: Date;
  readonly sessionId?: string | null;
}

export interface Store {
  /**
   * Record a delivery unless its key is already known within the dedupe window. Returns `duplicate: true` and the
   * existing record when it is.
   */
  recordDelivery(delivery: NewDelivery, dedupeWindowMs: number): Promise<{ duplicate: boolean; record: DeliveryRecord }>;
  /** Set a delivery's result (counts one more attempt). */
  finishDelivery(key: string, result: DeliveryResult, error?: string | null, at?: Date): Promise<void>;
  /**
   * Take over a delivery whose outcome was never recorded: still `pending` and last updated before `staleBefore`
   * (its hook never ran, or the store was down when it finished). Atomic: of several callers, one gets true.
   */
  reclaimDelivery(key: string, staleBefore: Date, at?: Date, replica?: string | null): Promise<boolean>;
  /**
   * Crash recovery: takes `pending` deliveries whose hook nobody runs, oldest first, and makes them this
   * replica's (`replica`, `updatedAt` = `at`). That is: this replica's own rows from before this process
   * started or stale, rows of a replica whose lease ran out (the store coordinates replicas), and stale rows of
   * a replica it does not know. Atomic across replicas: a row is taken by one caller, and a row taken by a live
   * replica is not taken again while it lives.
   */
  claimPendingDeliveries(claim: PendingClaim): Promise<DeliveryRecord[]>;
  getDelivery(key: string): Promise<DeliveryRecord | undefined>;
  listDeliveries(filter?: DeliveryFilter): Promise<DeliveryRecord[]>;
  /** Delete deliveries received before `before`; returns how many. */
  pruneDeliveries(before: Date): Promise<number>;

  /**
   * Mark a room started. Returns false (and changes nothing) when the end arrived first: the room's tombstone is
   * for the same `sessionId`, or — when either side has no session id to compare — it is newer than
   * `tombstoneWindowMs`. A start for another session revives the room at once.
   */
  markRoomStarted(room: string, at: Date, tombstoneWindowMs: number, sessionId?: string | null): Promise<boolean>;
  /**
   * Leave a tombstone for the room, remembering the ended session's id when there is one. Returns false (and
   * changes nothing) when the room is live under another session id: the end of an earlier session, late.
   */
  markRoomEnded(room: string, at: Date, sessionId?: string | null): Promise<boolean>;
  /** Forget a tombstone, so the room may start again (a new session of the same room name). */
  clearRoom(room: string): Promise<void>;
  getRoom(room: string): Promise<RoomRecord | undefined>;

  /** Resolves when the store answers a trivial query; rejects otherwise. Used by readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Oldest received first, the key breaking ties: the order crash recovery re-dispatches in. */
export function byReceipt(a: DeliveryRecord, b: DeliveryRecord): number {
  return a.receivedAt.getTime() - b.receivedAt.getTime() || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
