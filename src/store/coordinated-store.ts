/**
 * What the orchestrator needs from a store (the ledger and the coordinator contract), and small helpers around
 * it: the check that a store given by JavaScript code has the coordinator methods, and the default replica id and
 * heartbeat period.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Coordinator } from './coordinator.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from './coordinator.js';
import type { Store } from './store.js';

/**
 * A store that can coordinate replicas. The session ids on start and end are honoured by the SQL stores (a
 * late start of an ended session is ignored on every replica); a store that ignores them falls back to the
 * tombstone window.
 */
export type CoordinatedStore = Store &
  Coordinator & {
    markRoomStarted(room: string, at: Date, tombstoneWindowMs: number, sessionId?: string | null): Promise<boolean>;
    markRoomEnded(room: string, at: Date, sessionId?: string | null): Promise<boolean>;
  };

const COORDINATOR_METHODS = [
  'registerReplica',
  'heartbeat',
  'claimRooms',
  'ownedRooms',
  'markAttached',
  'recordAttachFailure',
  'releaseRooms',
  'setDraining',
  'deregisterReplica',
  'onRoomsChanged',
  'activeRooms',
] as const;

/** Every store roomrunner ships coordinates (MemoryStore, SQLite, PGlite, PostgreSQL); a store of the user's may not. */
export function isCoordinator(store: Store): store is CoordinatedStore {
  const methods = store as unknown as Record<string, unknown>;
  return COORDINATOR_METHODS.every((name) => typeof methods[name] === 'function');
}

/**
 * The replica id when none is configured. The embedded stores (SQLite, PGlite) allow one process per data
 * directory, so a fixed id lets a restarted process take its rooms back at once (registering releases the
 * previous process's rooms) instead of waiting for their lease to run out. With PostgreSQL: host name, pid and
 * a random suffix.
 */
export function defaultReplicaId(engine: string | undefined): string {
  if (engine === 'sqlite' || engine === 'pglite') return `${hostname()}-${engine}`;
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The heartbeat period for a lease when none is given: four renewals per lease, at most 2.5 s apart. */
export function defaultHeartbeatIntervalMs(leaseMs: number): number {
  return Math.max(1, Math.min(DEFAULT_HEARTBEAT_INTERVAL_MS, Math.floor(leaseMs / 4)));
}
