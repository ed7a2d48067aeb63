/**
 * RemoteTaskRunnerServer: the orchestrator. A {@link WebhookServer} whose hooks attach the agents to every room
 * that starts and detach them when it ends, with reconciliation against the platform so a lost webhook or a
 * restart heals by itself, a hard cap on rooms, a bounded graceful drain, and GET /status.
 *
 *   const server = new RemoteTaskRunnerServer({ agents: [adder] });
 *   await server.run();   // until SIGINT/SIGTERM, then drain
 *
 * Idempotent in every order: duplicate starts attach once (the room is reserved synchronously); an end that
 * arrives before its start leaves a tombstone so the late start is ignored (per session id when the platform
 * sends one, else within `tombstoneWindowMs`).
 */
import type { FastifyInstance } from 'fastify';
import { loadConfig, tokenEnv, type Config } from '../config.js';
import { RoomrunnerError } from '../errors.js';
import { requireBearerToken } from '../http/app.js';
import { mintParticipantToken, resolveTokenSecret } from '../room/token.js';
import { roomUrl } from '../room/url.js';
import type { Toolkit } from '../agents/define-agent.js';
import { checkUniqueNames } from '../agents/discover.js';
import { WebhookServer, type HookContext, type WebhookServerOptions } from '../webhooks/webhook-server.js';
import type { CallEvent, RoomEndedEvent, RoomStartedEvent } from '../webhooks/events.js';
import { RoomAttachments, type AttachRequest, type RetryOptions } from './attachments.js';
import { PlatformClient } from './platform.js';
import type { RoomConnectionOptions } from '../room/connection.js';

/** A room.started within this long after its room.ended (same room, no session id to compare) is ignored. */
export const DEFAULT_TOMBSTONE_WINDOW_MS = 5_000;
/** Session ids remembered as ended, to ignore their late starts. */
const ENDED_SESSIONS_KEPT = 10_000;

export interface RemoteTaskRunnerServerOptions extends WebhookServerOptions {
  /** The agents (toolkits) to host in every room. */
  readonly agents: readonly Toolkit[];
  /** Picks the agents for one room; `args` are a room.call's arguments. Default: all. */
  readonly selectAgents?: (room: string, args: Record<string, unknown> | null | undefined) => readonly Toolkit[];
  /** Participant name (default ROOMRUNNER_IDENTITY or `roomrunner`). */
  readonly identity?: string;
  /** Platform base URL (default MESHAGENT_API_URL). */
  readonly apiUrl?: string;
  /** Hard cap on rooms (default ROOMRUNNER_MAX_ROOMS or 1000). */
  readonly maxRooms?: number;
  /** Reconciliation period; 0 = only at start-up (default ROOMRUNNER_RECONCILE_INTERVAL_MS or 30 s). */
  readonly reconcileIntervalMs?: number;
  readonly tombstoneWindowMs?: number;
  /** Admin token for GET /status (default ROOMRUNNER_ADMIN_TOKEN; open when unset). */
  readonly adminToken?: string;
  readonly retry?: RetryOptions;
  readonly connection?: Partial<Omit<RoomConnectionOptions, 'url' | 'token' | 'onReady'>>;
}

export class RemoteTaskRunnerServer extends WebhookServer {
  readonly attachments: RoomAttachments;
  readonly #config: Config;
  readonly #options: RemoteTaskRunnerServerOptions;
  readonly #apiUrl: string;
  readonly #identity: string;
  readonly #platform: PlatformClient | undefined;
  readonly #reconcileIntervalMs: number;
  readonly #tombstoneWindowMs: number;
  readonly #endedSessions = new Set<string>();
  #reconcileTimer: NodeJS.Timeout | undefined;
  #reconciling: Promise<void> | undefined;
  #lastReconcileError: string | null = null;
  #lastReconcileAt: string | null = null;
  #routesAdded = false;

  constructor(options: RemoteTaskRunnerServerOptions) {
    const config = options.config ?? loadConfig();
    const platformCheck = { name: 'platform', check: () => this.#platformReady() };
    super({ ...options, config, readinessChecks: [...(options.readinessChecks ?? []), platformCheck] });
    if (!options.agents || options.agents.length === 0) {
      throw new RoomrunnerError('RR_AGENT_DEFINITION_INVALID', 'RemoteTaskRunnerServer needs at least one agent: pass { agents: [...] } or put agents in the agents folder');
    }
    checkUniqueNames(options.agents.map((toolkit, i) => ({ toolkit, file: 'options.agents', exportName: `[${i}]` })));
    this.#config = config;
    this.#options = options;
    this.#apiUrl = options.apiUrl ?? config.apiUrl;
    this.#identity = options.identity ?? config.identity;
    this.#reconcileIntervalMs = options.reconcileIntervalMs ?? config.reconcileIntervalMs;
    this.#tombstoneWindowMs = options.tombstoneWindowMs ?? DEFAULT_TOMBSTONE_WINDOW_MS;
    const secret = resolveTokenSecret(tokenEnv(config));
    const identity = this.#identity;
    this.attachments = new RoomAttachments({
      toolkits: options.agents,
      ...(options.selectAgents ? { select: options.selectAgents } : {}),
      mintToken: (room) => mintParticipantToken({ ...secret, name: identity, room, role: 'agent' }),
      maxRooms: options.maxRooms ?? config.maxRooms,
      logger: this.logger,
      metrics: this.metrics,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.connection ? { connection: options.connection } : {}),
    });
    const projectId = secret.projectId;
    this.#platform =
      projectId === undefined
        ? undefined
        : new PlatformClient({
            apiUrl: this.#apiUrl,
            projectId,
            // The platform takes the API key itself; with a bare secret, a token signed with it (the emulator accepts both).
            bearer: () => config.apiKey ?? mintParticipantToken({ ...secret, name: identity, room: '*', role: 'agent' }),
          });
  }

  // --- hooks ---

  override async onRoomStarted(event: RoomStartedEvent, context: HookContext): Promise<void> {
    const room = event.roomName;
    if (event.sessionId && this.#endedSessions.has(event.sessionId)) {
      context.log.info({ room, session: event.sessionId }, 'ignored a late room.started: its session already ended');
      return;
    }
    // The store keeps the tombstone; a start inside its window with no session id to tell them apart is late.
    const fresh = event.sessionId
      ? (await this.store.clearRoom(room), await this.store.markRoomStarted(room, new Date(), 0))
      : await this.store.markRoomStarted(room, new Date(), this.#tombstoneWindowMs);
    if (!fresh) {
      context.log.info({ room }, 'ignored a late room.started: the room ended moments ago');
      return;
    }
    this.#attach({ room, url: event.roomUrl ?? roomUrl(this.#apiUrl, room), trigger: 'room.started', sessionId: event.sessionId ?? null }, context);
  }

  override async onRoomEnded(event: RoomEndedEvent, context: HookContext): Promise<void> {
    const room = event.roomName;
    if (event.sessionId) this.#rememberEnded(event.sessionId);
    await this.store.markRoomEnded(room, new Date());
    const held = await this.attachments.detach(room, 'room ended', 0);
    context.log.info({ room, held }, held ? 'room ended: detached' : 'room ended: tombstone left');
  }

  /** `room.call`: join with the token in the payload (§A.6); `arguments.agents` may name the agents to host. */
  override async onCall(event: CallEvent, context: HookContext): Promise<void> {
    this.#attach(
      { room: event.roomName, url: event.roomUrl, trigger: 'room.call', token: event.token, arguments: event.arguments, sessionId: event.sessionId ?? null },
      context,
    );
  }

  // --- lifecycle ---

  override buildApp(): FastifyInstance {
    const app = super.buildApp();
    if (!this.#routesAdded) {
      this.#routesAdded = true;
      const guard = requireBearerToken(this.#options.adminToken ?? this.#config.adminToken);
      app.get('/status', { preHandler: guard }, async () => ({
        identity: this.#identity,
        accepting: this.attachments.accepting,
        rooms: this.attachments.size,
        maxRooms: this.attachments.maxRooms,
        reconcile: { lastAt: this.#lastReconcileAt, lastError: this.#lastReconcileError, enabled: this.#platform !== undefined },
        attachments: this.attachments.status(),
      }));
    }
    return app;
  }

  override async start(): Promise<Awaited<ReturnType<WebhookServer['start']>>> {
    const address = await super.start();
    if (this.#platform) {
      void this.reconcile();
      if (this.#reconcileIntervalMs > 0) {
        this.#reconcileTimer = setInterval(() => void this.reconcile(), this.#reconcileIntervalMs);
        this.#reconcileTimer.unref();
      }
    } else {
      this.logger.warn('reconciliation is off: set MESHAGENT_PROJECT_ID or an MESHAGENT_API_KEY so roomrunner can list active rooms');
    }
    return address;
  }

  /**
   * Graceful drain: readiness false and new webhooks 503 at once, no new rooms, calls in flight finish or abort
   * within the drain bound, toolkits unregistered, sockets closed with 1000.
   */
  override async drain(): Promise<void> {
    if (this.#reconcileTimer) clearInterval(this.#reconcileTimer);
    this.attachments.stopAccepting();
    const drainTimeoutMs = this.#options.drainTimeoutMs ?? this.#config.drainTimeoutMs;
    await Promise.all([super.drain(), this.attachments.detachAll('roomrunner is shutting down', drainTimeoutMs)]);
  }

  override async close(): Promise<void> {
    await this.drain();
    await super.close();
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
      const active = await this.#platform.activeRooms();
      this.#lastReconcileError = null;
      this.#lastReconcileAt = new Date().toISOString();
      const live = new Set(active.map((a) => a.room));
      for (const { room, roomUrl: url, sessionId } of active) {
        if (this.attachments.has(room)) continue;
        if (sessionId && this.#endedSessions.has(sessionId)) continue;
        // The platform is the source of truth: an active session clears any tombstone of an earlier one.
        await this.store.clearRoom(room);
        await this.store.markRoomStarted(room, new Date(), 0);
        const result = this.attachments.attach({ room, url: url ?? roomUrl(this.#apiUrl, room), trigger: 'reconcile', sessionId });
        if (result === 'attaching') this.logger.info({ room }, 'reconcile: attaching a room the webhooks missed');
      }
      for (const room of this.attachments.rooms()) {
        if (!live.has(room)) {
          this.logger.info({ room }, 'reconcile: leaving a room that is no longer active');
          await this.store.markRoomEnded(room, new Date());
          await this.attachments.detach(room, 'room no longer active');
        }
      }
    } catch (error) {
      this.#lastReconcileError = error instanceof Error ? error.message : String(error);
      this.logger.warn({ err: this.#lastReconcileError }, 'reconcile failed');
    }
  }

  #attach(request: AttachRequest, context: HookContext): void {
    const result = this.attachments.attach(request);
    context.log.info({ room: request.room, trigger: request.trigger, result }, result === 'attaching' ? 'attaching agents' : `not attaching: ${result}`);
  }

  #platformReady(): void {
    if (this.#lastReconcileError !== null) throw new Error(`platform unreachable: ${this.#lastReconcileError}`);
  }

  #rememberEnded(sessionId: string): void {
    this.#endedSessions.add(sessionId);
    if (this.#endedSessions.size > ENDED_SESSIONS_KEPT) {
      const oldest = this.#endedSessions.values().next().value;
      if (oldest !== undefined) this.#endedSessions.delete(oldest);
    }
  }
}
