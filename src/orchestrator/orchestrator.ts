/**
 * The room side of roomrunner (docs/architecture.md §Composition): what attaches the agents to every room that
 * starts and detaches them when it ends, with reconciliation against the platform so a lost webhook or a restart
 * heals by itself, a hard cap on rooms, a bounded graceful drain, the status and admin routes, the dashboard,
 * MCP and the service descriptor. It knows nothing of HTTP receiving: events come in through
 * {@link Orchestrator.dispatch} (or the named methods) and handoffs through {@link Orchestrator.handoff}, from
 * whichever receiving side the composition pairs it with (`createRoomrunner`, or the `RemoteTaskRunnerServer`
 * facade whose hooks call it).
 *
 * Idempotent in every order, from room state rather than from the ledger (MeshAgent's signing scheme has no
 * timestamp or delivery id, docs/protocol.md §A.4, so its body-digest dedupe only absorbs retries): duplicate
 * starts attach once (the room is reserved synchronously); a start after the room's end is a new session; an end
 * that arrives before its start leaves a tombstone so the late start is ignored (per session id when the
 * platform sends one, else within `tombstoneWindowMs`); the end of an earlier session than the running one is
 * ignored.
 *
 * One code path on every store (each implements the coordinator contract, docs/coordination.md; MemoryStore
 * coordinates the replicas of one process): `room.started` records the room as pending and wakes every replica;
 * replicas claim rooms up to their cap, hold them under a lease renewed by one heartbeat per replica, leave
 * rooms they no longer own (fencing), and hand them over on drain. See ./coordination.ts. `room.call`
 * attachments stay per receiving replica (the token in the payload is for this call), not coordinated.
 *
 * It takes its settings as a `Config` (explicit: it never reads the environment) and its collaborators as parts.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { requireBearerToken, type ReadinessCheck } from '../http/app.js';
import type { Metrics } from '../http/metrics.js';
import { agentTokenMinter, resolveTokenSecret } from '../auth/token.js';
import { roomUrl } from '../room/url.js';
import type { RoomClient } from '../room/room-client.js';
import type { RoomConnectionOptions } from '../room/connection.js';
import type { Toolkit } from '../agents/define-agent.js';
import { checkUniqueNames } from '../agents/discover.js';
import type { HookContext, ServerAddress } from '../server/receiver.js';
import { CallEvent, parseEvent, RoomEndedEvent, RoomStartedEvent, type WebhookEvent } from '../webhooks/events.js';
import type { Handoff } from '../webhooks/handoff.js';
import type { HookOutcome } from '../webhooks/plugin.js';
import { buildServiceDescriptor, registerServiceDescriptor } from '../service/descriptor.js';
import { assertMcpToken, MCP_PATH, registerMcpRoutes } from '../mcp/mcp-route.js';
import { registerDashboard, type EmulatorDeliveryView } from '../dashboard/plugin.js';
import { isCoordinator, type CoordinatedStore } from '../store/coordinated-store.js';
import { retryWhileStoreDown } from '../store/retry.js';
import type { Store } from '../store/store.js';
import { every, SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import { errorMessage } from '../util/error-message.js';
import { RoomAttachments, type AttachRequest, type AttachTrigger, type RetryOptions } from './attachments.js';
import { agentsForCall } from './call-agents.js';
import { RoomCoordination } from './coordination.js';
import { PlatformClient } from './platform.js';
import { reconcileCoordinated } from './reconcile.js';
import { registerRoomAdminRoutes, type AdminRoom } from './admin-rooms.js';
import { RoomUrlPolicy } from './room-url-policy.js';
import type { RoomWorkers } from './room-workers.js';

/** A room.started within this long after its room.ended (same room, no session id to compare) is ignored. */
export const DEFAULT_TOMBSTONE_WINDOW_MS = 5_000;
/** Session ids remembered as ended, to ignore their late starts. */
const ENDED_SESSIONS_KEPT = 10_000;
/** Room URLs and triggers of rooms heard of here, remembered for when this replica claims the room. */
const ROOMS_HEARD_KEPT = 10_000;

/** What this replica heard of a room it made pending: where to dial, and why (shown on status pages). */
interface HeardRoom {
  readonly url: string | undefined;
  readonly trigger: AttachTrigger;
}

/** The receiving side as the orchestrator sequences it: it starts first, listens second; drains and closes together. */
export interface ReceivingSide {
  start(): Promise<ServerAddress>;
  drain(): Promise<void>;
  close(): Promise<void>;
}

export interface OrchestratorParts {
  /** The agents (toolkits) to host in every room. */
  readonly agents: readonly Toolkit[];
  /**
   * Picks the agents for one room; `args` are a room.call's arguments. Default: those `args.agents` names (a
   * list of agent names; an unknown name fails the call), else all.
   */
  readonly selectAgents?: (room: string, args: Record<string, unknown> | null | undefined) => readonly Toolkit[];
  /** A store that coordinates rooms (every store roomrunner ships does). */
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** This replica's id: in the store's room ownership (and the ledger's, on the receiving side). */
  readonly replicaId: string;
  /** The webhook path, listed in the service descriptor. */
  readonly webhookPath: string;
  /** Rooms registering at once (dialing and waiting for room_ready hold no slot); more wait as `attaching` (default 256). */
  readonly maxConcurrentJoins?: number;
  readonly tombstoneWindowMs?: number;
  readonly retry?: RetryOptions;
  readonly connection?: Partial<Omit<RoomConnectionOptions, 'url' | 'token' | 'onReady'>>;
  /** A room whose attach fails this many times in a row here is released to a peer (default 2). */
  readonly maxAttachFailures?: number;
  /** The dashboard's extras: the emulator's delivery log (roomrunner dev). */
  readonly dashboard?: { readonly emulatorDeliveries?: () => readonly EmulatorDeliveryView[] };
  /**
   * Room worker threads to run rooms and agents on (./room-workers.ts); closed with the orchestrator. Without
   * them rooms run in this thread. Handoffs always run in this thread.
   */
  readonly roomWorkers?: RoomWorkers;
  /** Time for the room side: lease, fencing, claims, attempt bounds, reconciliation (default {@link SYSTEM_CLOCK}). */
  readonly clock?: Clock;
  /** After a websocket handoff's agents are attached: the `onCallAnswered` hook, with the room client. */
  readonly callAnswered?: (room: RoomClient, event: CallEvent, context: HookContext) => Promise<void>;
}

export class Orchestrator {
  readonly attachments: RoomAttachments;
  /** Readiness checks for the receiving side's `/readyz`: the platform, the replica lease, room joins. */
  readonly readinessChecks: readonly ReadinessCheck[];
  readonly #config: Config;
  readonly #parts: OrchestratorParts;
  readonly #logger: Logger;
  readonly #rooms: CoordinatedStore;
  readonly #apiUrl: string;
  readonly #identity: string;
  readonly #roomUrlPolicy: RoomUrlPolicy;
  readonly #platform: PlatformClient | undefined;
  readonly #reconcileIntervalMs: number;
  readonly #tombstoneWindowMs: number;
  readonly #endedSessions = new Set<string>();
  readonly #heard = new Map<string, HeardRoom>();
  readonly #coordination: RoomCoordination;
  #drainOnce: Promise<void> | undefined;
  #starting: Promise<ServerAddress> | undefined;
  #closed = false;
  readonly #clock: Clock;
  #stopReconciling: (() => void) | undefined;
  #reconciling: Promise<void> | undefined;
  #lastReconcileError: string | null = null;
  #lastReconcileAt: string | null = null;

  /**
   * @throws RoomrunnerError `RR_AGENT_DEFINITION_INVALID` without agents or with two of one name;
   *   `RR_CONFIG_INVALID` for a store that does not coordinate rooms; `RR_CONFIG_MCP_NO_TOKEN` for MCP without a token.
   */
  constructor(config: Config, parts: OrchestratorParts) {
    if (!parts.agents || parts.agents.length === 0) {
      throw new RoomrunnerError(
        'RR_AGENT_DEFINITION_INVALID',
        'RemoteTaskRunnerServer needs at least one agent: pass { agents: [...] } or put agents in the agents folder',
      );
    }
    checkUniqueNames(parts.agents.map((toolkit, i) => ({ toolkit, file: 'options.agents', exportName: `[${i}]` })));
    if (config.mcp) assertMcpToken(config.mcpToken, config.insecure);
    const store = parts.store;
    if (!isCoordinator(store)) {
      throw new RoomrunnerError(
        'RR_CONFIG_INVALID',
        'RemoteTaskRunnerServer needs a store that coordinates rooms (the Coordinator methods of MemoryStore, SqliteStore, PgliteStore, PostgresStore); this one has only the ledger',
      );
    }
    this.#rooms = store;
    this.#config = config;
    const clock = parts.clock ?? SYSTEM_CLOCK;
    this.#clock = clock;
    this.#parts = parts;
    this.#logger = parts.logger;
    this.#apiUrl = config.apiUrl;
    this.#identity = config.identity;
    this.#reconcileIntervalMs = config.reconcileIntervalMs;
    this.#tombstoneWindowMs = parts.tombstoneWindowMs ?? DEFAULT_TOMBSTONE_WINDOW_MS;
    this.#roomUrlPolicy = new RoomUrlPolicy({ apiUrl: this.#apiUrl, roomHosts: config.roomHosts });
    const secret = resolveTokenSecret(config);
    // Every mint (one per connection attempt, so a reconnect gets a fresh one) expires: a token that leaks
    // stops opening the room.
    const mintToken = agentTokenMinter(secret, { identity: this.#identity, ttlMs: config.tokenTtlMs });
    const agents = parts.agents;
    this.attachments = new RoomAttachments({
      toolkits: agents,
      select: parts.selectAgents ?? ((_room, args) => agentsForCall(agents, args)),
      mintToken,
      maxRooms: config.maxRooms,
      ...(parts.maxConcurrentJoins === undefined ? {} : { maxConcurrentJoins: parts.maxConcurrentJoins }),
      logger: this.#logger,
      metrics: parts.metrics,
      retry: { attemptTimeoutMs: config.joinAttemptTimeoutMs, ...parts.retry },
      connection: { ...parts.connection, backoff: { resetAfterMs: config.reconnectResetMs, ...parts.connection?.backoff } },
      onLost: (room, reason) => this.#coordination?.onLost(room, reason),
      clock,
      ...(parts.roomWorkers === undefined ? {} : { join: parts.roomWorkers.join }),
    });
    this.#coordination = new RoomCoordination({
      store,
      attachments: this.attachments,
      replicaId: parts.replicaId,
      leaseMs: config.leaseMs,
      ...(config.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: config.heartbeatIntervalMs }),
      ...(parts.maxAttachFailures === undefined ? {} : { maxAttachFailures: parts.maxAttachFailures }),
      roomUrl: (room) => this.#heard.get(room)?.url ?? roomUrl(this.#apiUrl, room),
      triggerOf: (room) => this.#heard.get(room)?.trigger,
      logger: this.#logger,
      metrics: parts.metrics,
      clock,
    });
    const projectId = secret.projectId;
    this.#platform =
      projectId === undefined
        ? undefined
        : new PlatformClient({
            apiUrl: this.#apiUrl,
            projectId,
            // The platform takes the API key itself; with a bare secret, a token signed with it (the emulator accepts both).
            bearer: () => config.apiKey ?? mintToken('*'),
          });
    this.readinessChecks = [
      { name: 'platform', check: () => this.#platformReady() },
      { name: 'replica lease', check: () => this.#coordination.check() },
      { name: 'room joins', check: () => this.attachments.checkJoins() },
    ];
  }

  /** This replica's id: in the ledger (crash recovery) and in the store's room ownership. */
  get replicaId(): string {
    return this.#coordination.replicaId;
  }

  /** The participant name the agents join rooms as. */
  get identity(): string {
    return this.#identity;
  }

  /** Runs an event as its hook would: room.started, room.ended, room.call; anything else is `ignored`. */
  async dispatch(event: WebhookEvent, context: HookContext): Promise<HookOutcome> {
    if (event instanceof RoomStartedEvent) await this.roomStarted(event, context);
    else if (event instanceof RoomEndedEvent) await this.roomEnded(event, context);
    else if (event instanceof CallEvent) await this.call(event, context);
    else return 'ignored';
    return 'processed';
  }

  // --- events ---

  async roomStarted(event: RoomStartedEvent, context: HookContext): Promise<void> {
    this.#refuseForeignRoomUrl(event);
    if (event.sessionId && this.#endedSessions.has(event.sessionId)) {
      context.log.info({ session: event.sessionId }, 'ignored a late room.started: its session already ended');
      return;
    }
    await this.#startPending(event, 'room.started', context);
  }

  async roomEnded(event: RoomEndedEvent, context: HookContext): Promise<void> {
    const room = event.roomName;
    if (event.sessionId) this.#rememberEnded(event.sessionId);
    const at = new Date(this.#clock.now());
    // Idempotent by room state: the end of an earlier session, after the room started again, leaves it alone.
    const ended = await retryWhileStoreDown(() => this.#rooms.markRoomEnded(room, at, event.sessionId ?? null), {
      signal: context.signal,
      log: context.log,
    });
    if (!ended) {
      context.log.info({ session: event.sessionId }, 'ignored a late room.ended: the room runs another session now');
      return;
    }
    this.#heard.delete(room);
    // The tombstone cleared the owner (whichever replica it is) and notified it: it leaves on its next sync.
    const held = await this.#coordination.roomEnded(room, 'room ended');
    // Debug: the replica that held the room says so at info ('room detached', with the reason).
    context.log.debug({ held }, held ? 'room ended: detached' : 'room ended: tombstone left');
  }

  /**
   * `room.call`: join with the token in the payload (§A.6); `arguments.agents` may name the agents to host.
   * @throws RoomrunnerError `RR_CALL_AGENTS_UNKNOWN` (the delivery is recorded failed) for a name not hosted here.
   */
  async call(event: CallEvent, context: HookContext): Promise<void> {
    this.#refuseForeignRoomUrl(event);
    // Refused here, before anything is reserved, so the failure is the delivery's outcome.
    if (this.#parts.selectAgents === undefined) agentsForCall(this.#parts.agents, event.arguments);
    this.#attach(
      { room: event.roomName, url: event.roomUrl, trigger: 'room.call', token: event.token, arguments: event.arguments, sessionId: event.sessionId ?? null },
      context,
    );
  }

  /**
   * A websocket handoff of `room.call` (docs/protocol.md §A.3): attach the agents (all, or those
   * `arguments.agents` names) over the platform's socket, idempotently like any attach, then run
   * `onCallAnswered`. A handoff for a room already held, or over the cap, or while draining closes the socket.
   */
  async handoff(handoff: Handoff, context: HookContext): Promise<void> {
    const { event } = handoff;
    const room = event.roomName;
    const result = this.attachments.attach({
      room,
      url: event.roomUrl,
      trigger: 'room.call',
      token: event.token,
      arguments: event.arguments,
      sessionId: event.sessionId ?? null,
      dial: handoff.dial,
    });
    context.log.info({ trigger: 'room.call', result, handoff: true }, result === 'attaching' ? 'attaching agents' : `not attaching: ${result}`);
    if (result !== 'attaching') {
      // 1013 "try again later" where a later handoff may succeed; 1000 where it would change nothing.
      const retryLater = result === 'full' || result === 'draining' || result === 'duplicate';
      handoff.socket.close(retryLater ? 1013 : 1000, `not attaching: ${result}`);
      return;
    }
    await this.attachments.settled(room);
    const joined = this.attachments.joined(room);
    if (joined?.client) await this.#parts.callAnswered?.(joined.client, event, context);
  }

  // --- routes ---

  /** GET /status, the admin room routes, the dashboard, MCP (when on) and the service descriptor. */
  registerRoutes(app: FastifyInstance): void {
    const config = this.#config;
    const adminToken = config.adminToken;
    const guard = requireBearerToken(adminToken);
    app.get('/status', { preHandler: guard }, async () => ({
      identity: this.#identity,
      replica: this.#coordination.status(),
      accepting: this.attachments.accepting,
      rooms: this.attachments.size,
      maxRooms: this.attachments.maxRooms,
      reconcile: { lastAt: this.#lastReconcileAt, lastError: this.#lastReconcileError, enabled: this.#platform !== undefined },
      attachments: this.attachments.status(),
    }));
    registerRoomAdminRoutes(app, {
      adminToken,
      list: () => this.#listRooms(),
      attach: (room) => this.#adminAttach(room),
      detach: (room) => this.#adminDetach(room),
      replicas: () => this.#rooms.listReplicas(),
    });
    registerDashboard(app, {
      adminToken,
      histograms: { ack: this.#parts.metrics.webhookAckSeconds, attach: this.#parts.metrics.roomAttachSeconds },
      ...(this.#parts.dashboard?.emulatorDeliveries ? { emulatorDeliveries: this.#parts.dashboard.emulatorDeliveries } : {}),
    });
    if (config.mcp) {
      registerMcpRoutes(app, {
        agents: this.#parts.agents,
        token: config.mcpToken,
        logger: this.#logger,
        name: config.serviceName,
        bodyLimitBytes: config.bodyLimitBytes,
      });
    }
    registerServiceDescriptor(
      app,
      buildServiceDescriptor({
        name: config.serviceName,
        description: 'roomrunner: typed agents in every room',
        paths: [this.#parts.webhookPath],
        identity: this.#identity,
        api: config.apiScope,
        agents: this.#parts.agents,
        ...(config.mcp ? { mcpPath: MCP_PATH } : {}),
        ...(config.publicUrl === undefined ? {} : { externalUrl: config.publicUrl }),
      }),
    );
  }

  /** Every replica's live rooms as the store records them, with what this replica knows of those it holds. */
  async #listRooms(): Promise<AdminRoom[]> {
    const here = this.#coordination.replicaId;
    const rooms = new Map<string, AdminRoom>();
    for (const row of await this.#rooms.activeRooms()) {
      rooms.set(row.room, {
        room: row.room,
        state: row.status,
        trigger: this.#heard.get(row.room)?.trigger ?? null,
        owner: row.owner,
        epoch: row.epoch,
        attempts: row.attempts,
        lastError: row.lastError,
        since: (row.startedAt ?? row.updatedAt).toISOString(),
        sessionId: row.sessionId,
        agents: [],
        participantId: null,
      });
    }
    for (const local of this.attachments.status()) {
      const row = rooms.get(local.room);
      rooms.set(local.room, {
        room: local.room,
        state: local.state,
        trigger: local.trigger,
        owner: here,
        epoch: row?.epoch ?? null,
        attempts: Math.max(local.attempts, row?.attempts ?? 0),
        lastError: local.lastError ?? row?.lastError ?? null,
        since: local.since,
        sessionId: local.sessionId,
        agents: local.agents,
        participantId: local.participantId,
      });
    }
    return [...rooms.values()];
  }

  /** Explicit dispatch: the room starts now, whatever tombstone an earlier session left. */
  async #adminAttach(room: string): Promise<string> {
    await this.#rooms.clearRoom(room);
    const started = parseEvent({ event: 'room.started', data: { room_name: room } });
    if (started instanceof RoomStartedEvent) await this.#startPending(started, 'manual', this.#adminContext(room));
    return 'pending';
  }

  /** Explicit detach: as if room.ended arrived (a tombstone stays, so a late start of that session is ignored). */
  async #adminDetach(room: string): Promise<string> {
    const known = this.attachments.has(room) || (await this.#rooms.roomState(room)) !== undefined;
    if (!known) throw new RoomrunnerError('RR_ADMIN_ROOM_NOT_FOUND', `no room ${JSON.stringify(room)} is held or known here`);
    const ended = parseEvent({ event: 'room.ended', data: { room_name: room } });
    if (ended instanceof RoomEndedEvent) await this.roomEnded(ended, this.#adminContext(room));
    return 'detached';
  }

  #adminContext(room: string): HookContext {
    return { deliveryKey: `admin:${room}`, log: this.#logger.child({ room, admin: true }), signal: AbortSignal.timeout(30_000) };
  }

  // --- lifecycle ---

  /**
   * Starts the coordination (lease, subscription, claims), then the receiving side, then reconciles. Calling it
   * again returns the same promise; after `close()` it is the receiving side's refusal.
   */
  start(receiving: ReceivingSide): Promise<ServerAddress> {
    if (this.#closed) return receiving.start(); // rejects: closed
    this.#starting ??= this.#start(receiving);
    return this.#starting;
  }

  async #start(receiving: ReceivingSide): Promise<ServerAddress> {
    await this.#coordination.start();
    const address = await receiving.start();
    if (this.#platform) {
      void this.reconcile();
      if (this.#reconcileIntervalMs > 0) {
        this.#stopReconciling = every(this.#clock, this.#reconcileIntervalMs, () => void this.reconcile());
      }
    } else {
      this.#logger.warn('reconciliation is off: set MESHAGENT_PROJECT_ID or an MESHAGENT_API_KEY so roomrunner can list active rooms');
    }
    return address;
  }

  /**
   * Graceful drain: readiness false and new webhooks 503 at once, no new rooms, calls in flight finish or abort
   * within the drain bound, toolkits unregistered, sockets closed with 1000. Idempotent.
   */
  drain(receiving: ReceivingSide): Promise<void> {
    this.#drainOnce ??= this.#drain(receiving);
    return this.#drainOnce;
  }

  async #drain(receiving: ReceivingSide): Promise<void> {
    this.#stopReconciling?.();
    const drainTimeoutMs = this.#config.drainTimeoutMs;
    // Hand rooms to peers first (each released as soon as our agents are unregistered from it).
    const handOff = this.#coordination.handOff(drainTimeoutMs);
    this.attachments.stopAccepting();
    await Promise.all([
      receiving.drain(),
      (async () => {
        await handOff;
        await this.attachments.detachAll('roomrunner is shutting down', drainTimeoutMs);
      })(),
    ]);
  }

  /** Drains, stops the coordination (lease released), then closes the receiving side. Idempotent. */
  async close(receiving: ReceivingSide): Promise<void> {
    this.#closed = true;
    await this.drain(receiving);
    await this.#coordination.close();
    await this.#parts.roomWorkers?.close();
    await receiving.close();
  }

  /**
   * Ask the platform which rooms are active; attach the missing ones and leave those that ended. Runs at
   * start-up and every `reconcileIntervalMs`; concurrent calls share one run.
   */
  reconcile(): Promise<void> {
    this.#reconciling ??= this.#reconcileOnce().finally(() => (this.#reconciling = undefined));
    return this.#reconciling;
  }

  async #reconcileOnce(): Promise<void> {
    if (!this.#platform || !this.attachments.accepting) return;
    try {
      const fetchedAt = this.#clock.now();
      const active = await this.#platform.activeRooms();
      this.#lastReconcileError = null;
      this.#lastReconcileAt = new Date(this.#clock.now()).toISOString();
      const { started } = await reconcileCoordinated({
        store: this.#rooms,
        active,
        fetchedAt,
        tombstoneWindowMs: this.#tombstoneWindowMs,
        endedSessions: this.#endedSessions,
        graceMs: Math.max(this.#tombstoneWindowMs, this.#coordination.leaseMs),
        logger: this.#logger,
        clock: this.#clock,
      });
      const urls = new Map(active.map((a) => [a.room, a.roomUrl]));
      for (const room of started) this.#rememberHeard(room, { url: urls.get(room) ?? undefined, trigger: 'reconcile' });
      this.#coordination.wake();
    } catch (error) {
      this.#lastReconcileError = errorMessage(error);
      this.#logger.warn({ err: error }, 'reconcile failed');
    }
  }

  /**
   * room.started (or an explicit attach): record the room as pending (peers are notified), then claim. The store
   * keeps the tombstone: a start of the session that ended is late, so is one inside the window when there is
   * no session id to tell them apart.
   */
  async #startPending(event: RoomStartedEvent, trigger: AttachTrigger, context: HookContext): Promise<void> {
    const room = event.roomName;
    const at = new Date(this.#clock.now());
    const tombstoneWindowMs = trigger === 'manual' ? 0 : this.#tombstoneWindowMs;
    const fresh = await retryWhileStoreDown(() => this.#rooms.markRoomStarted(room, at, tombstoneWindowMs, event.sessionId ?? null), {
      signal: context.signal,
      log: context.log,
    });
    if (!fresh) {
      context.log.info('ignored a late room.started: the room ended moments ago, or its session did');
      return;
    }
    this.#rememberHeard(room, { url: event.roomUrl, trigger });
    context.log.debug('room pending: claiming');
    this.#coordination.wake();
  }

  #rememberHeard(room: string, heard: HeardRoom): void {
    this.#heard.delete(room);
    this.#heard.set(room, heard);
    if (this.#heard.size > ROOMS_HEARD_KEPT) {
      const oldest = this.#heard.keys().next().value;
      if (oldest !== undefined) this.#heard.delete(oldest);
    }
  }

  /**
   * The one gate between a delivery's `room_url` and a dial: throws RR_ROOM_URL_REFUSED (see ./room-url-policy.ts),
   * so the hook fails with that reason logged and recorded as the delivery's outcome, before any token is minted.
   */
  #refuseForeignRoomUrl(event: { readonly roomName: string; readonly roomUrl: string | undefined }): void {
    if (event.roomUrl !== undefined) this.#roomUrlPolicy.check(event.roomUrl, event.roomName);
  }

  #attach(request: AttachRequest, context: HookContext): void {
    const result = this.attachments.attach(request);
    context.log.info({ trigger: request.trigger, result }, result === 'attaching' ? 'attaching agents' : `not attaching: ${result}`);
  }

  #platformReady(): void {
    if (this.#lastReconcileError !== null) throw new RoomrunnerError('RR_PLATFORM_UNAVAILABLE', `platform unreachable: ${this.#lastReconcileError}`);
  }

  #rememberEnded(sessionId: string): void {
    this.#endedSessions.add(sessionId);
    if (this.#endedSessions.size > ENDED_SESSIONS_KEPT) {
      const oldest = this.#endedSessions.values().next().value;
      if (oldest !== undefined) this.#endedSessions.delete(oldest);
    }
  }
}
