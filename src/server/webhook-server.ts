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
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { httpLimits, loadConfig, type Config } from '../config.js';
import { RoomrunnerError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { registerAdminRoutes } from '../http/admin.js';
import { buildApp, type ReadinessCheck } from '../http/app.js';
import type { HttpServerLimits } from '../http/server-limits.js';
import { Metrics } from '../http/metrics.js';
import { RoomConnection } from '../room/connection.js';
import { RoomClient } from '../room/room-client.js';
import { defaultReplicaId } from '../store/coordinated-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/store.js';
import { every, SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import { InFlight } from '../util/in-flight.js';
import { CallEvent, OtherEvent, RoomEndedEvent, RoomStartedEvent, type WebhookEvent } from '../webhooks/events.js';
import { listenForHandoffs, type Handoff } from '../webhooks/handoff.js';
import { DEFAULT_WEBHOOK_PATH, webhookPlugin, type DeliveryInfo, type HookOutcome } from '../webhooks/plugin.js';
import { parseWebhookBody, WebhookVerifier } from '../webhooks/receive.js';
import { PendingRedispatcher } from '../webhooks/redispatch.js';
import { runDelivery } from '../webhooks/run-delivery.js';
import type { SignatureScheme } from '../webhooks/signatures/index.js';

/** What a hook gets besides its event. */
export interface HookContext {
  /** The ledger key of this delivery (dedupe key). */
  readonly deliveryKey: string;
  /** A logger carrying the delivery key, event and room. */
  readonly log: Logger;
  /** Aborted when the server closes and the drain bound has passed: stop work then. */
  readonly signal: AbortSignal;
}

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

/** Where the server listens. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  /** `http://<host>:<port>` */
  readonly url: string;
}

export interface RunOptions {
  /** Stop (and resolve) when this aborts, besides SIGINT/SIGTERM. */
  readonly signal?: AbortSignal;
  /** Listen for SIGINT/SIGTERM; default true. */
  readonly handleSignals?: boolean;
}

type Phase = 'new' | 'starting' | 'listening' | 'draining' | 'closed';
type HookName = 'onRoomStarted' | 'onRoomEnded' | 'onCall' | 'onEvent';

/**
 * Refuse to run without a webhook secret unless `insecure` (§A.5: verification is on by default).
 * @throws RoomrunnerError `RR_CONFIG_NO_WEBHOOK_SECRET` naming the env var, the flag and the option.
 */
export function assertWebhookSecret(secrets: readonly string[], insecure: boolean): void {
  if (secrets.some((secret) => secret !== '') || insecure) return;
  throw new RoomrunnerError(
    'RR_CONFIG_NO_WEBHOOK_SECRET',
    'no webhook secret: set MESHAGENT_WEBHOOK_SECRET (or --webhook-secret, or the `secrets` option), or pass --insecure (`insecure: true`) to accept unsigned webhooks during local work',
  );
}

/** How often old deliveries and tombstones are pruned. */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** A webhook receiver with overridable hooks. See the module comment for the example. */
export class WebhookServer {
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly path: string;
  /** The clock every part of the server reads (`options.clock`); subclasses pass it to theirs. */
  protected readonly clock: Clock;

  readonly #options: WebhookServerOptions;
  readonly #port: number;
  readonly #host: string;
  readonly #secrets: readonly string[];
  readonly #schemes: readonly SignatureScheme[];
  readonly #hmacHeader: string;
  readonly #insecure: boolean;
  readonly #bodyLimitBytes: number;
  readonly #httpLimits: HttpServerLimits;
  readonly #dedupeWindowMs: number;
  readonly #ledgerRetentionMs: number;
  readonly #redispatchAfterMs: number;
  readonly #replicaId: string;
  #redispatcher: PendingRedispatcher | undefined;
  readonly #drainTimeoutMs: number;
  readonly #adminToken: string | undefined;
  #stopPruning: (() => void) | undefined;
  readonly #ownsStore: boolean;
  readonly #work = new InFlight();
  readonly #abort = new AbortController();
  #phase: Phase = 'new';
  #app: FastifyInstance | undefined;
  #address: ServerAddress | undefined;
  #starting: Promise<ServerAddress> | undefined;
  #closing: Promise<void> | undefined;
  #draining: Promise<void> | undefined;
  #stopRun: (() => void) | undefined;
  #stopHandoffs: (() => void) | undefined;
  readonly #handoffRooms = new Set<RoomConnection>();
  /** `clock.now`, for the parts that take only wall time. */
  readonly #now = (): number => this.clock.now();

  /**
   * @throws RoomrunnerError `RR_CONFIG_NO_WEBHOOK_SECRET` when there is no secret and `insecure` is not set;
   *   `RR_CONFIG_INVALID` for a bad env var (from `loadConfig`) or an empty `schemes`.
   */
  constructor(options: WebhookServerOptions = {}) {
    const config = options.config ?? loadConfig();
    this.#options = options;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.#port = options.port ?? config.port;
    this.#host = options.host ?? config.host;
    const secrets = options.secrets ?? config.webhookSecrets;
    this.#secrets = (typeof secrets === 'string' ? [secrets] : [...secrets]).filter((secret) => secret !== '');
    this.#schemes = [...(options.schemes ?? config.signatureSchemes)];
    this.#hmacHeader = options.hmacHeader ?? config.hmacHeader;
    this.#insecure = options.insecure ?? config.insecure;
    this.#bodyLimitBytes = options.bodyLimitBytes ?? config.bodyLimitBytes;
    this.#dedupeWindowMs = options.dedupeWindowMs ?? config.dedupeWindowMs;
    this.#ledgerRetentionMs = options.ledgerRetentionMs ?? config.ledgerRetentionMs;
    this.#redispatchAfterMs = options.redispatchAfterMs ?? config.redispatchAfterMs;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? config.drainTimeoutMs;
    this.#adminToken = options.adminToken ?? config.adminToken;
    this.#httpLimits = httpLimits(config);
    this.path = options.path ?? DEFAULT_WEBHOOK_PATH;
    assertWebhookSecret(this.#secrets, this.#insecure);
    if (this.#schemes.length === 0) {
      throw new RoomrunnerError('RR_CONFIG_INVALID', 'no signature scheme: set ROOMRUNNER_SIGNATURE_SCHEMES / --signature-schemes (or the `schemes` option)');
    }
    this.logger =
      options.logger ?? createLogger({ level: config.logLevel, name: 'roomrunner', ...(config.logPretty === undefined ? {} : { pretty: config.logPretty }) });
    this.metrics = options.metrics ?? new Metrics({ defaultMetrics: options.defaultMetrics ?? true });
    this.#ownsStore = options.store === undefined;
    this.store = options.store ?? new MemoryStore({ now: this.#now });
    this.#replicaId = options.replicaId ?? config.replicaId ?? defaultReplicaId((this.store as { engine?: string }).engine);
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

  // --- lifecycle ---

  /**
   * The fastify app (built once; the same instance on every call). It never listens by itself: use it with
   * `inject()`, or call `start()`.
   */
  buildApp(): FastifyInstance {
    if (this.#app) return this.#app;
    this.#app = buildApp({
      logger: this.logger,
      metrics: this.metrics,
      store: this.store,
      lifecycle: () => this.#lifecycleReasons(),
      readinessChecks: this.#options.readinessChecks ?? [],
      limits: this.#httpLimits,
    });
    void this.#app.register(webhookPlugin, {
      logger: this.logger,
      metrics: this.metrics,
      path: this.path,
      secrets: this.#secrets,
      schemes: this.#schemes,
      hmacHeader: this.#hmacHeader,
      insecure: this.#insecure,
      bodyLimitBytes: this.#bodyLimitBytes,
      dedupeWindowMs: this.#dedupeWindowMs,
      deliveryIdWindowMs: this.#ledgerRetentionMs,
      redispatchAfterMs: this.#redispatchAfterMs,
      replicaId: this.#replicaId,
      ...(this.#options.toleranceSeconds === undefined ? {} : { toleranceSeconds: this.#options.toleranceSeconds }),
      now: this.#now,
      store: this.store,
      work: this.#work,
      accepting: () => this.#phase !== 'draining' && this.#phase !== 'closed',
      dispatch: (event, info) => this.#dispatch(event, info),
      signal: this.#abort.signal,
    });
    this.#stopHandoffs = listenForHandoffs(this.#app.server, {
      path: this.path,
      verifier: new WebhookVerifier({
        secrets: this.#secrets,
        schemes: this.#schemes,
        hmacHeader: this.#hmacHeader,
        insecure: this.#insecure,
        ...(this.#options.toleranceSeconds === undefined ? {} : { toleranceSeconds: this.#options.toleranceSeconds }),
      }),
      logger: this.logger,
      metrics: this.metrics,
      accepting: () => this.#phase !== 'draining' && this.#phase !== 'closed',
      now: this.#now,
      onHandoff: (handoff) => this.#handoff(handoff),
    });
    registerAdminRoutes(this.#app, {
      store: this.store,
      adminToken: this.#options.adminToken ?? this.#adminToken,
      replay: async (record) => this.#replay(parseWebhookBody(Buffer.from(record.body, 'utf8')), record.key),
    });
    return this.#app;
  }

  /**
   * Listens and resolves with the address once listening (calling it again returns the same promise).
   * @throws RoomrunnerError `RR_WEBHOOK_SERVER_CLOSED` after `close()`.
   */
  start(): Promise<ServerAddress> {
    if (this.#closing !== undefined) {
      return Promise.reject(new RoomrunnerError('RR_WEBHOOK_SERVER_CLOSED', 'this WebhookServer is closed; create a new one'));
    }
    this.#starting ??= this.#listen();
    return this.#starting;
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
    if (options.signal?.aborted === true || this.#closing !== undefined) stop();
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
    if (this.#phase !== 'closed') this.#phase = 'draining';
    void this.#redispatcher?.close();
    this.#draining ??= this.#waitForHooks();
    return this.#draining;
  }

  /** Drains, closes the HTTP server, aborts hooks still running, and closes a store it created. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    this.#stopRun?.();
    return this.#closing;
  }

  /** Resolves when no dispatched hook is running. */
  idle(): Promise<void> {
    return this.#work.idle();
  }

  /** Where the server listens, once `start()` has resolved. */
  get address(): ServerAddress | undefined {
    return this.#address;
  }

  async #listen(): Promise<ServerAddress> {
    this.#phase = 'starting';
    const app = this.buildApp();
    if (this.#insecure) this.logger.warn('accepting unsigned webhooks (--insecure): for local work only');
    await app.listen({ port: this.#port, host: this.#host });
    const bound = app.server.address() as AddressInfo;
    const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    this.#address = { host: bound.address, port: bound.port, url: `http://${host}:${bound.port}` };
    if (this.#phase === 'starting') this.#phase = 'listening';
    this.logger.info({ url: this.#address.url, path: this.path, schemes: this.#schemes }, 'webhook server listening');
    void this.prune();
    this.#stopPruning = every(this.clock, PRUNE_INTERVAL_MS, () => void this.prune());
    if (this.#phase === 'listening') this.#startRedispatch();
    return this.#address;
  }

  /** Crash recovery: run the hooks of deliveries answered 200 whose outcome never got recorded (redispatch.ts). */
  #startRedispatch(): void {
    const now = this.#now;
    this.#redispatcher = new PendingRedispatcher({
      store: this.store,
      replicaId: this.#replicaId,
      afterMs: this.#redispatchAfterMs,
      logger: this.logger,
      clock: this.clock,
      running: () => this.#work.keys(),
      run: async (event, record) => {
        const log = this.logger.child({ key: record.key, event: record.event, room: record.room, redispatch: true });
        const running = runDelivery(event, record.key, log, {
          store: this.store,
          dispatch: (e, info) => this.#dispatch(e, info),
          metrics: this.metrics,
          now,
          signal: this.#abort.signal,
        });
        this.#work.track(
          running.then(() => undefined),
          record.key,
        );
        await running;
      },
    });
    this.#redispatcher.start();
  }

  /** Runs the crash-recovery sweep now (it also runs at start-up and periodically); resolves with how many it dispatched. */
  redispatchPending(): Promise<number> {
    return this.#redispatcher?.sweep() ?? Promise.resolve(0);
  }

  /**
   * Delete what is past keeping: deliveries older than the ledger retention (7 days by default), and, on a store
   * that coordinates rooms, tombstones and dead replicas older than that too. Runs at start-up and hourly.
   * Resolves with what was removed; a failing store is logged, never thrown.
   */
  async prune(): Promise<{ deliveries: number; rooms: number; replicas: number }> {
    const removed = { deliveries: 0, rooms: 0, replicas: 0 };
    const before = new Date(this.clock.now() - this.#ledgerRetentionMs);
    const store = this.store as Store & { pruneRooms?: (endedBefore: Date) => Promise<number>; pruneReplicas?: (expiredForMs: number) => Promise<number> };
    try {
      removed.deliveries = await store.pruneDeliveries(before);
      if (typeof store.pruneRooms === 'function') removed.rooms = await store.pruneRooms(before);
      if (typeof store.pruneReplicas === 'function') removed.replicas = await store.pruneReplicas(this.#ledgerRetentionMs);
      if (removed.deliveries + removed.rooms + removed.replicas > 0) this.logger.info(removed, 'pruned old deliveries and tombstones');
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'prune failed: the store is unavailable');
    }
    return removed;
  }

  async #shutdown(): Promise<void> {
    // Let a start() in progress finish, so that the listening socket gets closed too.
    await this.#starting?.catch(() => undefined);
    await this.drain();
    this.#stopPruning?.();
    this.#phase = 'closed';
    this.#abort.abort(new RoomrunnerError('RR_WEBHOOK_SERVER_CLOSED', 'the webhook server closed'));
    this.#stopHandoffs?.();
    await Promise.all([...this.#handoffRooms].map((room) => room.close(1000, 'the webhook server is shutting down')));
    await this.#app?.close();
    if (this.#ownsStore) await this.store.close();
    if (this.#address !== undefined) this.logger.info('webhook server closed');
  }

  async #waitForHooks(): Promise<void> {
    if (this.#work.size === 0) return;
    this.logger.info({ running: this.#work.size }, 'draining: waiting for running hooks');
    let timer: unknown;
    const bound = new Promise<'timeout'>((resolve) => {
      timer = this.clock.setTimeout(() => resolve('timeout'), this.#drainTimeoutMs);
    });
    const outcome = await Promise.race([this.#work.idle().then(() => 'idle' as const), bound]);
    this.clock.clearTimeout(timer);
    if (outcome === 'timeout')
      this.logger.warn({ running: this.#work.size, drainTimeoutMs: this.#drainTimeoutMs }, 'drain bound reached with hooks still running');
  }

  #lifecycleReasons(): string[] {
    switch (this.#phase) {
      case 'draining':
        return ['draining'];
      case 'closed':
        return ['closed'];
      default:
        return [];
    }
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

  #handoff(handoff: Handoff): void {
    const log = this.logger.child({ key: handoff.deliveryKey, event: handoff.event.event, room: handoff.event.roomName });
    const context: HookContext = { deliveryKey: handoff.deliveryKey, log, signal: this.#abort.signal };
    this.acceptHandoff(handoff, context).catch((err: unknown) => {
      log.error({ err }, 'webhook handoff failed');
      handoff.socket.close(1011, 'handoff failed');
    });
  }

  /** Run a stored delivery's hook again (admin replay) and record the outcome. */
  async #replay(event: WebhookEvent, key: string): Promise<HookOutcome | 'failed'> {
    const log = this.logger.child({ key, event: event.event, replay: true });
    let result: HookOutcome | 'failed';
    let error: string | null = null;
    try {
      result = await this.#dispatch(event, { deliveryKey: key, log });
    } catch (err) {
      result = 'failed';
      error = err instanceof Error ? err.message : String(err);
      log.error({ err: error }, 'replayed webhook hook failed');
    }
    await this.store.finishDelivery(key, result, error);
    log.info({ result }, 'webhook replayed');
    return result;
  }

  async #dispatch(event: WebhookEvent, info: DeliveryInfo): Promise<HookOutcome> {
    const context: HookContext = { deliveryKey: info.deliveryKey, log: info.log, signal: this.#abort.signal };
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
