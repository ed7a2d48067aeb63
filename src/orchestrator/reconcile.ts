/**
 * Reconciliation in coordinated mode: the platform's list of active sessions is the truth, the store is made
 * to agree with it, and the claim loop does the rest. Rooms the platform has and the store does not (or has
 * ended, for an earlier session) become pending, so some replica claims them; rooms the store has live and the
 * platform does not are ended, so their owner leaves. Every replica may run it: each step is idempotent.
 */
import type { Logger } from '../logger.js';
import type { CoordinatedStore } from '../store/coordinated-store.js';
import { SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import type { ActiveRoom } from './platform.js';

export interface CoordinatedReconcileOptions {
  readonly store: CoordinatedStore;
  /** The platform's active rooms, fetched at `fetchedAt`. */
  readonly active: readonly ActiveRoom[];
  readonly fetchedAt: number;
  /** A start right after an end with no session ids to compare is ignored within this window. */
  readonly tombstoneWindowMs: number;
  /** Sessions this replica saw end (their starts are late). */
  readonly endedSessions: ReadonlySet<string>;
  /**
   * Live rooms the platform does not list are ended only when they started this long before the list was
   * fetched: a room that started meanwhile, or on a replica whose clock runs ahead, is not ended by mistake.
   */
  readonly graceMs: number;
  readonly logger: Logger;
  /** The times recorded with the rooms started and ended; default {@link SYSTEM_CLOCK}. */
  readonly clock?: Pick<Clock, 'now'>;
}

export interface ReconcileOutcome {
  /** Rooms made pending (the webhooks missed their start). */
  readonly started: string[];
  /** Rooms ended (the webhooks missed their end). */
  readonly ended: string[];
}

export async function reconcileCoordinated(options: CoordinatedReconcileOptions): Promise<ReconcileOutcome> {
  const { store, active, logger } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const known = new Map((await store.activeRooms()).map((row) => [row.room, row]));
  const started: string[] = [];
  for (const { room, sessionId } of active) {
    if (known.has(room)) continue;
    if (sessionId !== null && options.endedSessions.has(sessionId)) continue;
    // Revives a tombstone of another session; a tombstone of this very session (its end was seen) stays.
    if (await store.markRoomStarted(room, new Date(clock.now()), options.tombstoneWindowMs, sessionId)) {
      started.push(room);
      logger.info({ room }, 'reconcile: a live room the webhooks missed is pending');
    }
  }
  const live = new Set(active.map((a) => a.room));
  const ended: string[] = [];
  for (const row of known.values()) {
    if (live.has(row.room)) continue;
    const startedAt = row.startedAt?.getTime() ?? row.updatedAt.getTime();
    if (startedAt > options.fetchedAt - options.graceMs) continue;
    await store.markRoomEnded(row.room, new Date(clock.now()));
    ended.push(row.room);
    logger.info({ room: row.room }, 'reconcile: a room that is no longer active ended');
  }
  return { started, ended };
}
