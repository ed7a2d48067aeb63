/**
 * An in-process {@link Store}: the default of `WebhookServer` until the embedded PGlite store lands. Nothing
 * survives a restart and replicas do not share it, so a duplicate delivered to another process, or after a
 * restart, is not recognised. Good for one process, tests and local work.
 *
 * Dedupe window: a key is a duplicate when its earlier record was received less than `dedupeWindowMs` before
 * the new delivery's `receivedAt` (the caller's clock). After the window the key is recorded afresh.
 */
import { RoomrunnerError } from '../errors.js';
import type { DeliveryFilter, DeliveryRecord, DeliveryResult, NewDelivery, PendingClaim, RoomRecord, Store } from './store.js';
import { byReceipt } from './store.js';

/** How many deliveries are kept before the oldest are forgotten (bounds memory under a flood). */
export const DEFAULT_MEMORY_STORE_MAX_DELIVERIES = 100_000;

export interface MemoryStoreOptions {
  /** Milliseconds since the epoch; used where the caller passes no time. Defaults to `Date.now`. */
  readonly now?: () => number;
  /** Default {@link DEFAULT_MEMORY_STORE_MAX_DELIVERIES}. */
  readonly maxDeliveries?: number;
}

export class MemoryStore implements Store {
  readonly #now: () => number;
  readonly #maxDeliveries: number;
  // Map keeps insertion order, so the first entries are the oldest.
  readonly #deliveries = new Map<string, DeliveryRecord>();
  readonly #rooms = new Map<string, RoomRecord>();
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxDeliveries = options.maxDeliveries ?? DEFAULT_MEMORY_STORE_MAX_DELIVERIES;
  }

  async recordDelivery(delivery: NewDelivery, dedupeWindowMs: number): Promise<{ duplicate: boolean; record: DeliveryRecord }> {
    this.#assertOpen();
    const existing = this.#deliveries.get(delivery.key);
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
    this.#deliveries.delete(delivery.key);
    this.#deliveries.set(delivery.key, record);
    while (this.#deliveries.size > this.#maxDeliveries) {
      const oldest = this.#deliveries.keys().next().value;
      if (oldest === undefined) break;
      this.#deliveries.delete(oldest);
    }
    return { duplicate: false, record };
  }

  async finishDelivery(key: string, result: DeliveryResult, error: string | null = null, at?: Date): Promise<void> {
    this.#assertOpen();
    const existing = this.#deliveries.get(key);
    if (existing === undefined) return; // pruned or evicted meanwhile: nothing to update
    this.#deliveries.set(key, {
      ...existing,
      result,
      attempts: existing.attempts + 1,
      lastError: error ?? null,
      updatedAt: at ?? new Date(this.#now()),
    });
  }

  async reclaimDelivery(key: string, staleBefore: Date, at?: Date, replica: string | null = null): Promise<boolean> {
    this.#assertOpen();
    const existing = this.#deliveries.get(key);
    if (existing === undefined || existing.result !== 'pending' || existing.updatedAt >= staleBefore) return false;
    this.#deliveries.set(key, { ...existing, updatedAt: at ?? new Date(this.#now()), replica: replica ?? existing.replica });
    return true;
  }

  /** No replicas here: every other replica is one it does not know (stale rows only). */
  async claimPendingDeliveries(claim: PendingClaim): Promise<DeliveryRecord[]> {
    this.#assertOpen();
    const exclude = new Set(claim.exclude ?? []);
    const due = [...this.#deliveries.values()]
      .filter((record) => {
        if (record.result !== 'pending' || exclude.has(record.key)) return false;
        const stale = record.updatedAt < claim.staleBefore;
        return record.replica === claim.replica ? stale || record.updatedAt < claim.processStartedAt : stale;
      })
      .sort(byReceipt)
      .slice(0, Math.max(0, claim.limit));
    return due.map((record) => {
      const taken: DeliveryRecord = { ...record, replica: claim.replica, updatedAt: new Date(claim.at.getTime()) };
      this.#deliveries.set(record.key, taken);
      return taken;
    });
  }

  async getDelivery(key: string): Promise<DeliveryRecord | undefined> {
    this.#assertOpen();
    return this.#deliveries.get(key);
  }

  /** Newest first (by `receivedAt`), at most `limit`. */
  async listDeliveries(filter: DeliveryFilter = {}): Promise<DeliveryRecord[]> {
    this.#assertOpen();
    const matching = [...this.#deliveries.values()].filter(
      (record) =>
        (filter.event === undefined || record.event === filter.event) &&
        (filter.room === undefined || record.room === filter.room) &&
        (filter.result === undefined || record.result === filter.result) &&
        (filter.since === undefined || record.receivedAt.getTime() >= filter.since.getTime()),
    );
    matching.sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime());
    return filter.limit === undefined ? matching : matching.slice(0, Math.max(0, filter.limit));
  }

  async pruneDeliveries(before: Date): Promise<number> {
    this.#assertOpen();
    let pruned = 0;
    for (const [key, record] of this.#deliveries) {
      if (record.receivedAt.getTime() < before.getTime()) {
        this.#deliveries.delete(key);
        pruned++;
      }
    }
    return pruned;
  }

  async markRoomStarted(room: string, at: Date, tombstoneWindowMs: number, sessionId: string | null = null): Promise<boolean> {
    this.#assertOpen();
    const existing = this.#rooms.get(room);
    if (existing?.status === 'ended') {
      const ended = existing.sessionId ?? null;
      // Same session: the end arrived first, whatever the time. Another session: a new one, revive at once.
      if (sessionId !== null && ended !== null) {
        if (sessionId === ended) return false;
      } else if (at.getTime() - existing.updatedAt.getTime() < tombstoneWindowMs) {
        return false;
      }
    }
    this.#rooms.set(room, { room, status: 'started', updatedAt: new Date(at.getTime()), sessionId });
    return true;
  }

  async markRoomEnded(room: string, at: Date, sessionId: string | null = null): Promise<boolean> {
    this.#assertOpen();
    const existing = this.#rooms.get(room);
    const live = existing?.sessionId ?? null;
    // The end of an earlier session, arriving after the room started again: not this session's end.
    if (existing?.status === 'started' && sessionId !== null && live !== null && live !== sessionId) return false;
    this.#rooms.set(room, { room, status: 'ended', updatedAt: new Date(at.getTime()), sessionId: sessionId ?? live });
    return true;
  }

  async clearRoom(room: string): Promise<void> {
    this.#assertOpen();
    this.#rooms.delete(room);
  }

  async getRoom(room: string): Promise<RoomRecord | undefined> {
    this.#assertOpen();
    return this.#rooms.get(room);
  }

  async ping(): Promise<void> {
    this.#assertOpen();
  }

  /** Idempotent; afterwards every call rejects with `RR_STORE_UNAVAILABLE`. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the memory store is closed');
  }
}
