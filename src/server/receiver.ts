/**
 * The receiving side of roomrunner (docs/architecture.md §Composition): the HTTP app with the webhook route, the
 * websocket handoff and the admin API over the ledger; listening, draining and closing; pruning the ledger and
 * redispatching deliveries a crash left pending. What an event *does* is not its business: every verified,
 * recorded delivery goes to {@link ReceiverParts.dispatch} after its answer, and every verified handoff to
 * {@link ReceiverParts.handoff}. The subclassable `WebhookServer` and `createRoomrunner` both build one.
 *
 * It takes its settings as a `Config` (explicit: it never reads the environment) and its collaborators as parts.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { httpLimits, type Config } from '../config.js';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { registerAdminRoutes } from '../http/admin.js';
import { buildApp, type ReadinessCheck } from '../http/app.js';
import type { Metrics } from '../http/metrics.js';
import type { Store } from '../store/store.js';
import { every, SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import { InFlight } from '../util/in-flight.js';
import { errorMessage } from '../util/error-message.js';
import type { WebhookEvent } from '../webhooks/events.js';
import { listenForHandoffs, type Handoff } from '../webhooks/handoff.js';
import { DEFAULT_WEBHOOK_PATH, webhookPlugin, type DeliveryInfo, type HookOutcome } from '../webhooks/plugin.js';
import { parseWebhookBody, WebhookVerifier } from '../webhooks/receive.js';
import { PendingRedispatcher } from '../webhooks/redispatch.js';
import { runDelivery } from '../webhooks/run-delivery.js';

/** What a hook gets besides its event. */
export interface HookContext {
  /** The ledger key of this delivery (dedupe key). */
  readonly deliveryKey: string;
  /** A logger carrying the delivery key, event and room. */
  readonly log: Logger;
  /** Aborted when the server closes and the drain bound has passed: stop work then. */
  readonly signal: AbortSignal;
}

/** Runs a delivery's event after its answer; resolves with what the ledger records. */
export type Dispatch = (event: WebhookEvent, context: HookContext) => Promise<HookOutcome>;

/** Where the server listens. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  /** `http://<host>:<port>` */
  readonly url: string;
}

/** How often old deliveries and tombstones are pruned. */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** The settings a receiver reads from the configuration (the rest of a `Config` is the room side's). */
export type ReceiverConfig = Pick<
  Config,
  | 'port'
  | 'host'
  | 'webhookSecrets'
  | 'signatureSchemes'
  | 'hmacHeader'
  | 'insecure'
  | 'bodyLimitBytes'
  | 'dedupeWindowMs'
  | 'ledgerRetentionMs'
  | 'redispatchAfterMs'
  | 'drainTimeoutMs'
  | 'adminToken'
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'idleTimeoutMs'
  | 'keepAliveTimeoutMs'
  | 'maxRequestsPerSocket'
  | 'maxConnections'
>;

export interface ReceiverParts {
  readonly store: Store;
  /** Close the store with the receiver (it was made for it). */
  readonly ownsStore: boolean;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** This process's replica id in the ledger (crash recovery claims its own pending deliveries). */
  readonly replicaId: string;
  /** Webhook route path, default `/webhook`. */
  readonly path?: string;
  /** Standard Webhooks tolerance, default 300 s. */
  readonly toleranceSeconds?: number;
  /**
   * Time for everything here (docs/architecture.md §Style 2): signature tolerance, ledger times, the prune and
   * redispatch periods, the drain bound. Default {@link SYSTEM_CLOCK}.
   */
  readonly clock?: Clock;
  /** Readiness checks besides the store's ping and the lifecycle (a function: read when the app is built). */
  readonly readinessChecks?: readonly ReadinessCheck[] | (() => readonly ReadinessCheck[]);
  /** More routes on the app, registered once when it is built (before it listens). */
  readonly routes?: (app: FastifyInstance) => void;
  readonly dispatch: Dispatch;
  /** A verified websocket handoff; it owns `handoff.socket` from here on. */
  readonly handoff: (handoff: Handoff, context: HookContext) => Promise<void>;
  /** At shutdown, after hooks were aborted and before the HTTP server closes (e.g. close handoff rooms). */
  readonly beforeClose?: () => Promise<void>;
}

type Phase = 'new' | 'starting' | 'listening' | 'draining' | 'closed';

export class WebhookReceiver {
  readonly path: string;
  readonly #config: ReceiverConfig;
  readonly #parts: ReceiverParts;
  readonly #secrets: readonly string[];
  readonly #work = new InFlight();
  readonly #abort = new AbortController();
  #phase: Phase = 'new';
  #app: FastifyInstance | undefined;
  #address: ServerAddress | undefined;
  #starting: Promise<ServerAddress> | undefined;
  #closing: Promise<void> | undefined;
  #draining: Promise<void> | undefined;
  readonly #clock: Clock;
  /** `clock.now`, for the parts that take only wall time. */
  readonly #now: () => number;
  #stopPruning: (() => void) | undefined;
  #redispatcher: PendingRedispatcher | undefined;
  #stopHandoffs: (() => void) | undefined;

  /** @throws RoomrunnerError `RR_CONFIG_NO_WEBHOOK_SECRET` without a secret unless `insecure`; `RR_CONFIG_INVALID` without a scheme. */
  constructor(config: ReceiverConfig, parts: ReceiverParts) {
    this.#config = config;
    this.#parts = parts;
    const clock = parts.clock ?? SYSTEM_CLOCK;
    this.#clock = clock;
    this.#now = () => clock.now();
    this.#secrets = config.webhookSecrets.filter((secret) => secret !== '');
    this.path = parts.path ?? DEFAULT_WEBHOOK_PATH;
    assertWebhookSecret(this.#secrets, config.insecure);
    if (config.signatureSchemes.length === 0) {
      throw new RoomrunnerError('RR_CONFIG_INVALID', 'no signature scheme: set ROOMRUNNER_SIGNATURE_SCHEMES / --signature-schemes (or the `schemes` option)');
    }
  }

  /** Aborted when the receiver closes (after the drain bound): hooks stop then. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** True once `close()` was called. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** False once draining: new webhooks get 503 and readiness is false. */
  get accepting(): boolean {
    return this.#phase !== 'draining' && this.#phase !== 'closed';
  }

  /** Where the server listens, once `start()` has resolved. */
  get address(): ServerAddress | undefined {
    return this.#address;
  }

  /** A hook context for work that did not come from a delivery (admin actions, tests). */
  context(deliveryKey: string, log: Logger): HookContext {
    return { deliveryKey, log, signal: this.#abort.signal };
  }

  /** The fastify app, built once. It never listens by itself: use it with `inject()`, or call `start()`. */
  get app(): FastifyInstance {
    if (this.#app) return this.#app;
    const { store, logger, metrics } = this.#parts;
    const config = this.#config;
    const verifierOptions = {
      secrets: this.#secrets,
      schemes: config.signatureSchemes,
      hmacHeader: config.hmacHeader,
      insecure: config.insecure,
      ...(this.#parts.toleranceSeconds === undefined ? {} : { toleranceSeconds: this.#parts.toleranceSeconds }),
    };
    const now = { now: this.#now };
    const app = buildApp({
      logger,
      metrics,
      store,
      lifecycle: () => this.#lifecycleReasons(),
      readinessChecks: typeof this.#parts.readinessChecks === 'function' ? this.#parts.readinessChecks() : (this.#parts.readinessChecks ?? []),
      limits: httpLimits(config),
    });
    this.#app = app;
    void app.register(webhookPlugin, {
      ...verifierOptions,
      logger,
      metrics,
      path: this.path,
      bodyLimitBytes: config.bodyLimitBytes,
      dedupeWindowMs: config.dedupeWindowMs,
      deliveryIdWindowMs: config.ledgerRetentionMs,
      redispatchAfterMs: config.redispatchAfterMs,
      replicaId: this.#parts.replicaId,
      ...now,
      store,
      work: this.#work,
      accepting: () => this.accepting,
      dispatch: (event, info) => this.#dispatch(event, info),
      signal: this.#abort.signal,
    });
    this.#stopHandoffs = listenForHandoffs(app.server, {
      path: this.path,
      verifier: new WebhookVerifier(verifierOptions),
      logger,
      metrics,
      accepting: () => this.accepting,
      ...now,
      onHandoff: (handoff) => this.#handoff(handoff),
    });
    registerAdminRoutes(app, {
      store,
      adminToken: config.adminToken,
      replay: async (record) => this.#replay(parseWebhookBody(Buffer.from(record.body, 'utf8')), record.key),
    });
    this.#parts.routes?.(app);
    return app;
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
   * Stops taking deliveries (readiness turns false and new webhooks get 503 at once), then waits up to the
   * drain bound for running hooks. Idempotent.
   */
  drain(): Promise<void> {
    if (this.#phase !== 'closed') this.#phase = 'draining';
    void this.#redispatcher?.close();
    this.#draining ??= this.#waitForHooks();
    return this.#draining;
  }

  /** Drains, aborts hooks still running, closes the HTTP server and a store it owns. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Resolves when no dispatched hook is running. */
  idle(): Promise<void> {
    return this.#work.idle();
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
    const retentionMs = this.#config.ledgerRetentionMs;
    const before = new Date(this.#clock.now() - retentionMs);
    const store = this.#parts.store as Store & {
      pruneRooms?: (endedBefore: Date) => Promise<number>;
      pruneReplicas?: (expiredForMs: number) => Promise<number>;
    };
    try {
      removed.deliveries = await store.pruneDeliveries(before);
      if (typeof store.pruneRooms === 'function') removed.rooms = await store.pruneRooms(before);
      if (typeof store.pruneReplicas === 'function') removed.replicas = await store.pruneReplicas(retentionMs);
      if (removed.deliveries + removed.rooms + removed.replicas > 0) this.#parts.logger.info(removed, 'pruned old deliveries and tombstones');
    } catch (err) {
      this.#parts.logger.warn({ err }, 'prune failed: the store is unavailable');
    }
    return removed;
  }

  async #listen(): Promise<ServerAddress> {
    this.#phase = 'starting';
    const app = this.app;
    const { logger } = this.#parts;
    if (this.#config.insecure) logger.warn('accepting unsigned webhooks (--insecure): for local work only');
    await app.listen({ port: this.#config.port, host: this.#config.host });
    const bound = app.server.address() as AddressInfo;
    const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    this.#address = { host: bound.address, port: bound.port, url: `http://${host}:${bound.port}` };
    if (this.#phase === 'starting') this.#phase = 'listening';
    logger.info({ url: this.#address.url, path: this.path, schemes: this.#config.signatureSchemes }, 'webhook server listening');
    void this.prune();
    this.#stopPruning = every(this.#clock, PRUNE_INTERVAL_MS, () => void this.prune());
    if (this.#phase === 'listening') this.#startRedispatch();
    return this.#address;
  }

  /** Crash recovery: run the hooks of deliveries answered 200 whose outcome never got recorded (redispatch.ts). */
  #startRedispatch(): void {
    const now = this.#now;
    const { store, logger, metrics } = this.#parts;
    this.#redispatcher = new PendingRedispatcher({
      store,
      replicaId: this.#parts.replicaId,
      afterMs: this.#config.redispatchAfterMs,
      logger,
      clock: this.#clock,
      running: () => this.#work.keys(),
      run: async (event, record) => {
        const log = logger.child({ key: record.key, event: record.event, room: record.room, redispatch: true });
        const running = runDelivery(event, record.key, log, {
          store,
          dispatch: (e, info) => this.#dispatch(e, info),
          metrics,
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

  async #shutdown(): Promise<void> {
    // Let a start() in progress finish, so that the listening socket gets closed too.
    await this.#starting?.catch(() => undefined);
    await this.drain();
    this.#stopPruning?.();
    this.#phase = 'closed';
    this.#abort.abort(new RoomrunnerError('RR_WEBHOOK_SERVER_CLOSED', 'the webhook server closed'));
    this.#stopHandoffs?.();
    await this.#parts.beforeClose?.();
    await this.#app?.close();
    if (this.#parts.ownsStore) await this.#parts.store.close();
    if (this.#address !== undefined) this.#parts.logger.info('webhook server closed');
  }

  async #waitForHooks(): Promise<void> {
    if (this.#work.size === 0) return;
    const { logger } = this.#parts;
    const drainTimeoutMs = this.#config.drainTimeoutMs;
    logger.info({ running: this.#work.size }, 'draining: waiting for running hooks');
    let timer: unknown;
    const bound = new Promise<'timeout'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('timeout'), drainTimeoutMs);
    });
    const outcome = await Promise.race([this.#work.idle().then(() => 'idle' as const), bound]);
    this.#clock.clearTimeout(timer);
    if (outcome === 'timeout') logger.warn({ running: this.#work.size, drainTimeoutMs }, 'drain bound reached with hooks still running');
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

  #handoff(handoff: Handoff): void {
    const log = this.#parts.logger.child({ key: handoff.deliveryKey, event: handoff.event.event, room: handoff.event.roomName });
    this.#parts.handoff(handoff, this.context(handoff.deliveryKey, log)).catch((err: unknown) => {
      log.error({ err }, 'webhook handoff failed');
      handoff.socket.close(1011, 'handoff failed');
    });
  }

  /** Run a stored delivery's hook again (admin replay) and record the outcome. */
  async #replay(event: WebhookEvent, key: string): Promise<HookOutcome | 'failed'> {
    const log = this.#parts.logger.child({ key, event: event.event, replay: true });
    let result: HookOutcome | 'failed';
    let error: string | null = null;
    try {
      result = await this.#dispatch(event, { deliveryKey: key, log });
    } catch (err) {
      result = 'failed';
      error = errorMessage(err);
      log.error({ err }, 'replayed webhook hook failed');
    }
    await this.#parts.store.finishDelivery(key, result, error);
    log.info({ result }, 'webhook replayed');
    return result;
  }

  #dispatch(event: WebhookEvent, info: DeliveryInfo): Promise<HookOutcome> {
    return this.#parts.dispatch(event, this.context(info.deliveryKey, info.log));
  }
}

/**
 * Refuse to run without a webhook secret unless `insecure` (verification is on by default, docs/protocol.md §A.5).
 * @throws RoomrunnerError `RR_CONFIG_NO_WEBHOOK_SECRET` naming the env var, the flag and the option.
 */
export function assertWebhookSecret(secrets: readonly string[], insecure: boolean): void {
  if (secrets.some((secret) => secret !== '') || insecure) return;
  throw new RoomrunnerError(
    'RR_CONFIG_NO_WEBHOOK_SECRET',
    'no webhook secret: set MESHAGENT_WEBHOOK_SECRET (or --webhook-secret, or the `secrets` option), or pass --insecure (`insecure: true`) to accept unsigned webhooks during local work',
  );
}
