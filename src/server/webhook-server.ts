/**
 * `WebhookServer`: the receiving half, shaped like MeshAgent's Python `WebhookServer` (docs/protocol.md
 * §A.5) so the docs' example carries over:
 *
 * ```ts
 * class CustomWebhookServer extends WebhookServer {
 *   override async onRoomStarted(event: RoomStartedEvent) { console.log(`room started ${event.roomName}`); }
 *   override async onRoomEnded(event: RoomEndedEvent) { console.log(`room ended ${event.roomName}`); }
 * }
 * await new CustomWebhookServer().run();
 * ```
 *
 * Differences from Python, on purpose: hooks run after the `200` is sent (Python awaits them first, docs/protocol.md §A.5), a
 * hook's exception is logged and recorded as a failed delivery instead of a 500, deliveries are deduplicated,
 * and `run()` drains on SIGINT/SIGTERM. Lifecycle: `start()` resolves once listening; `run()` is `start()`
 * plus waiting for SIGINT/SIGTERM (or an AbortSignal), then `close()`, so it resolves when the server has
 * stopped, as Python's `run()` does.
 */
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import type { ReadinessCheck } from '../http/app.js';
import { Metrics } from '../http/metrics.js';
import { RoomConnection } from '../room/connection.js';
import { RoomClient } from '../room/room-client.js';
import { defaultReplicaId } from '../store/coordinated-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/store.js';
import { SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import { CallEvent, OtherEvent, RoomEndedEvent, RoomStartedEvent, type WebhookEvent } from '../webhooks/events.js';
import type { Handoff } from '../webhooks/handoff.js';
import type { HookOutcome } from '../webhooks/plugin.js';
import type { SignatureScheme } from '../webhooks/signatures/index.js';
import { WebhookReceiver, type HookContext, type ServerAddress } from './receiver.js';

export { assertWebhookSecret, PRUNE_INTERVAL_MS, type HookContext, type ServerAddress } from './receiver.js';

/** A hook passed as an option; it wins over the method of the same name. */
export type WebhookHook<E> = (event: E, context: HookContext) => unknown;

export interface WebhookServerOptions {
  /** Default MESHAGENT_PORT, PORT or 8080. Use 0 for any free port. */
  readonly port?: number;
  /** Default MESHAGENT_HOST or 0.0.0.0. */
  readonly host?: string;
  /** Default MESHAGENT_WEBHOOK_SECRET (comma-separated for a rotation). */
  readonly secrets?: string | readonly string[];
  /** Default ROOMRUNNER_SIGNATURE_SCHEMES or all three. */
  readonly schemes?: readonly SignatureScheme[];
  /** Default ROOMRUNNER_HMAC_HEADER or `x-meshia-signature`. */
  readonly hmacHeader?: string;
  /** Accept unsigned webhooks; local work only. Default ROOMRUNNER_INSECURE / --insecure. */
  readonly insecure?: boolean;
  /** Default ROOMRUNNER_BODY_LIMIT_BYTES or 1 MiB. */
  readonly bodyLimitBytes?: number;
  /** How long the same MeshAgent/HMAC body is a duplicate; default ROOMRUNNER_DEDUPE_WINDOW_MS or 60 s. */
  readonly dedupeWindowMs?: number;
  /**
   * How long deliveries and tombstones are kept, and a Standard Webhooks `webhook-id` is a duplicate; default
   * ROOMRUNNER_LEDGER_RETENTION_MS or 7 days.
   */
  readonly ledgerRetentionMs?: number;
  /**
   * A delivery answered 200 whose outcome is still unrecorded this long after is dispatched again (crash
   * recovery, at start-up and then this often); default ROOMRUNNER_REDISPATCH_AFTER_MS or 60 s.
   */
  readonly redispatchAfterMs?: number;
  /** This process's replica id in the ledger (default ROOMRUNNER_REPLICA_ID, else one per host for PGlite). */
  readonly replicaId?: string;
  /** Standard Webhooks tolerance, default 300 s. */
  readonly toleranceSeconds?: number;
  /** Bound on waiting for running hooks at close(); default ROOMRUNNER_DRAIN_TIMEOUT_MS or 10 s. */
  readonly drainTimeoutMs?: number;
  /** Webhook route path, default `/webhook`. */
  readonly path?: string;
  /** Default: a new {@link MemoryStore}, closed with the server. A store passed in is left open. */
  readonly store?: Store;
  /** Default: a pino logger at LOG_LEVEL. */
  readonly logger?: Logger;
  /** Default: a new {@link Metrics}. */
  readonly metrics?: Metrics;
  /** Collect Node's default metrics in a metrics registry the server creates. Default true. */
  readonly defaultMetrics?: boolean;
  /** Enables the admin API and guards it (default ROOMRUNNER_ADMIN_TOKEN; off when unset). */
  readonly adminToken?: string;
  /** Extra readiness checks (the platform, ...); the store's ping is always one. */
  readonly readinessChecks?: readonly ReadinessCheck[];
  readonly onRoomStarted?: WebhookHook<RoomStartedEvent>;
  readonly onRoomEnded?: WebhookHook<RoomEndedEvent>;
  readonly onCall?: WebhookHook<CallEvent>;
  /** After a websocket handoff: the room client on the platform's socket, ready (Python's `on_call_answered`). */
  readonly onCallAnswered?: (room: RoomClient, event: CallEvent, context: HookContext) => unknown;
  /** Catch-all for events without a named hook (storage events, custom events). */
  readonly onEvent?: WebhookHook<OtherEvent>;
  /** Where unset options come from; default `loadConfig()` (env vars). */
  readonly config?: Config;
  /**
   * Time for everything here (docs/architecture.md §Style 2): signature tolerance, ledger times, the prune and
   * redispatch periods, the drain bound; the default MemoryStore's clock. Default {@link SYSTEM_CLOCK}.
   */
  readonly clock?: Clock;
}

export interface RunOptions {
  /** Stop (and resolve) when this aborts, besides SIGINT/SIGTERM. */
  readonly signal?: AbortSignal;
  /** Listen for SIGINT/SIGTERM; default true. */
  readonly handleSignals?: boolean;
}

type HookName = 'onRoomStarted' | 'onRoomEnded' | 'onCall' | 'onEvent';

/** The options that set a setting of the configuration, by the setting they set. */
const OPTION_SETTINGS = {
  port: 'port',
  host: 'host',
  secrets: 'webhookSecrets',
  schemes: 'signatureSchemes',
  hmacHeader: 'hmacHeader',
  insecure: 'insecure',
  bodyLimitBytes: 'bodyLimitBytes',
  dedupeWindowMs: 'dedupeWindowMs',
  ledgerRetentionMs: 'ledgerRetentionMs',
  redispatchAfterMs: 'redispatchAfterMs',
  replicaId: 'replicaId',
  drainTimeoutMs: 'drainTimeoutMs',
  adminToken: 'adminToken',
  // RemoteTaskRunnerServer's
  identity: 'identity',
  apiUrl: 'apiUrl',
  roomHosts: 'roomHosts',
  tokenTtlMs: 'tokenTtlMs',
  maxRooms: 'maxRooms',
  reconcileIntervalMs: 'reconcileIntervalMs',
  leaseMs: 'leaseMs',
  heartbeatIntervalMs: 'heartbeatIntervalMs',
} as const satisfies Record<string, keyof Config>;

/**
 * The configuration with the options given on top (options win): what the server and, for
 * `RemoteTaskRunnerServer`, the orchestrator read. An option that is `undefined` leaves its setting alone.
 */
export function configWithOptions(config: Config, options: Readonly<Partial<Record<keyof typeof OPTION_SETTINGS, unknown>>>): Config {
  const given: Record<string, unknown> = {};
  for (const [option, key] of Object.entries(OPTION_SETTINGS)) {
    const value = (options as Record<string, unknown>)[option];
    if (value !== undefined) given[key] = value;
  }
  if (typeof given.webhookSecrets === 'string') given.webhookSecrets = [given.webhookSecrets];
  return Object.freeze({ ...config, ...given }) as Config;
}

/** A webhook receiver with overridable hooks. See the module comment for the example. */
export class WebhookServer {
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly path: string;
  /** The settings this server runs with: the configuration with the options on top. */
  protected readonly config: Config;
  /** The receiving machinery (HTTP app, ledger, handoffs, pruning, redispatch); this class adds the hooks. */
  protected readonly receiver: WebhookReceiver;
  /** The clock every part of the server reads (`options.clock`); subclasses pass it to theirs. */
  protected readonly clock: Clock;
  /** This process's replica id in the ledger (option, ROOMRUNNER_REPLICA_ID, else {@link defaultReplicaId}). */
  protected readonly replica: string;
  readonly #options: WebhookServerOptions;
  readonly #handoffRooms = new Set<RoomConnection>();
  #stopRun: (() => void) | undefined;

  /**
   * @throws RoomrunnerError `RR_CONFIG_NO_WEBHOOK_SECRET` when there is no secret and `insecure` is not set;
   *   `RR_CONFIG_INVALID` for a bad env var (from `loadConfig`) or an empty `schemes`.
   */
  constructor(options: WebhookServerOptions = {}) {
    const config = configWithOptions(options.config ?? loadConfig(), options);
    this.#options = options;
    this.config = config;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    const clock = this.clock;
    this.logger =
      options.logger ?? createLogger({ level: config.logLevel, name: 'roomrunner', ...(config.logPretty === undefined ? {} : { pretty: config.logPretty }) });
    this.metrics = options.metrics ?? new Metrics({ defaultMetrics: options.defaultMetrics ?? true });
    this.store = options.store ?? new MemoryStore({ now: () => clock.now() });
    this.replica = config.replicaId ?? defaultReplicaId((this.store as { engine?: string }).engine);
    this.receiver = new WebhookReceiver(config, {
      store: this.store,
      ownsStore: options.store === undefined,
      logger: this.logger,
      metrics: this.metrics,
      replicaId: this.replica,
      ...(options.path === undefined ? {} : { path: options.path }),
      ...(options.toleranceSeconds === undefined ? {} : { toleranceSeconds: options.toleranceSeconds }),
      clock,
      readinessChecks: () => this.readinessChecks(),
      routes: (app) => this.registerRoutes(app),
      dispatch: (event, context) => this.#dispatch(event, context),
      handoff: (handoff, context) => this.acceptHandoff(handoff, context),
      beforeClose: async () => {
        await Promise.all([...this.#handoffRooms].map((room) => room.close(1000, 'the webhook server is shutting down')));
      },
    });
    this.path = this.receiver.path;
  }

  // --- hooks: override in a subclass, or pass as options (options win) ---

  /** `room.started`. The base does nothing (the delivery is recorded as `ignored`). */
  async onRoomStarted(_event: RoomStartedEvent, _context: HookContext): Promise<void> {}

  /** `room.ended`. The base does nothing. */
  async onRoomEnded(_event: RoomEndedEvent, _context: HookContext): Promise<void> {}

  /** `room.call`: join `event.roomUrl` with `event.token`. The base does nothing. */
  async onCall(_event: CallEvent, _context: HookContext): Promise<void> {}

  /**
   * After a websocket handoff (docs/protocol.md §A.3): `room` is a room client on the socket the platform
   * opened, past `room_ready`/`connected`. The room is left when the platform closes the socket (no reconnect).
   * The base does nothing; `onCall` does not run for a handoff.
   */
  async onCallAnswered(_room: RoomClient, _event: CallEvent, _context: HookContext): Promise<void> {}

  /** Any other event (not pings: those are answered and dropped). The base does nothing. */
  async onEvent(_event: OtherEvent, _context: HookContext): Promise<void> {}

  /** Readiness checks besides the store's ping and the lifecycle; read once, when the app is built. */
  protected readinessChecks(): readonly ReadinessCheck[] {
    return this.#options.readinessChecks ?? [];
  }

  /** More routes on the app, registered once when it is built (before it listens). The base adds none. */
  protected registerRoutes(_app: FastifyInstance): void {}

  // --- lifecycle ---

  /**
   * The fastify app (built once; the same instance on every call). It never listens by itself: use it with
   * `inject()`, or call `start()`.
   */
  buildApp(): FastifyInstance {
    return this.receiver.app;
  }

  /**
   * Listens and resolves with the address once listening (calling it again returns the same promise).
   * @throws RoomrunnerError `RR_WEBHOOK_SERVER_CLOSED` after `close()`.
   */
  start(): Promise<ServerAddress> {
    return this.receiver.start();
  }

  /**
   * Starts, then waits for SIGINT/SIGTERM (or `options.signal`, or `close()`), then closes. Resolves once the
   * server has stopped, like Python's `await server.run()`.
   */
  async run(options: RunOptions = {}): Promise<void> {
    await this.start();
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const onSignal = (signal: NodeJS.Signals): void => {
      this.logger.info({ signal }, 'shutting down');
      stop();
    };
    const handleSignals = options.handleSignals ?? true;
    if (handleSignals) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    options.signal?.addEventListener('abort', stop, { once: true });
    this.#stopRun = stop;
    if (options.signal?.aborted === true || this.receiver.closing) stop();
    try {
      await stopped;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      options.signal?.removeEventListener('abort', stop);
      this.#stopRun = undefined;
    }
    await this.close();
  }

  /**
   * Stops taking deliveries (readiness turns false and new webhooks get 503 at once), then waits up to the
   * drain bound for running hooks. Idempotent.
   */
  drain(): Promise<void> {
    return this.receiver.drain();
  }

  /** Drains, closes the HTTP server, aborts hooks still running, and closes a store it created. Idempotent. */
  close(): Promise<void> {
    const closing = this.receiver.close();
    this.#stopRun?.();
    return closing;
  }

  /** Resolves when no dispatched hook is running. */
  idle(): Promise<void> {
    return this.receiver.idle();
  }

  /** Where the server listens, once `start()` has resolved. */
  get address(): ServerAddress | undefined {
    return this.receiver.address;
  }

  /** Runs the crash-recovery sweep now (it also runs at start-up and periodically); resolves with how many it dispatched. */
  redispatchPending(): Promise<number> {
    return this.receiver.redispatchPending();
  }

  /**
   * Delete what is past keeping: deliveries older than the ledger retention (7 days by default), and, on a store
   * that coordinates rooms, tombstones and dead replicas older than that too. Runs at start-up and hourly.
   * Resolves with what was removed; a failing store is logged, never thrown.
   */
  prune(): Promise<{ deliveries: number; rooms: number; replicas: number }> {
    return this.receiver.prune();
  }

  /**
   * Take a verified websocket handoff. The base joins the room as the protocol's client on the platform's socket
   * (no reconnect), runs {@link onCallAnswered}, and stays until the platform closes the socket or the server
   * closes. Subclasses that host the room elsewhere (the orchestrator) override this; they must close
   * `handoff.socket` when they do not take it.
   */
  protected async acceptHandoff(handoff: Handoff, context: HookContext): Promise<void> {
    const { event } = handoff;
    const connection = new RoomConnection({ url: event.roomUrl, token: event.token, dial: handoff.dial, reconnect: false, logger: this.logger });
    this.#handoffRooms.add(connection);
    try {
      await connection.start(context.signal);
      await this.callAnswered(new RoomClient(connection), event, context);
      await connection.closed;
    } finally {
      this.#handoffRooms.delete(connection);
      await connection.close(1000, 'leaving the room');
    }
  }

  /** Run the `onCallAnswered` hook (the option wins over the method). */
  protected async callAnswered(room: RoomClient, event: CallEvent, context: HookContext): Promise<void> {
    const passed = this.#options.onCallAnswered;
    if (passed !== undefined) await passed.call(this, room, event, context);
    else await this.onCallAnswered(room, event, context);
  }

  async #dispatch(event: WebhookEvent, context: HookContext): Promise<HookOutcome> {
    if (event instanceof RoomStartedEvent) return this.#invoke('onRoomStarted', event, context);
    if (event instanceof RoomEndedEvent) return this.#invoke('onRoomEnded', event, context);
    if (event instanceof CallEvent) return this.#invoke('onCall', event, context);
    if (event instanceof OtherEvent) return this.#invoke('onEvent', event, context);
    return 'ignored';
  }

  async #invoke<E extends WebhookEvent>(name: HookName, event: E, context: HookContext): Promise<HookOutcome> {
    const passed = this.#options[name] as WebhookHook<E> | undefined;
    if (passed !== undefined) {
      await passed.call(this, event, context);
      return 'processed';
    }
    const method = this[name] as (event: E, context: HookContext) => Promise<void>;
    // The base methods do nothing: say so in the ledger rather than claim the event was processed.
    if (method === WebhookServer.prototype[name]) return 'ignored';
    await method.call(this, event, context);
    return 'processed';
  }
}
