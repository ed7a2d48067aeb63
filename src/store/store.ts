/**
 * What roomrunner keeps: the deliveries ledger (every accepted webhook, recorded before it is acknowledged,
 * deduplicated by key) and room state (started/ended, with tombstones so a late `room.started` after its
 * `room.ended` is ignored). One interface, several engines (STYLE.md habit 10).
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
}

export interface DeliveryRecord extends NewDelivery {
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
  reclaimDelivery(key: string, staleBefore: Date, at?: Date): Promise<boolean>;
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
  /** Leave a tombstone for the room, remembering the ended session's id when there is one. */
  markRoomEnded(room: string, at: Date, sessionId?: string | null): Promise<void>;
  /** Forget a tombstone, so the room may start again (a new session of the same room name). */
  clearRoom(room: string): Promise<void>;
  getRoom(room: string): Promise<RoomRecord | undefined>;

  /** Resolves when the store answers a trivial query; rejects otherwise. Used by readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
