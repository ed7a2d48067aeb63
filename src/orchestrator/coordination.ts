/**
 * Coordinated mode: several replicas share one store and every live room is attached by exactly one of them
 * (docs/coordination.md). This is the replica's side of the store's {@link Coordinator}:
 *
 * - **Lease** (./replica-lease.ts). One heartbeat per replica (not per room) every `heartbeatIntervalMs` renews
 *   its lease. A replica that stops renewing (killed, partitioned) loses its rooms when the lease runs out;
 *   peers claim them on their next tick or notification, so the takeover bound is about
 *   `leaseMs + heartbeatIntervalMs` plus the time to join.
 * - **Claims.** A sync (on start, on every `roomrunner_rooms` notification but one about a room held here, on
 *   every tick, after leaving a room) claims pending or orphaned rooms up to the room cap (the store counts and claims in one transaction: a hard cap, race-free
 *   across replicas), attaches each, then records the attachment with the claim's fencing epoch. The first claim
 *   of a sync takes a small batch after a wait that grows with this replica's load, so the least loaded replica
 *   picks first; a claim that comes back full is followed at once by one twice as large (up to
 *   {@link MAX_CLAIM_BATCH}), so a backlog (a storm, a failover) drains in a few claims. A replica that is the
 *   only live one (checked on every heartbeat; always so with PGlite) neither waits nor starts small.
 * - **Fencing.** On every heartbeat tick, and after a notification that names no room (several rooms, or a
 *   reconnect), a sync compares every room held here with `ownedRooms()` and leaves any room this replica no
 *   longer owns or whose epoch moved on (claims alone need no such read: they return what they took);
 *   `markAttached` answering false means the same. After a notification that names a room held here (ended,
 *   taken over), the sync reads and compares just the rooms so named (`roomState`), so a storm of rooms costs
 *   one read per room rather than one read of every room per room; the heartbeat's full comparison stays the
 *   backstop for anything a notification missed. The same checks issue `markAttached` again for a room attached
 *   here that the store still has pending (the write was lost), one write in flight per room. On its own clock,
 *   a replica whose heartbeat has not succeeded for nearly a lease leaves every room (self-fencing) without
 *   waiting for the store to say so, and takes back what it still owns only after a renewal succeeds.
 * - **Failures.** A failed attach is recorded (`recordAttachFailure`) and retried on a later sync; after
 *   `maxAttachFailures` in a row the room is released so that a peer tries it. A room that drops us (closed
 *   connection, dismiss) while we still own it is joined again on a later sync, unless its end arrives first.
 * - **Hand-over.** `handOff()` (the drain) marks the replica draining, then per room unregisters the agents and
 *   releases the room at once (peers are notified and claim it), then lets calls in flight finish and closes.
 *
 * Limits: fencing acts on what goes through the store; inside a room nothing stops a replica that has not yet
 * noticed it lost its lease (the self-fence deadline falls before the lease ends by the store's clock, which
 * bounds that window when clocks run at the same rate). `room.call` attachments are not coordinated.
 */
import type { Logger } from '../logger.js';
import type { Metrics } from '../http/metrics.js';
import type { AttachTrigger, RoomAttachments } from './attachments.js';
import type { CoordinatedStore } from '../store/coordinated-store.js';
import { inBackground, sleep, SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import type { OwnedRoom } from '../store/coordinator.js';
import { ReplicaLease, type LeaseLoss, type LeaseStatus } from './replica-lease.js';

/** A room whose attach failed this many times in a row here is released so that a peer may try. */
export const DEFAULT_MAX_ATTACH_FAILURES = 2;
/** Most rooms one claim takes: a burst of new rooms is shared among replicas instead of going to the first to hear. */
export const DEFAULT_CLAIM_BATCH = 5;
/**
 * Before claiming, a replica waits this long times its load (rooms held / cap): the least loaded replica claims
 * first, so rooms spread by load (LiveKit weighs its dispatch by load the same way, docs/references.md §livekit-dispatch).
 */
export const DEFAULT_CLAIM_SPREAD_MS = 250;
/** Largest claim: a full claim is followed at once by one twice as large, up to this many rooms. */
export const MAX_CLAIM_BATCH = 256;

export interface RoomCoordinationOptions {
  readonly store: CoordinatedStore;
  readonly attachments: RoomAttachments;
  readonly replicaId: string;
  /** Lease length; the store renews it to this on every heartbeat. */
  readonly leaseMs: number;
  /** Default: a quarter of the lease, at most 2.5 s; at most half the lease. */
  readonly heartbeatIntervalMs?: number;
  /** The websocket URL to attach a claimed room with. */
  readonly roomUrl: (room: string) => string;
  /**
   * What made the room pending, when this replica heard it (`room.started`, `reconcile`, `manual`); default
   * `claim`: a room another replica heard of, or one taken over.
   */
  readonly triggerOf?: (room: string) => AttachTrigger | undefined;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Default {@link DEFAULT_MAX_ATTACH_FAILURES}. */
  readonly maxAttachFailures?: number;
  /** Default {@link DEFAULT_CLAIM_BATCH}. */
  readonly claimBatch?: number;
  /** Default {@link DEFAULT_CLAIM_SPREAD_MS} (0: claim at once, whatever the load). */
  readonly claimSpreadMs?: number;
  /**
   * The replica's own clock (the lease's heartbeat and self-fence, the claim spread wait, retry and pause times);
   * default {@link SYSTEM_CLOCK}. Leases themselves are on the store's clock (docs/coordination.md §leases).
   */
  readonly clock?: Clock;
}

/** What this replica does with a room it owns. */
export type HeldPhase = 'attaching' | 'attached' | 'failed' | 'idle';

interface Held {
  readonly epoch: number;
  readonly sessionId: string | null;
  phase: HeldPhase;
  /** Failed attaches in a row (here, for this ownership). */
  failures: number;
  /** A failed room is attached again after this time. */
  retryAt: number;
  /** A `markAttached` write is in flight: no second one for this room until it answers. */
  recording: boolean;
}

export interface CoordinationStatus {
  readonly replicaId: string;
  readonly lease: LeaseStatus;
  readonly draining: boolean;
  readonly rooms: ReadonlyArray<{ room: string; epoch: number; phase: HeldPhase; failures: number }>;
}

type FenceReason = 'not-owned' | LeaseLoss;

/** One replica's coordination loop. See the module comment. */
export class RoomCoordination {
  readonly replicaId: string;
  readonly #options: RoomCoordinationOptions;
  readonly #store: CoordinatedStore;
  readonly #attachments: RoomAttachments;
  readonly #lease: ReplicaLease;
  readonly #log: Logger;
  readonly #clock: Clock;
  /** The claim spread wait's timers: they do not keep the process alive. */
  readonly #waits: Clock;
  /** Aborted by close(): a claim waiting its turn stops waiting. */
  readonly #closing = new AbortController();
  readonly #maxAttachFailures: number;
  readonly #held = new Map<string, Held>();
  /**
   * Rooms this replica stopped acting on, with the sync generation then: a sync that began before must not
   * attach them again from its (older) view of the store.
   */
  readonly #forgotten = new Map<string, number>();
  readonly #metrics: Metrics | undefined;
  #syncGeneration = 0;
  /**
   * After releasing a room it could not attach, this replica claims nothing until then: peers, notified of the
   * release, get the first chance at the room (otherwise the releasing replica, first to hear, takes it back).
   */
  #claimPauseUntil = 0;
  #draining = false;
  #closed = false;
  #syncing: Promise<void> | undefined;
  #syncAgain = false;
  /** The next sync compares every room held here with `ownedRooms()` (start, heartbeat, a notification naming no room). */
  #checkAll = true;
  /** Rooms the next sync reads and compares one by one (a notification named them while held, or one was left). */
  readonly #toCheck = new Set<string>();
  /** The next sync claims: every wake but a notification about a room held here (which only checks that room). */
  #claimDue = true;
  /** The next sync refreshes {@link #alone} (once per heartbeat). */
  #heartbeatDue = true;
  /** No other live replica could claim (as of the last heartbeat): claim without waiting or starting small. */
  #alone = false;
  #unsubscribe: (() => Promise<void>) | undefined;

  constructor(options: RoomCoordinationOptions) {
    this.#options = options;
    this.replicaId = options.replicaId;
    this.#store = options.store;
    this.#attachments = options.attachments;
    this.#log = options.logger.child({ replica: options.replicaId });
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#waits = inBackground(this.#clock);
    this.#maxAttachFailures = options.maxAttachFailures ?? DEFAULT_MAX_ATTACH_FAILURES;
    this.#metrics = options.metrics;
    this.#lease = new ReplicaLease({
      store: options.store,
      replicaId: options.replicaId,
      capacity: options.attachments.maxRooms,
      leaseMs: options.leaseMs,
      ...(options.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: options.heartbeatIntervalMs }),
      onLost: (loss) => this.#fenceAll(loss, loss === 'lease-lost' ? 'this replica lost its lease' : 'this replica could not renew its lease in time'),
      onRenewed: async () => {
        if (this.#unsubscribe === undefined) await this.#subscribe();
        this.#heartbeatDue = true;
        this.#checkAll = true;
        this.wake();
      },
      draining: () => this.#draining,
      logger: this.#log,
      clock: this.#clock,
    });
  }

  get leaseMs(): number {
    return this.#lease.leaseMs;
  }

  get heartbeatIntervalMs(): number {
    return this.#lease.heartbeatIntervalMs;
  }

  /** Subscribes to room changes, registers the replica and starts the heartbeat. Store errors do not throw: the heartbeat retries. */
  async start(): Promise<void> {
    await this.#subscribe();
    await this.#lease.start();
  }

  /** Readiness: throws unless registered, within the lease, and the last heartbeat succeeded. */
  check(): void {
    this.#lease.check();
  }

  /** Whether this replica acts on `room` (owns it and attaches or attached it). */
  holds(room: string): boolean {
    return this.#held.has(room);
  }

  get size(): number {
    return this.#held.size;
  }

  status(): CoordinationStatus {
    return {
      replicaId: this.replicaId,
      lease: this.#lease.status(),
      draining: this.#draining,
      rooms: [...this.#held.entries()]
        .map(([room, held]) => ({ room, epoch: held.epoch, phase: held.phase, failures: held.failures }))
        .sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0)),
    };
  }

  /** Asks for a sync soon, with a claim (coalesced: one runs at a time, and one more after it when asked meanwhile). */
  wake(): void {
    this.#claimDue = true;
    this.#requestSync();
  }

  #requestSync(): void {
    if (this.#closed) return;
    if (this.#syncing !== undefined) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = (async () => {
      do {
        this.#syncAgain = false;
        try {
          await this.#syncOnce();
        } catch (err) {
          this.#log.warn({ err }, 'room sync failed');
        }
      } while (this.#syncAgain && !this.#closed);
    })().finally(() => {
      this.#syncing = undefined;
    });
  }

  /** Resolves once no sync runs (tests, status). */
  async settled(): Promise<void> {
    while (this.#syncing !== undefined) await this.#syncing;
  }

  /** The room ended (room.ended, reconciliation): stop acting on it and leave it here. */
  async roomEnded(room: string, reason: string): Promise<boolean> {
    this.#forget(room);
    return this.#attachments.detach(room, reason, 0);
  }

  /** An attached room was left without our asking (the room closed the connection, or dismissed us). */
  onLost(room: string, reason: string): void {
    const held = this.#held.get(room);
    if (held === undefined || held.phase !== 'attached') return;
    void this.#attachFailed(room, held, reason);
  }

  /**
   * The drain: claim nothing more, then hand every room over (agents unregistered, room released to peers at
   * once, calls in flight given `graceMs`), then release whatever else the store says is ours.
   */
  async handOff(graceMs: number): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    await this.#store.setDraining(this.replicaId).catch((err: unknown) => this.#log.warn({ err }, 'could not mark the replica draining'));
    const rooms = [...this.#held.keys()];
    this.#held.clear();
    // Said to callers whose calls are cut off: "handing over" only when some peer can take the rooms.
    const peers = rooms.length === 0 ? false : await this.#livePeers();
    if (rooms.length > 0) this.#log.info({ rooms: rooms.length, peers }, peers ? 'handing rooms over to peers' : 'releasing rooms: no live peer');
    const reason = peers ? 'roomrunner is handing the room to another replica' : 'roomrunner is shutting down';
    await Promise.allSettled(rooms.map((room) => this.#handOver(room, graceMs, reason)));
    await this.#release(undefined, 'the replica is draining');
  }

  /** Stops the heartbeat and the subscription and deregisters (releasing anything still owned). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    await this.settled();
    await this.#unsubscribe?.().catch(() => undefined);
    await this.#lease.close();
  }

  async #fenceAll(reason: FenceReason, text: string): Promise<void> {
    if (this.#held.size > 0) this.#log.warn({ rooms: this.#held.size, reason }, 'leaving every room');
    await Promise.allSettled([...this.#held.keys()].map((room) => this.#leave(room, text, reason)));
  }

  // --- sync: fencing, adoption, claims ---

  async #subscribe(): Promise<void> {
    try {
      this.#unsubscribe = await this.#store.onRoomsChanged((room) => {
        // Several rooms changed, or the store reconnected (notifications may be lost): check every room and claim.
        // A room held here changed (ended, taken over): check that one; a claim follows if it is left (#leave).
        // Any other room: a claim may find it.
        if (room === null) this.#checkAll = true;
        else if (this.#held.has(room)) {
          this.#toCheck.add(room);
          this.#requestSync();
          return;
        }
        this.wake();
      });
    } catch (err) {
      this.#log.warn({ err }, 'could not subscribe to room changes; the heartbeat will try again');
    }
  }

  async #syncOnce(): Promise<void> {
    if (this.#closed || !this.#lease.valid) return;
    const generation = ++this.#syncGeneration;
    for (const [room, at] of this.#forgotten) if (at < generation) this.#forgotten.delete(room);
    if (this.#heartbeatDue) {
      this.#heartbeatDue = false;
      await this.#refreshAlone();
      if (this.#closed || !this.#lease.valid) return;
    }
    if (this.#checkAll || this.#toCheck.size > 0) {
      await this.#checkOwned();
      if (this.#closed || !this.#lease.valid) return;
    }
    if (this.#draining || !this.#claimDue) return;
    this.#claimDue = false;
    await this.#claim();
  }

  /** Whether any other live replica that is not draining could claim rooms; on error, assume one could. */
  async #refreshAlone(): Promise<void> {
    try {
      const replicas = await this.#store.listReplicas();
      this.#alone = replicas.every((replica) => replica.id === this.replicaId || !replica.live || replica.draining);
    } catch (err) {
      this.#alone = false;
      this.#log.debug({ err }, 'could not list replicas');
    }
  }

  /**
   * Fencing and adoption: leave rooms no longer owned here, attach owned rooms not held (or due for a retry).
   * Every room held and owned when a full check is due, else only the rooms named since the last check.
   */
  async #checkOwned(): Promise<void> {
    const all = this.#checkAll;
    const named = all ? [] : [...this.#toCheck];
    this.#checkAll = false;
    this.#toCheck.clear();
    try {
      if (all) await this.#checkEveryRoom();
      else await this.#checkRooms(named);
    } catch (err) {
      // Not checked: the next sync does.
      if (all) this.#checkAll = true;
      for (const room of named) this.#toCheck.add(room);
      throw err;
    }
  }

  async #checkEveryRoom(): Promise<void> {
    const owned = await this.#store.ownedRooms(this.replicaId);
    if (this.#closed || !this.#lease.valid) return;
    const mine = new Map(owned.map((row) => [row.room, row]));
    for (const room of [...this.#held.keys()]) this.#compare(room, mine.get(room));
    for (const row of owned) if (!this.#held.has(row.room)) this.#compare(row.room, row);
  }

  async #checkRooms(rooms: readonly string[]): Promise<void> {
    const rows = await Promise.all(rooms.map((room) => this.#store.roomState(room)));
    if (this.#closed || !this.#lease.valid) return;
    rooms.forEach((room, i) => {
      const row = rows[i];
      const owned = row !== undefined && row.owner === this.replicaId && row.status !== 'ended';
      this.#compare(room, owned ? { room, epoch: row.epoch, status: row.status, sessionId: row.sessionId } : undefined);
    });
  }

  /** One room against the store's row for it (undefined: not owned here). */
  #compare(room: string, row: OwnedRoom | undefined): void {
    const held = this.#held.get(room);
    if (held !== undefined && (row === undefined || row.epoch !== held.epoch)) {
      void this.#leave(room, row === undefined ? 'the room has another owner now, or it ended' : 'the room changed ownership epoch', 'not-owned');
      return;
    }
    if (held !== undefined && held.phase === 'attached' && row?.status === 'pending') {
      void this.#markAttached(room, held); // an earlier markAttached was lost to a store outage
      return;
    }
    if (row === undefined || this.#draining || this.#forgotten.has(room)) return;
    if (held === undefined) this.#start(room, row.epoch, row.sessionId, 0);
    else if (held.phase === 'failed' && this.#clock.now() >= held.retryAt) this.#start(room, row.epoch, row.sessionId, held.failures);
  }

  /**
   * Claims rooms: a first batch (after the load-weighted wait, unless this replica is alone), then, while a
   * claim comes back full, at once again with twice the batch, up to {@link MAX_CLAIM_BATCH} and the cap.
   */
  async #claim(): Promise<void> {
    if (this.#clock.now() < this.#claimPauseUntil) return;
    const { maxRooms } = this.#attachments;
    const alone = this.#alone;
    if (!alone) {
      const spreadMs = Math.round((this.#options.claimSpreadMs ?? DEFAULT_CLAIM_SPREAD_MS) * Math.min(1, this.#held.size / maxRooms));
      if (spreadMs > 0) {
        const waited = await sleep(this.#waits, spreadMs, this.#closing.signal).then(
          () => true,
          () => false,
        );
        if (!waited || this.#closed || this.#draining || !this.#lease.valid) return;
      }
    }
    const firstBatch = this.#options.claimBatch ?? DEFAULT_CLAIM_BATCH;
    let batch = alone ? Math.max(firstBatch, MAX_CLAIM_BATCH) : firstBatch;
    for (;;) {
      if (this.#clock.now() < this.#claimPauseUntil) return;
      // The store counts owned rooms against the capacity: held + batch limits this claim to one batch.
      const capacity = this.#capacity(this.#held.size + batch);
      const wanted = capacity - this.#held.size;
      if (wanted <= 0) return;
      const claimed = await this.#store.claimRooms(this.replicaId, { capacity, leaseMs: this.leaseMs });
      if (claimed.length === 0) return;
      this.#metrics?.roomClaims.inc(claimed.length);
      this.#metrics?.roomFailovers.inc(claimed.filter((claim) => claim.previousOwner !== null && claim.previousOwner !== this.replicaId).length);
      // Debug: in a storm a claim per room; roomrunner_room_claims_total counts them, 'agents attached' follows.
      this.#log.debug({ rooms: claimed.length }, 'claimed rooms');
      if (this.#closed || this.#draining || !this.#lease.valid) {
        await this.#release(
          claimed.map((claim) => claim.room),
          'claimed while stopping',
        );
        return;
      }
      let taken = 0;
      for (const claim of claimed) {
        if (this.#held.has(claim.room)) {
          // Held under an older epoch: leave; the next sync attaches it again under the new one.
          void this.#leave(claim.room, 'the room changed ownership epoch', 'not-owned');
          continue;
        }
        if (this.#start(claim.room, claim.epoch, claim.sessionId, 0)) taken += 1;
      }
      // Not full: nothing more to claim now. A room not taken (refused, still leaving): let a later sync decide.
      if (claimed.length < wanted || taken < claimed.length) return;
      batch = Math.min(MAX_CLAIM_BATCH, batch * 2);
    }
  }

  /**
   * Slots for claimed rooms, at most `wanted`: the cap minus rooms held here outside coordination (room.call,
   * leaving). Those are at most every room attached here, so while that still leaves `wanted`, nothing is counted
   * (a storm claims once per room: a count per claim made the claims O(rooms) each).
   */
  #capacity(wanted: number): number {
    const { maxRooms } = this.#attachments;
    if (maxRooms - this.#attachments.size >= wanted) return wanted;
    const other = this.#attachments.countRooms((room) => this.#held.has(room));
    return Math.min(wanted, Math.max(0, maxRooms - other));
  }

  /** Starts acting on an owned room; true when it is held here afterwards. */
  #start(room: string, epoch: number, sessionId: string | null, failures: number): boolean {
    if (!this.#lease.valid || this.#draining) return false;
    const held: Held = { epoch, sessionId, phase: 'attaching', failures, retryAt: 0, recording: false };
    const trigger = this.#options.triggerOf?.(room) ?? 'claim';
    const result = this.#attachments.attach({ room, url: this.#options.roomUrl(room), trigger, sessionId });
    switch (result) {
      case 'attaching':
        this.#held.set(room, held);
        void this.#afterAttach(room, held);
        return true;
      case 'duplicate':
        if (this.#attachments.state(room) === 'detaching') {
          // Still leaving an older attachment: come back when it is gone (the room is owned, not held: adopt it).
          void this.#attachments.settled(room).then(() => {
            this.#toCheck.add(room);
            this.wake();
          });
          return false;
        }
        // Attached here already without coordination (a room.call): it counts as this ownership's attachment.
        this.#held.set(room, held);
        void this.#afterAttach(room, held);
        return true;
      case 'no-agents':
        held.phase = 'idle';
        this.#held.set(room, held);
        void this.#markAttached(room, held);
        return true;
      case 'full':
      case 'draining':
        void this.#release([room], `not attaching: ${result}`);
        return false;
    }
  }

  async #afterAttach(room: string, held: Held): Promise<void> {
    await this.#attachments.settled(room);
    if (this.#held.get(room) !== held) return;
    const state = this.#attachments.state(room);
    if (state === 'attached') await this.#markAttached(room, held);
    else if (state === 'failed')
      await this.#attachFailed(room, held, this.#attachments.lastError(room) ?? 'attach failed', this.#attachments.failedFinally(room));
    else if (state !== 'attaching') this.#held.delete(room);
  }

  async #markAttached(room: string, held: Held): Promise<void> {
    if (held.phase === 'attaching') held.phase = 'attached';
    // The phase says 'attached' before the store does: a check meanwhile reads 'pending' and would write again.
    // One write at a time; if this one fails, a later check finds the room still pending and issues the next.
    if (held.recording) return;
    held.recording = true;
    let ok: boolean;
    try {
      ok = await this.#store.markAttached(room, this.replicaId, held.epoch, held.sessionId);
    } catch (err) {
      this.#log.warn({ room, err }, 'could not record the attachment; the next sync does');
      return;
    } finally {
      held.recording = false;
    }
    if (this.#held.get(room) !== held) return;
    if (ok) {
      held.failures = 0;
      return;
    }
    await this.#leave(room, 'fenced: the room has a new owner or ended', 'not-owned');
  }

  /** `final`: the room refused us (e.g. 423, disabled); it stays failed here, neither retried nor handed to a peer. */
  async #attachFailed(room: string, held: Held, error: string, final = false): Promise<void> {
    held.phase = 'failed';
    held.failures += 1;
    held.retryAt = final ? Number.POSITIVE_INFINITY : this.#clock.now() + this.#lease.heartbeatIntervalMs;
    const recorded = await this.#store.recordAttachFailure(room, this.replicaId, held.epoch, error).catch(() => true);
    if (this.#held.get(room) !== held) return;
    if (!recorded) {
      this.#held.delete(room);
      return;
    }
    if (!final && held.failures >= this.#maxAttachFailures) {
      this.#log.warn({ room, failures: held.failures, err: error }, 'attach keeps failing here: releasing the room to a peer');
      this.#held.delete(room);
      this.#claimPauseUntil = this.#clock.now() + 2 * this.#lease.heartbeatIntervalMs;
      await this.#release([room], 'attach failed');
    }
  }

  #forget(room: string): void {
    this.#held.delete(room);
    this.#forgotten.set(room, this.#syncGeneration);
  }

  async #leave(room: string, reason: string, kind: FenceReason): Promise<void> {
    this.#forget(room);
    this.#metrics?.roomFenced.inc({ reason: kind });
    // Debug: 'room detached' says it with the same reason at info; roomrunner_room_fenced_total counts it.
    this.#log.debug({ room, reason }, 'leaving a room this replica no longer owns');
    await this.#attachments.detach(room, reason, 0);
    // The room may be ours again under a new epoch (or another room waits for the slot): check it and claim.
    this.#toCheck.add(room);
    this.wake();
  }

  async #handOver(room: string, graceMs: number, reason: string): Promise<void> {
    let released: Promise<void> | undefined;
    const release = (): Promise<void> => (released ??= this.#release([room], 'handed over').then(() => this.#metrics?.roomHandovers.inc()));
    await this.#attachments.detach(room, reason, graceMs, { onUnregistered: release });
    await release();
  }

  /** Whether another replica holds a live lease and is not draining (a store that cannot say: assume one does). */
  async #livePeers(): Promise<boolean> {
    try {
      return (await this.#store.listReplicas()).some((replica) => replica.id !== this.replicaId && replica.live && !replica.draining);
    } catch {
      return true;
    }
  }

  /** Gives rooms back (all of them when `rooms` is undefined); peers are notified. Errors are logged. */
  async #release(rooms: string[] | undefined, reason: string): Promise<void> {
    try {
      const released = await this.#store.releaseRooms(this.replicaId, rooms);
      if (released.length > 0) this.#log.info({ rooms: released.length, reason }, 'rooms released');
    } catch (err) {
      this.#log.warn({ err, reason }, 'could not release rooms: peers take them when the lease runs out');
    }
  }
}
