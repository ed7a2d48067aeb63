/**
 * The rooms this process is attached to, one state machine per room:
 *
 *   (none) --attach--> attaching --joined--> attached --room ended / dismiss / 1000 close / detach--> (none)
 *                          |  \--final failure or retries spent--> failed (kept for /status; retried by reconciliation
 *                          |                                          or, in coordinated mode, by the next sync or a peer)
 *                          \--room ended meanwhile--> (none)
 *
 * `attach` reserves the room synchronously, so duplicate starts attach once and the cap on rooms is race-free in
 * this process (JavaScript runs one handler at a time; the check and the reservation happen in one step).
 * Connect and register run under the one retry policy (src/util/retry.ts: exponential backoff with jitter, on the
 * injected clock, bounded), aborted if the room ends.
 * A refusal (RR_ROOM_HANDSHAKE_REFUSED, a token or URL error) is final: the room is `failed` with that reason.
 *
 * Each attempt is bounded by a timer of our own (`attemptTimeoutMs`): `AbortSignal.timeout` inside
 * `AbortSignal.any` can be garbage-collected before it fires (nodejs/node#57736), which left hung attempts
 * hanging for good. The timer aborts the attempt's controller and the attempt gives up whatever it waited for.
 *
 * Join slots: at most `maxConcurrentJoins` rooms register (the CPU-heavy part: tool schemas out, answers in) at
 * once; further rooms wait for a turn in a FIFO. Dialing and waiting for `room_ready` hold no slot, so rooms on a
 * room server that never answers cannot keep a healthy room from joining; they only wait out their own bound.
 * The wait for a slot counts toward the attempt bound, so "each attempt bounded" stays true.
 *
 * Replacing the agents ({@link RoomAttachments.replaceToolkits}, `roomrunner dev` reloading) re-runs the selector
 * for every room with the arguments it was attached with and swaps the agents over each room's own connection
 * (see AgentHost.replaceToolkits); a room still attaching joins with the new agents.
 *
 * Join health (./join-health.ts): when joins fail across the board, {@link RoomAttachments.checkJoins} throws
 * and readiness turns false. Attempts given up because the room ended or roomrunner is stopping do not count.
 */
import { isRefusal } from '../room/connection-state.js';
import { errorMessage } from '../util/error-message.js';
import { retry } from '../util/retry.js';
import { isRoomrunnerError, RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../http/metrics.js';
import type { ToolkitsReplaced } from '../agents/host.js';
import { joinInProcess, type JoinRoomWork, type RoomPresence } from './room-presence.js';
import type { Toolkit } from '../agents/define-agent.js';
import type { Dialer, RoomConnectionOptions } from '../room/connection.js';
import type { Timers } from '../room/timers.js';
import { SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import { Semaphore } from '../util/semaphore.js';
import { JoinHealth, type JoinHealthOptions } from './join-health.js';

export type { JoinHealthOptions } from './join-health.js';
export { DEFAULT_JOIN_FAILURES_NOT_READY, DEFAULT_JOIN_HEALTH_WINDOW_MS } from './join-health.js';

/** What asked for the attachment; `claim`: this replica claimed the room in the store (coordinated mode). */
export type AttachTrigger = 'room.started' | 'room.call' | 'reconcile' | 'claim' | 'manual';
export type AttachmentState = 'attaching' | 'attached' | 'detaching' | 'failed';

export interface AttachRequest {
  readonly room: string;
  /** The room's websocket URL. */
  readonly url: string;
  readonly trigger: AttachTrigger;
  readonly sessionId?: string | null;
  /** A ready token (from `room.call`); otherwise one is minted for every connection attempt. */
  readonly token?: string;
  /** Arguments of a `room.call`, passed to the agent selector. */
  readonly arguments?: Record<string, unknown> | null;
  /**
   * A websocket handoff: connect over the socket the platform opened (once, with no reconnect) instead of
   * dialing `url` (see src/room/accepted-transport.ts).
   */
  readonly dial?: Dialer;
}

export type AttachResult = 'attaching' | 'duplicate' | 'full' | 'draining' | 'no-agents';

export interface AttachmentStatus {
  readonly room: string;
  readonly state: AttachmentState;
  readonly trigger: AttachTrigger;
  readonly url: string;
  readonly sessionId: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  /** True when the room refused us (final): it is not retried until it starts again. */
  readonly final: boolean;
  readonly since: string;
  readonly attachedAt: string | null;
  readonly participantId: string | null;
  readonly agents: readonly string[];
}

export interface RetryOptions {
  /** Retries after the first attempt (default 6). */
  retries?: number;
  minTimeoutMs?: number;
  maxTimeoutMs?: number;
  /** Bound on one attempt (connect + handshake + wait for a join slot + register), default 15 s. */
  attemptTimeoutMs?: number;
}

export interface RoomAttachmentsOptions {
  readonly toolkits: readonly Toolkit[];
  /** Picks the agents for a room (default: all). Return an empty list to stay out of the room. */
  readonly select?: (room: string, args: Record<string, unknown> | null | undefined) => readonly Toolkit[];
  /** Mints a participant token for the room (called before every connection attempt). */
  readonly mintToken: (room: string) => string;
  readonly maxRooms: number;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly retry?: RetryOptions;
  /** Extra connection options (backoff, pings, timeouts). */
  readonly connection?: Partial<Omit<RoomConnectionOptions, 'url' | 'token' | 'onReady'>>;
  /** Where rooms run: in this thread (default), or on room worker threads (./room-workers.ts). A handoff always runs here. */
  readonly join?: JoinRoomWork;
  /**
   * Called when an attached room is left without anyone here asking: the room closed the connection (it ended,
   * or removed us) or dismissed us. Not called for {@link RoomAttachments.detach}.
   */
  readonly onLost?: (room: string, reason: string) => void;
  /** Rooms registering at once (default {@link DEFAULT_MAX_CONCURRENT_JOINS}); dialing and handshakes hold no slot. */
  readonly maxConcurrentJoins?: number;
  readonly joinHealth?: JoinHealthOptions;
  /**
   * Time (docs/architecture.md §Style 2): the attempt bound's timer, attach times, the join health's window.
   * Default {@link SYSTEM_CLOCK}.
   */
  readonly clock?: Clock;
}

export interface DetachOptions {
  /**
   * A hand-over: unregister the agents first, call this (e.g. to release the room to a peer replica), then let
   * calls in flight finish within the grace period and close. The room never has two registrations of an agent
   * (ours goes before the peer is told), yet the peer does not wait for our calls to finish. Without it, calls
   * finish first and the agents are unregistered at the end.
   */
  readonly onUnregistered?: () => unknown;
}

/** One room's outcome of {@link RoomAttachments.replaceToolkits}. */
export type RoomToolkitsReplaced =
  | ({ readonly room: string; readonly outcome: 'replaced' } & ToolkitsReplaced)
  /** Not attached yet: the attach in progress joins with the new agents. */
  | { readonly room: string; readonly outcome: 'pending' }
  /** The selector refused the new agents, or the room refused a registration; `error` says why. */
  | { readonly room: string; readonly outcome: 'failed'; readonly error: string };

interface Entry {
  readonly room: string;
  readonly url: string;
  readonly trigger: AttachTrigger;
  readonly sessionId: string | null;
  /** The arguments the room was attached with (a room.call's), for the selector when the agents are replaced. */
  readonly arguments: Record<string, unknown> | null;
  toolkits: readonly Toolkit[];
  readonly abort: AbortController;
  readonly started: number;
  /** Written through RoomAttachments' #setState, which keeps the count of rooms holding a slot. */
  state: AttachmentState;
  attempts: number;
  lastError: string | null;
  final: boolean;
  attachedAt: number | null;
  joined: RoomPresence | undefined;
  done: Promise<void>;
}

/** Rooms registering at once; more rooms wait their turn as `attaching`. */
export const DEFAULT_MAX_CONCURRENT_JOINS = 256;

/** After the attempt bound, how long the connection may take to let go (and say where it was) before we stop waiting. */
const GIVE_UP_GRACE_MS = 1_000;

const DEFAULT_RETRY: Required<RetryOptions> = { retries: 6, minTimeoutMs: 250, maxTimeoutMs: 5_000, attemptTimeoutMs: 15_000 };

export class RoomAttachments {
  readonly #options: RoomAttachmentsOptions;
  readonly #retry: Required<RetryOptions>;
  /** Written through #put, #remove and #setState only, which keep {@link RoomAttachments.size}. */
  readonly #rooms = new Map<string, Entry>();
  /** Entries of #rooms that hold a slot (every state but failed): `size` without a walk over every room. */
  #slots = 0;
  /** Join attempts running now (at most `maxConcurrentJoins`), and those waiting for a turn (FIFO). */
  readonly #joinSlots: Semaphore;
  #accepting = true;
  readonly #clock: Clock;
  readonly #health: JoinHealth;
  #toolkits: readonly Toolkit[];

  constructor(options: RoomAttachmentsOptions) {
    if (!Number.isInteger(options.maxRooms) || options.maxRooms < 1) {
      throw new RoomrunnerError(
        'RR_CONFIG_INVALID',
        `maxRooms must be a positive integer, got ${String(options.maxRooms)} (set ROOMRUNNER_MAX_ROOMS / --max-rooms)`,
      );
    }
    const maxConcurrentJoins = options.maxConcurrentJoins ?? DEFAULT_MAX_CONCURRENT_JOINS;
    if (!Number.isInteger(maxConcurrentJoins) || maxConcurrentJoins < 1) {
      throw new RoomrunnerError('RR_CONFIG_INVALID', `maxConcurrentJoins must be a positive integer, got ${String(maxConcurrentJoins)}`);
    }
    this.#options = options;
    this.#joinSlots = new Semaphore(maxConcurrentJoins);
    this.#toolkits = options.toolkits;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    if (!(Number.isFinite(this.#retry.attemptTimeoutMs) && this.#retry.attemptTimeoutMs > 0)) {
      throw new RoomrunnerError(
        'RR_CONFIG_INVALID',
        `attemptTimeoutMs must be a number of ms > 0, got ${String(this.#retry.attemptTimeoutMs)} (set ROOMRUNNER_JOIN_ATTEMPT_TIMEOUT_MS)`,
      );
    }
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#health = new JoinHealth(options.joinHealth, this.#clock);
    options.metrics?.roomsCapacity.set(options.maxRooms);
  }

  /** Rooms holding a slot (attaching, attached or detaching); failed rooms do not count. */
  get size(): number {
    return this.#slots;
  }

  get maxRooms(): number {
    return this.#options.maxRooms;
  }

  /** Join attempts running now (at most `maxConcurrentJoins`), and rooms waiting for a turn. */
  get joins(): { running: number; waiting: number } {
    return { running: this.#joinSlots.running, waiting: this.#joinSlots.waiting };
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  /** The room's state here, or undefined when it is not held. */
  state(room: string): AttachmentState | undefined {
    return this.#rooms.get(room)?.state;
  }

  /** The last attach error of a room, if any. */
  lastError(room: string): string | null {
    return this.#rooms.get(room)?.lastError ?? null;
  }

  /** True when the room failed with a refusal no retry can change (it stays failed until it starts again). */
  failedFinally(room: string): boolean {
    const entry = this.#rooms.get(room);
    return entry?.state === 'failed' && entry.final;
  }

  /**
   * A readiness check: throws RR_JOINS_FAILING when joins fail across the board (see ./join-health.ts); a
   * success, or a window with fewer failures, makes it pass again.
   */
  checkJoins(): void {
    this.#health.check();
  }

  has(room: string): boolean {
    const entry = this.#rooms.get(room);
    return entry !== undefined && entry.state !== 'failed';
  }

  /** Rooms currently holding a slot. */
  rooms(): string[] {
    return [...this.#rooms.values()].filter((e) => e.state !== 'failed').map((e) => e.room);
  }

  /** How many rooms holding a slot `except` says false for (no list made: the coordination asks on every claim). */
  countRooms(except: (room: string) => boolean): number {
    let n = 0;
    for (const entry of this.#rooms.values()) if (entry.state !== 'failed' && !except(entry.room)) n += 1;
    return n;
  }

  /** Every room with its state, for GET /status. */
  status(): AttachmentStatus[] {
    return [...this.#rooms.values()].map((e) => ({
      room: e.room,
      state: e.state,
      trigger: e.trigger,
      url: e.url,
      sessionId: e.sessionId,
      attempts: e.attempts,
      lastError: e.lastError,
      final: e.final,
      since: new Date(e.started).toISOString(),
      attachedAt: e.attachedAt === null ? null : new Date(e.attachedAt).toISOString(),
      participantId: e.joined?.participantId ?? null,
      agents: e.toolkits.map((t) => t.name),
    }));
  }

  /**
   * Start attaching to a room. Returns at once: `attaching` when this call took a slot, `duplicate` when the
   * room is already held, `full` at the cap, `draining` during shutdown, `no-agents` when the selector picked none.
   * {@link settled} tells when the attach finished.
   */
  attach(request: AttachRequest): AttachResult {
    if (!this.#accepting) return 'draining';
    const existing = this.#rooms.get(request.room);
    if (existing && existing.state !== 'failed') return 'duplicate';
    const toolkits = this.#options.select ? this.#options.select(request.room, request.arguments) : this.#toolkits;
    if (toolkits.length === 0) return 'no-agents';
    if (this.size >= this.#options.maxRooms) {
      this.#options.logger.warn({ room: request.room, maxRooms: this.#options.maxRooms }, 'room refused: at the room cap');
      return 'full';
    }
    const entry: Entry = {
      room: request.room,
      url: request.url,
      trigger: request.trigger,
      sessionId: request.sessionId ?? null,
      arguments: request.arguments ?? null,
      toolkits,
      abort: new AbortController(),
      started: this.#clock.now(),
      state: 'attaching',
      attempts: 0,
      lastError: null,
      final: false,
      attachedAt: null,
      joined: undefined,
      done: Promise.resolve(),
    };
    this.#put(entry);
    entry.done = this.#run(entry, request.token, request.dial);
    return 'attaching';
  }

  /** Resolves when the room's current attach attempt has finished (attached, failed or given up). */
  settled(room: string): Promise<void> {
    return this.#rooms.get(room)?.done ?? Promise.resolve();
  }

  /**
   * Leave a room: abort a pending attach, or stop taking calls, let calls in flight finish for `graceMs`, abort
   * the rest, unregister and close with 1000. Resolves false when the room was not held. See
   * {@link DetachOptions.onUnregistered} for a hand-over (it is called in every case, even when the room was
   * not held or never joined).
   */
  async detach(room: string, reason: string, graceMs = 0, options: DetachOptions = {}): Promise<boolean> {
    const entry = this.#rooms.get(room);
    if (!entry) {
      await options.onUnregistered?.();
      return false;
    }
    if (entry.state === 'detaching') {
      await entry.done;
      await options.onUnregistered?.();
      return true;
    }
    entry.abort.abort(new RoomrunnerError('RR_ROOM_ABORTED', reason));
    const wasAttached = entry.state === 'attached';
    this.#setState(entry, 'detaching');
    const joined = entry.joined;
    const leaving = (async () => {
      if (joined && options.onUnregistered) await joined.handOver(reason, graceMs, options.onUnregistered);
      else if (joined) await joined.leave({ reason, graceMs });
      else await options.onUnregistered?.();
    })();
    entry.done = leaving;
    try {
      await leaving;
    } finally {
      this.#remove(entry);
      if (wasAttached) this.#options.metrics?.roomsAttached.dec();
      this.#options.logger.info({ room, reason }, 'room detached');
    }
    return true;
  }

  /** The joined room of an attached room; undefined otherwise. */
  joined(room: string): RoomPresence | undefined {
    const entry = this.#rooms.get(room);
    return entry?.state === 'attached' ? entry.joined : undefined;
  }

  /**
   * Host `toolkits` from now on, in every room held (see the file comment): attached rooms swap their agents over
   * their connection, rooms still attaching join with the new ones, later rooms get them too. Each room's outcome
   * is reported on its own; one room's failure does not stop the others.
   */
  async replaceToolkits(toolkits: readonly Toolkit[]): Promise<RoomToolkitsReplaced[]> {
    this.#toolkits = toolkits;
    const entries = [...this.#rooms.values()].filter((e) => e.state === 'attaching' || e.state === 'attached');
    return Promise.all(
      entries.map(async (entry): Promise<RoomToolkitsReplaced> => {
        const room = entry.room;
        try {
          entry.toolkits = this.#options.select ? this.#options.select(room, entry.arguments) : toolkits;
          if (entry.state !== 'attached' || entry.joined === undefined) return { room, outcome: 'pending' };
          return { room, outcome: 'replaced', ...(await entry.joined.replaceToolkits(entry.toolkits)) };
        } catch (error) {
          const message = errorMessage(error);
          this.#options.logger.warn({ room, err: error }, 'agents not replaced in the room');
          return { room, outcome: 'failed', error: message };
        }
      }),
    );
  }

  /** Stop attaching new rooms (drain, shutdown). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Leave every room in parallel, each within `graceMs`. */
  async detachAll(reason: string, graceMs: number): Promise<void> {
    this.stopAccepting();
    await Promise.allSettled([...this.#rooms.keys()].map((room) => this.detach(room, reason, graceMs)));
  }

  /** Adds the entry, replacing the room's failed one if there is one. */
  #put(entry: Entry): void {
    const existing = this.#rooms.get(entry.room);
    if (existing !== undefined) this.#remove(existing);
    this.#rooms.set(entry.room, entry);
    if (entry.state !== 'failed') this.#slots += 1;
  }

  /** Removes the entry if it is still the room's. */
  #remove(entry: Entry): void {
    if (this.#rooms.get(entry.room) !== entry) return;
    this.#rooms.delete(entry.room);
    if (entry.state !== 'failed') this.#slots -= 1;
  }

  #setState(entry: Entry, state: AttachmentState): void {
    if (this.#rooms.get(entry.room) === entry) this.#slots += (state !== 'failed' ? 1 : 0) - (entry.state !== 'failed' ? 1 : 0);
    entry.state = state;
  }

  /** An attached room left without our asking. */
  #lost(entry: Entry, reason: string): void {
    if (this.#rooms.get(entry.room) !== entry || entry.state !== 'attached') return;
    void this.detach(entry.room, reason);
    this.#options.onLost?.(entry.room, reason);
  }

  async #run(entry: Entry, fixedToken: string | undefined, dial: Dialer | undefined): Promise<void> {
    const { logger, metrics } = this.#options;
    // No child logger here: RoomConnection and AgentHost bind the room themselves (once each), so this passes
    // the root logger down and names the room on its own few lines.
    const room = entry.room;
    try {
      // The one retry policy (src/util/retry.ts): the waits double from minTimeoutMs up to maxTimeoutMs, less up
      // to a fifth at random, slept on this clock.
      const joined = await retry(
        async (attemptNumber) => {
          entry.attempts = attemptNumber;
          return this.#attempt(entry, fixedToken, dial);
        },
        { retries: this.#retry.retries, backoff: { initialMs: this.#retry.minTimeoutMs, maxMs: this.#retry.maxTimeoutMs } },
        {
          signal: entry.abort.signal,
          clock: this.#clock,
          shouldRetry: (error) => !entry.abort.signal.aborted && !isFinal(error),
          onFailedAttempt: ({ error, attempt, retriesLeft }) => {
            entry.lastError = error.message;
            this.#health.failed();
            logger.warn({ room, attempt, retriesLeft, err: error }, 'attach attempt failed');
          },
        },
      );
      if (entry.abort.signal.aborted || entry.state !== 'attaching') {
        // The room ended while the last attempt was finishing: leave at once.
        await joined.leave({ reason: 'room ended while attaching' });
        return;
      }
      entry.joined = joined;
      this.#setState(entry, 'attached');
      // The agents were replaced while this attempt was joining with the previous ones.
      if (!sameToolkits(joined.toolkits, entry.toolkits)) {
        joined.replaceToolkits(entry.toolkits).catch((error: unknown) => logger.warn({ room, err: error }, 'agents not replaced in the room'));
      }
      entry.attachedAt = this.#clock.now();
      this.#health.succeeded();
      metrics?.roomsAttached.inc();
      metrics?.roomAttachSeconds.observe((entry.attachedAt - entry.started) / 1000);
      logger.info({ room, agents: entry.toolkits.map((t) => t.name), attempts: entry.attempts, participant: joined.participantId }, 'agents attached');
      joined.on('reconnecting', () => metrics?.roomReconnects.inc());
      joined.on('dismiss', () => this.#lost(entry, 'dismissed by the room'));
      void joined.closed.then((closed) => {
        // A close we did not ask for (1000 from the room: it ended, or we were removed) ends the attachment.
        this.#lost(entry, `room closed the connection (${closed.code}${closed.reason ? `: ${closed.reason}` : ''})`);
      });
    } catch (error) {
      if (entry.abort.signal.aborted) {
        logger.info({ room, attempts: entry.attempts }, 'attach abandoned: the room ended or roomrunner is stopping');
        if (entry.state === 'attaching') this.#remove(entry);
        return;
      }
      this.#setState(entry, 'failed');
      entry.final = isFinal(error);
      entry.lastError = errorMessage(error);
      logger.error(
        { room, attempts: entry.attempts, final: entry.final, err: error },
        entry.final ? 'attach refused by the room: not retrying' : 'attach failed',
      );
    }
  }

  /**
   * One join attempt, bounded by our own timer (see the file comment): connect, wait for room_ready, wait for a
   * join slot, register. Rejects with RR_ROOM_JOIN_TIMEOUT (saying what never came) when the bound passes, even if
   * the connection were slow to let go; a join that completes after that is left at once.
   */
  async #attempt(entry: Entry, fixedToken: string | undefined, dial: Dialer | undefined): Promise<RoomPresence> {
    const { logger, metrics } = this.#options;
    const room = entry.room;
    const boundMs = this.#retry.attemptTimeoutMs;
    const controller = new AbortController();
    const timer = this.#clock.setTimeout(() => {
      controller.abort(new RoomrunnerError('RR_ROOM_JOIN_TIMEOUT', `join attempt did not finish within ${boundMs} ms`, { data: { timeoutMs: boundMs } }));
    }, boundMs);
    const onRoomAbort = (): void => controller.abort(entry.abort.signal.reason);
    entry.abort.signal.addEventListener('abort', onRoomAbort, { once: true });
    if (entry.abort.signal.aborted) onRoomAbort();
    // A handoff's socket cannot leave this thread; other rooms go where the composition runs room work.
    const join = dial ? joinInProcess : (this.#options.join ?? joinInProcess);
    const joining = join(
      {
        room,
        url: entry.url,
        toolkits: entry.toolkits,
        token: fixedToken,
        mintToken: this.#options.mintToken,
        dial,
        connection: this.#options.connection,
        registrationSlot: this.#takeJoinSlot,
        logger,
        clock: this.#clock,
        onCall: (agent, _tool, outcome) => {
          metrics?.agentCalls.inc({ agent, outcome: outcome.outcome });
          metrics?.agentCallSeconds.observe({ agent }, outcome.durationMs / 1000);
        },
      },
      controller.signal,
    );
    try {
      return await untilAborted(joining, controller.signal, GIVE_UP_GRACE_MS, this.#clock, (late) => void late.leave({ reason: 'join attempt gave up' }));
    } finally {
      this.#clock.clearTimeout(timer);
      entry.abort.signal.removeEventListener('abort', onRoomAbort);
    }
  }

  /**
   * The connection's `registrationSlot`: a turn among `maxConcurrentJoins` (FIFO), given back once (the release
   * is idempotent). Rejects with the abort reason if `signal` aborts first, leaving the queue.
   */
  readonly #takeJoinSlot = async (signal: AbortSignal): Promise<() => void> => {
    const release = await this.#joinSlots.acquire(signal);
    // The join queue has no bound, so an acquire is never refused.
    if (release === undefined) throw new Error('unreachable: the join semaphore has no queue bound');
    return release;
  };
}

/**
 * Settles like `promise`, except once `signal` aborts: then it rejects with the promise's own error if that comes
 * within `graceMs` (the connection's, which says what the attempt was waiting for), else with the signal's
 * reason. The bound holds even if what it waits for never lets go; a value that arrives after the abort goes
 * to `discard`.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, graceMs: number, timers: Timers, discard: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let grace: unknown;
    const onAbort = (): void => {
      grace = timers.setTimeout(() => reject(signal.reason), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const settle = (): void => {
      signal.removeEventListener('abort', onAbort);
      if (grace !== undefined) timers.clearTimeout(grace);
    };
    promise.then(
      (value) => {
        settle();
        if (signal.aborted) {
          discard(value);
          reject(signal.reason);
        } else resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}

function sameToolkits(a: readonly Toolkit[], b: readonly Toolkit[]): boolean {
  return a.length === b.length && a.every((toolkit, i) => toolkit === b[i]);
}

/** Failures no retry can fix: a refusal by the room server, a bad token or secret, a bad room URL. */
function isFinal(error: unknown): boolean {
  // The room connection's own rule for a refusal (src/room/connection-state.ts), plus a URL that cannot be dialed.
  return isRefusal(error) || isRoomrunnerError(error, 'RR_ROOM_URL_INVALID');
}
