/**
 * The composition root (docs/architecture.md §Composition): `createRoomrunner(config, parts)` builds the two
 * sides of roomrunner and wires them through one narrow interface, nothing else.
 *
 *   receiving side (server/receiver.ts)            room side (orchestrator/orchestrator.ts)
 *   HTTP app, webhook route, handoffs,   dispatch(event, context) ──▶  room state, coordination, joins,
 *   ledger, pruning, redispatch          handoff(handoff, context) ─▶  agents, reconcile, routes
 *                                        ◀── readiness checks, routes
 *
 * The orchestrator sequences the lifecycle: coordination first, then the receiving side listens; a drain stops
 * both (rooms handed to peers while running hooks finish); close releases the lease, then stops listening.
 * Nothing here reads the environment: the CLI builds the `Config` (`loadConfig(flags, process.env)`) and
 * passes it in. The subclassable `WebhookServer` and `RemoteTaskRunnerServer` are facades over the same parts.
 */
import type { FastifyInstance } from 'fastify';
import type { Toolkit } from './agents/define-agent.js';
import type { Config } from './config.js';
import { Metrics } from './http/metrics.js';
import { createLogger, type Logger } from './logger.js';
import { Orchestrator, type OrchestratorParts } from './orchestrator/orchestrator.js';
import { WebhookReceiver, type ServerAddress } from './server/receiver.js';
import { defaultReplicaId } from './store/coordinated-store.js';
import { MemoryStore } from './store/memory-store.js';
import type { Store } from './store/store.js';
import { SYSTEM_CLOCK, type Clock } from './util/clock.js';

export interface RoomrunnerParts
  extends Partial<
    Pick<
      OrchestratorParts,
      'selectAgents' | 'maxConcurrentJoins' | 'tombstoneWindowMs' | 'retry' | 'connection' | 'maxAttachFailures' | 'dashboard' | 'roomWorkers'
    >
  > {
  /** The agents (toolkits) to host in every room. */
  readonly agents: readonly Toolkit[];
  /** Default: a new {@link MemoryStore}, closed with the roomrunner. A store passed in is left open. */
  readonly store?: Store;
  /** Default: a pino logger at the configured level. */
  readonly logger?: Logger;
  /** Default: a new {@link Metrics} registry with Node's default metrics. */
  readonly metrics?: Metrics;
  /** Webhook route path, default `/webhook`. */
  readonly path?: string;
  /** Time for both sides (docs/architecture.md §Style 2); default {@link SYSTEM_CLOCK}. */
  readonly clock?: Clock;
}

/** A composed roomrunner: both sides, and the lifecycle over them. */
export interface Roomrunner {
  readonly config: Config;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly receiver: WebhookReceiver;
  readonly orchestrator: Orchestrator;
  /** The fastify app (built once; `inject()` works without listening). */
  readonly app: FastifyInstance;
  /** Where it listens, once `start()` has resolved. */
  readonly address: ServerAddress | undefined;
  /** Coordination, then listening, then reconciliation. Calling it again returns the same promise. */
  start(): Promise<ServerAddress>;
  /** Readiness false and new webhooks 503 at once; rooms handed over or left within the drain bound. Idempotent. */
  drain(): Promise<void>;
  /** Drains, releases the lease, stops listening and closes a store it made. Idempotent. */
  close(): Promise<void>;
}

/**
 * Compose roomrunner from a configuration and its parts.
 * @throws RoomrunnerError as the sides do: `RR_CONFIG_NO_WEBHOOK_SECRET`, `RR_CONFIG_INVALID`,
 *   `RR_AGENT_DEFINITION_INVALID`, `RR_CONFIG_MCP_NO_TOKEN`.
 */
export function createRoomrunner(config: Config, parts: RoomrunnerParts): Roomrunner {
  const logger =
    parts.logger ?? createLogger({ level: config.logLevel, name: 'roomrunner', ...(config.logPretty === undefined ? {} : { pretty: config.logPretty }) });
  const metrics = parts.metrics ?? new Metrics({ defaultMetrics: true });
  const clock = parts.clock ?? SYSTEM_CLOCK;
  const store = parts.store ?? new MemoryStore({ now: () => clock.now() });
  const replicaId = config.replicaId ?? defaultReplicaId((store as { engine?: string }).engine);
  const { agents, store: _store, logger: _logger, metrics: _metrics, path, clock: _clock, ...roomParts } = parts;
  // The receiver calls into the orchestrator only once both exist (dispatch, handoffs, routes and checks run
  // when the app is built or a delivery arrives): its functions name the orchestrator made right after it.
  const receiver: WebhookReceiver = new WebhookReceiver(config, {
    store,
    ownsStore: parts.store === undefined,
    logger,
    metrics,
    replicaId,
    clock,
    ...(path === undefined ? {} : { path }),
    readinessChecks: () => orchestrator.readinessChecks,
    routes: (app) => orchestrator.registerRoutes(app),
    dispatch: (event, context) => orchestrator.dispatch(event, context),
    handoff: (handoff, context) => orchestrator.handoff(handoff, context),
  });
  const orchestrator: Orchestrator = new Orchestrator(config, { ...roomParts, agents, store, logger, metrics, replicaId, clock, webhookPath: receiver.path });
  const side = { start: () => receiver.start(), drain: () => receiver.drain(), close: () => receiver.close() };
  return {
    config,
    store,
    logger,
    metrics,
    receiver,
    orchestrator,
    get app() {
      return receiver.app;
    },
    get address() {
      return receiver.address;
    },
    start: () => orchestrator.start(side),
    drain: () => orchestrator.drain(side),
    close: () => orchestrator.close(side),
  };
}
