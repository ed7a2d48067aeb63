/**
 * Crash recovery for the deliveries ledger. A delivery is recorded `pending` before it is answered 200 and gets
 * its outcome after its hook ran, so a process killed in between leaves rows that are `pending` and that nobody
 * will ever run: the sender got its 200 and does not send again. This sweep takes such rows from the store
 * (`Store.claimPendingDeliveries`: this replica's rows from before this process started, or older than the
 * bound; rows of a replica whose lease ran out; stale rows of a replica the store does not know), one caller
 * per row across replicas, and runs their hooks again, oldest first, one at a time (so a room's `room.started`
 * and `room.ended` keep their order). It runs at start-up and then every `intervalMs`.
 *
 * Hooks therefore run at least once per delivery answered 200; the orchestrator's hooks are idempotent by
 * room state, so a second run of one is harmless.
 */
import { errorMessage } from '../util/error-message.js';
import type { Logger } from '../logger.js';
import type { DeliveryRecord, Store } from '../store/store.js';
import { parseWebhookBody } from './receive.js';
import type { WebhookEvent } from './events.js';
import { every, SYSTEM_CLOCK, type Clock } from '../util/clock.js';

/** Most rows one sweep takes; a full batch is followed at once by another. */
export const REDISPATCH_BATCH = 100;

export interface RedispatcherOptions {
  readonly store: Store;
  /** This replica's id: the rows taken become its own. */
  readonly replicaId: string;
  /** A pending row this long untouched is stale (its outcome was never recorded). */
  readonly afterMs: number;
  /** Sweep period; default `afterMs`. 0: only at start-up. */
  readonly intervalMs?: number;
  /** Runs one taken delivery's hook and records its outcome; resolves when done. */
  readonly run: (event: WebhookEvent, record: DeliveryRecord) => Promise<void>;
  /** Keys whose hook runs in this process now (never taken). */
  readonly running: () => readonly string[];
  readonly logger: Logger;
  /** The sweep's period and the times it compares and records; default {@link SYSTEM_CLOCK}. */
  readonly clock?: Clock;
  /** Default {@link REDISPATCH_BATCH}. */
  readonly batch?: number;
}

/** The sweep. `start()` sweeps at once and then periodically; `close()` stops it and waits for a running sweep. */
export class PendingRedispatcher {
  readonly #options: RedispatcherOptions;
  readonly #clock: Clock;
  readonly #startedAt: Date;
  #stopTimer: (() => void) | undefined;
  #sweeping: Promise<number> | undefined;
  #started = false;
  #closed = false;

  constructor(options: RedispatcherOptions) {
    this.#options = options;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    // Rows this replica touched before now belong to an earlier process with the same replica id.
    this.#startedAt = new Date(this.#clock.now());
  }

  /** Sweeps now, then every `intervalMs`. Idempotent. */
  start(): void {
    if (this.#closed || this.#started) return;
    this.#started = true;
    const intervalMs = this.#options.intervalMs ?? this.#options.afterMs;
    if (intervalMs > 0) this.#stopTimer = every(this.#clock, intervalMs, () => void this.sweep());
    void this.sweep();
  }

  /**
   * Takes and runs what is due; resolves with how many deliveries were dispatched again. Concurrent calls share
   * one sweep. A failing store is logged, never thrown: the next sweep tries again.
   */
  sweep(): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    this.#sweeping ??= this.#sweepOnce().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  /** Stops the timer; waits for a sweep in progress to finish its current hook. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer?.();
    await this.#sweeping?.catch(() => undefined);
  }

  async #sweepOnce(): Promise<number> {
    const { store, replicaId, afterMs, logger } = this.#options;
    const batch = this.#options.batch ?? REDISPATCH_BATCH;
    let dispatched = 0;
    for (;;) {
      if (this.#closed) return dispatched;
      const nowMs = this.#clock.now();
      let taken: DeliveryRecord[];
      try {
        taken = await store.claimPendingDeliveries({
          replica: replicaId,
          processStartedAt: this.#startedAt,
          staleBefore: new Date(nowMs - afterMs),
          at: new Date(nowMs),
          exclude: this.#options.running(),
          limit: batch,
        });
      } catch (err) {
        logger.warn({ err }, 'pending deliveries not checked: store unavailable; the next sweep tries again');
        return dispatched;
      }
      if (taken.length > 0) logger.warn({ deliveries: taken.length }, 'dispatching again deliveries answered 200 whose hook never finished');
      for (const record of taken) {
        if (this.#closed) return dispatched;
        await this.#runOne(record);
        dispatched += 1;
      }
      if (taken.length < batch) return dispatched;
    }
  }

  async #runOne(record: DeliveryRecord): Promise<void> {
    const log = this.#options.logger.child({ key: record.key, event: record.event, room: record.room, redispatch: true });
    let event: WebhookEvent;
    try {
      event = parseWebhookBody(Buffer.from(record.body, 'utf8'));
    } catch (err) {
      // Parsed once before it was answered 200; a body that no longer parses is recorded, not retried forever.
      log.error({ err }, 'a pending delivery no longer parses: recorded as failed');
      await this.#options.store.finishDelivery(record.key, 'failed', errorMessage(err), new Date(this.#clock.now())).catch(() => undefined);
      return;
    }
    await this.#options.run(event, record);
  }
}
