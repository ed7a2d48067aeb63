/**
 * The replica's lease (docs/coordination.md §leases, §self-fencing): one heartbeat per replica, not per room, every `heartbeatIntervalMs`.
 *
 * Self-fencing on our own clock: the lease is trusted until a little before `leaseMs` after the last successful
 * renewal was SENT (the store renews from when it runs the statement, which is later, so our deadline falls
 * before the store's). Past it, `onLost('lease-expired')` tells the owner to leave every room, without
 * waiting for the store to answer; the lease is trusted again once a heartbeat succeeds. A heartbeat answered
 * `ok: false` (the lease had already run out, peers may hold our rooms) calls `onLost('lease-lost')`, waits for
 * it, and registers again.
 */
import { errorMessage } from '../util/error-message.js';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Coordinator } from '../store/coordinator.js';
import { defaultHeartbeatIntervalMs } from '../store/coordinated-store.js';
import { every, setBackgroundTimeout, SYSTEM_CLOCK, type Clock } from '../util/clock.js';

export type LeaseLoss = 'lease-expired' | 'lease-lost';

/** `held`: renewed in time; `self-fenced`: not renewed in time, no rooms until it is. */
export type LeaseState = 'unregistered' | 'held' | 'self-fenced';

/** The part of the coordinator a lease uses. */
export type LeaseStore = Pick<Coordinator, 'registerReplica' | 'heartbeat' | 'setDraining' | 'deregisterReplica'>;

export interface ReplicaLeaseOptions {
  readonly store: LeaseStore;
  readonly replicaId: string;
  /** Recorded with the replica (informative: claims pass their own capacity). */
  readonly capacity: number;
  readonly leaseMs: number;
  /** Default {@link defaultHeartbeatIntervalMs}(leaseMs); at most half the lease. */
  readonly heartbeatIntervalMs?: number;
  /** Leave every room: the lease cannot be trusted. Awaited before registering again. */
  readonly onLost: (loss: LeaseLoss) => Promise<void>;
  /** After every successful heartbeat (sync now). */
  readonly onRenewed: () => void | Promise<void>;
  /** A draining replica stays marked draining when it registers again. */
  readonly draining: () => boolean;
  readonly logger: Logger;
  /** The replica's own clock: the heartbeat's cadence and the self-fence deadline. Default {@link SYSTEM_CLOCK}. */
  readonly clock?: Clock;
}

export interface LeaseStatus {
  readonly state: LeaseState;
  readonly leaseMs: number;
  readonly heartbeatIntervalMs: number;
  /** When the last successful renewal was sent. */
  readonly renewedAt: string | null;
  /** When this replica leaves its rooms unless a renewal succeeds first (its own clock). */
  readonly selfFenceAt: string | null;
  readonly lastError: string | null;
}

export class ReplicaLease {
  readonly leaseMs: number;
  readonly heartbeatIntervalMs: number;
  readonly #options: ReplicaLeaseOptions;
  readonly #clock: Clock;
  /** The self-fence fires this long after the last successful renewal was sent: a little before the lease ends. */
  readonly #fenceAfterMs: number;
  #registered = false;
  #fenced = false;
  #closed = false;
  #renewedAt: number | null = null;
  #lastError: string | null = null;
  #beating: Promise<void> | undefined;
  #stopTicking: (() => void) | undefined;
  #fenceTimer: unknown;

  constructor(options: ReplicaLeaseOptions) {
    const { leaseMs } = options;
    if (!Number.isFinite(leaseMs) || leaseMs < 100) {
      throw new RoomrunnerError('RR_CONFIG_INVALID', `leaseMs must be at least 100 ms, got ${String(leaseMs)} (set ROOMRUNNER_LEASE_MS / --lease-ms)`);
    }
    const heartbeatIntervalMs = options.heartbeatIntervalMs ?? defaultHeartbeatIntervalMs(leaseMs);
    if (!Number.isFinite(heartbeatIntervalMs) || heartbeatIntervalMs <= 0 || heartbeatIntervalMs * 2 > leaseMs) {
      throw new RoomrunnerError(
        'RR_CONFIG_INVALID',
        `heartbeatIntervalMs must be above 0 and at most half the lease (${leaseMs} ms), got ${String(heartbeatIntervalMs)}`,
      );
    }
    this.#options = options;
    this.leaseMs = leaseMs;
    this.heartbeatIntervalMs = heartbeatIntervalMs;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#fenceAfterMs = leaseMs - Math.min(heartbeatIntervalMs / 2, leaseMs / 4);
  }

  /** Registers (errors are kept for readiness; the next tick retries) and starts the heartbeat. */
  async start(): Promise<void> {
    await this.beat();
    if (this.#closed || this.#stopTicking !== undefined) return;
    this.#stopTicking = every(this.#clock, this.heartbeatIntervalMs, () => void this.beat());
  }

  /** Registered, and renewed recently enough to act on rooms now. */
  get valid(): boolean {
    return this.#registered && !this.#fenced && this.#renewedAt !== null && this.#clock.now() < this.#renewedAt + this.#fenceAfterMs;
  }

  get registered(): boolean {
    return this.#registered;
  }

  /** Readiness: throws unless registered, within the lease, and the last heartbeat succeeded. */
  check(): void {
    const id = this.#options.replicaId;
    if (!this.#registered)
      throw new RoomrunnerError('RR_REPLICA_LEASE_NOT_HELD', `replica ${id} is not registered${this.#lastError ? `: ${this.#lastError}` : ''}`);
    if (this.#fenced) throw new RoomrunnerError('RR_REPLICA_LEASE_NOT_HELD', `replica ${id} could not renew its lease in time`);
    if (this.#lastError !== null) throw new RoomrunnerError('RR_REPLICA_LEASE_NOT_HELD', `replica ${id} heartbeat failed: ${this.#lastError}`);
  }

  status(): LeaseStatus {
    return {
      state: !this.#registered ? 'unregistered' : this.#fenced ? 'self-fenced' : 'held',
      leaseMs: this.leaseMs,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      renewedAt: this.#renewedAt === null ? null : new Date(this.#renewedAt).toISOString(),
      selfFenceAt: this.#renewedAt === null ? null : new Date(this.#renewedAt + this.#fenceAfterMs).toISOString(),
      lastError: this.#lastError,
    };
  }

  /** One heartbeat (or registration); concurrent calls share it. */
  beat(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#beating ??= this.#beatOnce().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  /** Stops the heartbeat and deregisters (the store releases anything still owned). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTicking?.();
    this.#clock.clearTimeout(this.#fenceTimer);
    await this.#beating;
    if (!this.#registered) return;
    await this.#options.store
      .deregisterReplica(this.#options.replicaId)
      .catch((err: unknown) => this.#options.logger.warn({ err }, 'could not deregister the replica'));
  }

  async #beatOnce(): Promise<void> {
    const { store, replicaId, logger } = this.#options;
    const sentAt = this.#clock.now();
    try {
      if (!this.#registered) {
        await this.#register();
      } else {
        const { ok } = await store.heartbeat(replicaId, this.leaseMs);
        if (!ok) {
          logger.warn('lease lost: leaving every room and registering again');
          this.#registered = false;
          await this.#options.onLost('lease-lost');
          await this.#register();
        }
      }
      if (this.#closed) return;
      this.#renewed(sentAt);
      this.#lastError = null;
      await this.#options.onRenewed();
    } catch (err) {
      this.#lastError = errorMessage(err);
      logger.warn({ err: this.#lastError }, 'heartbeat failed');
    }
  }

  async #register(): Promise<void> {
    const { store, replicaId, capacity, logger } = this.#options;
    await store.registerReplica(replicaId, capacity, { leaseMs: this.leaseMs });
    if (this.#options.draining()) await store.setDraining(replicaId);
    this.#registered = true;
    logger.info({ leaseMs: this.leaseMs, heartbeatIntervalMs: this.heartbeatIntervalMs }, 'replica registered');
  }

  #renewed(sentAt: number): void {
    this.#renewedAt = Math.max(this.#renewedAt ?? sentAt, sentAt);
    // A renewal sent before the deadline but answered after it proves nothing for now: stay fenced.
    if (this.#fenced && this.#clock.now() < this.#renewedAt + this.#fenceAfterMs) {
      this.#fenced = false;
      this.#options.logger.info('lease renewed again: taking rooms again');
    }
    this.#armFence();
  }

  #armFence(): void {
    this.#clock.clearTimeout(this.#fenceTimer);
    if (this.#closed || this.#renewedAt === null) return;
    const delay = Math.max(0, this.#renewedAt + this.#fenceAfterMs - this.#clock.now());
    this.#fenceTimer = setBackgroundTimeout(this.#clock, () => this.#selfFence(), delay);
  }

  #selfFence(): void {
    if (this.#closed || this.#fenced || this.#renewedAt === null) return;
    if (this.#clock.now() < this.#renewedAt + this.#fenceAfterMs) {
      this.#armFence();
      return;
    }
    this.#fenced = true;
    this.#options.logger.warn({ leaseMs: this.leaseMs }, 'lease not renewed in time: leaving every room until a heartbeat succeeds');
    void this.#options.onLost('lease-expired');
  }
}
