/**
 * RemoteTaskRunnerServer: the orchestrator as a subclassable server, shaped like MeshAgent's Python
 * `RemoteTaskRunnerServer`. A thin facade (docs/architecture.md §Composition): a {@link WebhookServer} (the
 * receiving side) whose hooks run an {@link Orchestrator} (the room side), so a subclass can still override
 * `onRoomStarted` and friends and call `super`.
 *
 *   const server = new RemoteTaskRunnerServer({ agents: [adder] });
 *   await server.run();   // until SIGINT/SIGTERM, then drain
 *
 * `createRoomrunner` (src/roomrunner.ts) composes the same two parts without the facade.
 */
import type { FastifyInstance } from 'fastify';
import type { Toolkit } from '../agents/define-agent.js';
import type { ReadinessCheck } from '../http/app.js';
import type { RoomConnectionOptions } from '../room/connection.js';
import type { EmulatorDeliveryView } from '../dashboard/plugin.js';
import { WebhookServer, type HookContext, type ServerAddress, type WebhookServerOptions } from '../server/webhook-server.js';
import type { CallEvent, RoomEndedEvent, RoomStartedEvent } from '../webhooks/events.js';
import type { Handoff } from '../webhooks/handoff.js';
import type { RetryOptions } from './attachments.js';
import { Orchestrator, type ReceivingSide } from './orchestrator.js';
import type { RoomWorkers } from './room-workers.js';

export { DEFAULT_TOMBSTONE_WINDOW_MS } from './orchestrator.js';

export interface RemoteTaskRunnerServerOptions extends WebhookServerOptions {
  /** The agents (toolkits) to host in every room. */
  readonly agents: readonly Toolkit[];
  /**
   * Picks the agents for one room; `args` are a room.call's arguments. Default: those `args.agents` names (a
   * list of agent names; an unknown name fails the call), else all.
   */
  readonly selectAgents?: (room: string, args: Record<string, unknown> | null | undefined) => readonly Toolkit[];
  /** Participant name (default ROOMRUNNER_IDENTITY or `roomrunner`). */
  readonly identity?: string;
  /** Platform base URL (default MESHAGENT_API_URL). */
  readonly apiUrl?: string;
  /** Room hosts a webhook's `room_url` may name besides the platform's origin (default ROOMRUNNER_ROOM_HOSTS). */
  readonly roomHosts?: readonly string[];
  /** Lifetime of the participant tokens minted here (default ROOMRUNNER_TOKEN_TTL_MS or 1 h). */
  readonly tokenTtlMs?: number;
  /** Hard cap on rooms (default ROOMRUNNER_MAX_ROOMS or 1000). */
  readonly maxRooms?: number;
  /** Rooms registering at once (dialing and waiting for room_ready hold no slot); more wait as `attaching` (default 256). */
  readonly maxConcurrentJoins?: number;
  /** Reconciliation period; 0 = only at start-up (default ROOMRUNNER_RECONCILE_INTERVAL_MS or 30 s). */
  readonly reconcileIntervalMs?: number;
  readonly tombstoneWindowMs?: number;
  /** Admin token for GET /status (default ROOMRUNNER_ADMIN_TOKEN; open when unset). */
  readonly adminToken?: string;
  readonly retry?: RetryOptions;
  readonly connection?: Partial<Omit<RoomConnectionOptions, 'url' | 'token' | 'onReady'>>;
  /** This replica's id (default ROOMRUNNER_REPLICA_ID, else see `defaultReplicaId`). */
  readonly replicaId?: string;
  /** Ownership lease (default ROOMRUNNER_LEASE_MS or 10 s). */
  readonly leaseMs?: number;
  /** Heartbeat period (default a quarter of the lease, at most 2.5 s). */
  readonly heartbeatIntervalMs?: number;
  /** A room whose attach fails this many times in a row here is released to a peer (default 2). */
  readonly maxAttachFailures?: number;
  /** The dashboard's extras: the emulator's delivery log (roomrunner dev). */
  readonly dashboard?: { readonly emulatorDeliveries?: () => readonly EmulatorDeliveryView[] };
  /** Run rooms and agents on these worker threads (./room-workers.ts); closed with the server. */
  readonly roomWorkers?: RoomWorkers;
}

export class RemoteTaskRunnerServer extends WebhookServer {
  /** The room side this server's hooks run. */
  readonly orchestrator: Orchestrator;
  readonly #side: ReceivingSide;

  constructor(options: RemoteTaskRunnerServerOptions) {
    super(options);
    this.orchestrator = new Orchestrator(this.config, {
      agents: options.agents,
      ...(options.selectAgents === undefined ? {} : { selectAgents: options.selectAgents }),
      store: this.store,
      logger: this.logger,
      metrics: this.metrics,
      replicaId: this.replica,
      webhookPath: this.path,
      ...(options.maxConcurrentJoins === undefined ? {} : { maxConcurrentJoins: options.maxConcurrentJoins }),
      ...(options.tombstoneWindowMs === undefined ? {} : { tombstoneWindowMs: options.tombstoneWindowMs }),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.connection === undefined ? {} : { connection: options.connection }),
      ...(options.maxAttachFailures === undefined ? {} : { maxAttachFailures: options.maxAttachFailures }),
      ...(options.dashboard === undefined ? {} : { dashboard: options.dashboard }),
      ...(options.roomWorkers === undefined ? {} : { roomWorkers: options.roomWorkers }),
      clock: this.clock,
      callAnswered: (room, event, context) => this.callAnswered(room, event, context),
    });
    this.#side = { start: () => super.start(), drain: () => super.drain(), close: () => super.close() };
  }

  /** The orchestrator's room state machines. */
  get attachments(): Orchestrator['attachments'] {
    return this.orchestrator.attachments;
  }

  /** This replica's id: in the ledger (crash recovery) and in the store's room ownership. */
  get replicaId(): string {
    return this.orchestrator.replicaId;
  }

  /** The receiving side's checks, then the orchestrator's: the platform, the replica lease, room joins. */
  protected override readinessChecks(): readonly ReadinessCheck[] {
    return [...super.readinessChecks(), ...this.orchestrator.readinessChecks];
  }

  /** GET /status, the admin room routes, the dashboard, MCP and the service descriptor. */
  protected override registerRoutes(app: FastifyInstance): void {
    super.registerRoutes(app);
    this.orchestrator.registerRoutes(app);
  }

  // --- hooks: the orchestrator's, overridable ---

  override onRoomStarted(event: RoomStartedEvent, context: HookContext): Promise<void> {
    return this.orchestrator.roomStarted(event, context);
  }

  override onRoomEnded(event: RoomEndedEvent, context: HookContext): Promise<void> {
    return this.orchestrator.roomEnded(event, context);
  }

  /**
   * `room.call`: join with the token in the payload (§A.6); `arguments.agents` may name the agents to host.
   * @throws RoomrunnerError `RR_CALL_AGENTS_UNKNOWN` (the delivery is recorded failed) for a name not hosted here.
   */
  override onCall(event: CallEvent, context: HookContext): Promise<void> {
    return this.orchestrator.call(event, context);
  }

  /** A websocket handoff of `room.call` (docs/protocol.md §A.3): the agents attach over the platform's socket. */
  protected override acceptHandoff(handoff: Handoff, context: HookContext): Promise<void> {
    return this.orchestrator.handoff(handoff, context);
  }

  // --- lifecycle: the orchestrator sequences both sides ---

  /** Starts the coordination (lease, subscription, claims), listens, then reconciles. Calling it again returns the same promise. */
  override start(): Promise<ServerAddress> {
    return this.orchestrator.start(this.#side);
  }

  /**
   * Graceful drain: readiness false and new webhooks 503 at once, no new rooms, calls in flight finish or abort
   * within the drain bound, toolkits unregistered, sockets closed with 1000.
   */
  override drain(): Promise<void> {
    return this.orchestrator.drain(this.#side);
  }

  override close(): Promise<void> {
    return this.orchestrator.close(this.#side);
  }

  /**
   * Ask the platform which rooms are active; attach the missing ones and leave those that ended. Runs at
   * start-up and every `reconcileIntervalMs`; concurrent calls share one run.
   */
  reconcile(): Promise<void> {
    return this.orchestrator.reconcile();
  }
}
