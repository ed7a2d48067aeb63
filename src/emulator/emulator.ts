/**
 * The local MeshAgent platform in one process (docs/protocol.md §H): one fastify server carries the
 * REST subset (./platform-api.ts) and the room websockets (./room-server.ts, attached to the server's
 * `upgrade` event); the webhook sender (./webhook-sender.ts) tells subscribers when sessions start and end
 * and delivers `room.call` handoffs (§A.8).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { RoomrunnerError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { agentDefaultApiScope, mintParticipantToken, type ApiScope } from '../auth/token.js';
import type { SignatureScheme } from '../webhooks/signatures/index.js';
import { buildEmulatorApp, UNVERIFIED_TOKEN_SECRET, websocketBase } from './platform-api.js';
import { SessionRegistry } from './platform-sessions.js';
import { RoomServer, type RoomCallRequest, type RoomServerOptions } from './room-server.js';
import { ServiceHandoffs } from './service-handoffs.js';
import { registerServiceRoutes, ServiceRegistry } from './services.js';
import { WebhookSender, type WebhookSenderOptions, type WebhookSubscription } from './webhook-sender.js';

export const DEFAULT_EMULATOR_HOST = '127.0.0.1';
/** How long `close()` lets `room.ended` deliveries (fired by the shutdown itself) finish before cancelling them. */
export const DEFAULT_CLOSE_GRACE_MS = 2_000;

/** A subscription created at start-up (the same fields as `POST /webhooks`). */
export interface EmulatorWebhookOptions {
  readonly url: string;
  /** Unsigned when absent or null. */
  readonly secret?: string | null;
  /** Default `meshagent`. */
  readonly scheme?: SignatureScheme;
  /** Default `['*']`. */
  readonly events?: readonly string[];
  readonly name?: string;
  readonly description?: string;
  readonly action?: '' | 'call';
  readonly payload?: Readonly<Record<string, unknown>> | null;
  /** `hmac-sha256` only. */
  readonly header?: string | null;
}

export interface StartEmulatorOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /**
   * Verifies participant tokens and REST bearer tokens, and signs the tokens the emulator mints. Without it
   * nothing is verified (tokens are only decoded) and REST is open.
   */
  readonly secret?: string;
  /** When set, REST paths must name this project; it becomes `sub` of minted tokens. */
  readonly projectId?: string;
  readonly webhooks?: readonly EmulatorWebhookOptions[];
  /** Project services created at start-up (ServiceSpec JSON, as `POST /services` takes). */
  readonly services?: readonly unknown[];
  /** Signs the service handoffs (MeshAgent scheme); unsigned without it. */
  readonly serviceSecret?: string;
  /** Grace period before a room left without users ends its session. */
  readonly idleGraceMs?: number;
  readonly logger?: Logger;
  /** Delivery policy (retries, backoff, timeouts, ping on create). */
  readonly webhookDelivery?: Pick<WebhookSenderOptions, 'retries' | 'minTimeoutMs' | 'maxTimeoutMs' | 'jitter' | 'timeoutMs' | 'logSize' | 'pingOnCreate'>;
  /** Room server tuning. */
  readonly roomServer?: Pick<RoomServerOptions, 'maxMessageBytes' | 'pingIntervalMs' | 'eventCapacity'>;
  /** See {@link DEFAULT_CLOSE_GRACE_MS}. */
  readonly closeGraceMs?: number;
}

export interface Emulator {
  /** `http://HOST:PORT`: the REST base and MESHAGENT_API_URL for clients. */
  readonly url: string;
  /** `ws://HOST:PORT`: the room base URL (clients append `/rooms/<name>`; MESHAGENT_ROOM_URL). */
  readonly wsUrl: string;
  readonly port: number;
  readonly host: string;
  /** The configured project id, if any. */
  readonly projectId: string | undefined;
  readonly roomServer: RoomServer;
  readonly webhooks: WebhookSender;
  readonly sessions: SessionRegistry;
  /** Project services (REST at `/accounts/projects/{p}/services`, per room at `…/rooms/{room}/services`). */
  readonly services: ServiceRegistry;
  /** The handoffs of each session to the services' endpoints, with their delivery log. */
  readonly handoffs: ServiceHandoffs;
  readonly app: FastifyInstance;
  /** `ws://HOST:PORT/rooms/<name>`. */
  roomUrl(name: string): string;
  /** Ends every session, lets `room.ended` go out (bounded), then stops the server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the emulator and resolves once it listens.
 * @throws the listen error (e.g. EADDRINUSE); RoomrunnerError `RR_EMULATOR_BAD_REQUEST` for a bad webhook.
 */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  const host = options.host ?? DEFAULT_EMULATOR_HOST;
  // Each part adds its own `component` binding to the caller's logger.
  const baseLogger = options.logger ?? silentLogger();
  const logger = baseLogger.child({ component: 'emulator' });
  const secret = options.secret === '' ? undefined : options.secret;
  const projectId = options.projectId === '' ? undefined : options.projectId;
  let httpBase = '';

  const mintToken = (room: string, name: string, api: ApiScope): string =>
    mintParticipantToken({ name, room, role: 'agent', api, secret: secret ?? UNVERIFIED_TOKEN_SECRET, ...(projectId === undefined ? {} : { projectId }) });

  const sessions = new SessionRegistry();
  const webhooks = new WebhookSender({
    ...options.webhookDelivery,
    logger: baseLogger,
    mintCallToken: ({ room, name }) => mintToken(room, name, agentDefaultApiScope()),
  });

  const services = new ServiceRegistry();
  // Assigned right after the room server exists: the handoffs need the room server, its hook needs them.
  let handoffs: ServiceHandoffs | undefined;
  const roomServer = new RoomServer({
    ...options.roomServer,
    ...(secret === undefined ? {} : { secret }),
    ...(options.idleGraceMs === undefined ? {} : { idleGraceMs: options.idleGraceMs }),
    publicUrl: () => websocketBase(httpBase),
    logger: baseLogger.child({ component: 'room-server' }),
    hooks: {
      onSessionStarted: (room) => {
        sessions.started(room);
        // session_id is our extension (MeshAgent's models ignore extra keys): it lets receivers tell sessions apart.
        webhooks.deliver('room.started', { room_name: room.name, room_url: room.url, session_id: room.sessionId });
        handoffs?.sessionStarted(room);
      },
      onSessionEnded: (room) => {
        sessions.ended(room);
        webhooks.deliver('room.ended', { room_name: room.name, session_id: room.sessionId });
      },
      onRoomCall: (call) => deliverRoomCall(call, webhooks, (room, name, api) => mintToken(room, name, api)),
    },
  });

  const serviceHandoffs = new ServiceHandoffs({
    services,
    rooms: roomServer,
    webhooks,
    mintToken: (room, name, api) => mintToken(room, name, api),
    secret: options.serviceSecret === '' ? undefined : options.serviceSecret,
    ...(options.webhookDelivery === undefined
      ? {}
      : {
          ...(options.webhookDelivery.retries === undefined ? {} : { retries: options.webhookDelivery.retries }),
          ...(options.webhookDelivery.minTimeoutMs === undefined ? {} : { minTimeoutMs: options.webhookDelivery.minTimeoutMs }),
          ...(options.webhookDelivery.maxTimeoutMs === undefined ? {} : { maxTimeoutMs: options.webhookDelivery.maxTimeoutMs }),
          ...(options.webhookDelivery.jitter === undefined ? {} : { jitter: options.webhookDelivery.jitter }),
          ...(options.webhookDelivery.timeoutMs === undefined ? {} : { timeoutMs: options.webhookDelivery.timeoutMs }),
        }),
    logger: baseLogger,
  });
  handoffs = serviceHandoffs;

  try {
    for (const webhook of options.webhooks ?? []) webhooks.create(webhook);
    for (const service of options.services ?? []) services.create(service);
  } catch (error) {
    await Promise.all([webhooks.close(), roomServer.close()]);
    throw error;
  }

  const app = buildEmulatorApp({
    rooms: roomServer,
    webhooks,
    sessions,
    secret,
    projectId,
    publicUrl: () => httpBase,
    logger: baseLogger,
  });
  registerServiceRoutes(app, { services, projectId });
  app.server.on('upgrade', (req, socket, head) => {
    if (!roomServer.handleUpgrade(req, socket, head)) socket.destroy();
  });

  try {
    await app.listen({ port: options.port ?? 0, host });
  } catch (error) {
    await Promise.all([webhooks.close(), roomServer.close(), app.close()]);
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);
  httpBase = `http://${urlHost(host)}:${port}`;
  logger.info({ url: httpBase, projectId: projectId ?? null, verifiesTokens: secret !== undefined }, 'emulator listening');

  const closeGraceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    await roomServer.close();
    // Shutting down ended the sessions: give those room.ended deliveries a bounded chance to go out.
    const grace = new AbortController();
    await Promise.race([webhooks.idle(), sleep(closeGraceMs, undefined, { signal: grace.signal, ref: false }).catch(() => undefined)]);
    grace.abort();
    await serviceHandoffs.close();
    await webhooks.close();
    await app.close();
    logger.info('emulator closed');
  };

  return {
    url: httpBase,
    wsUrl: websocketBase(httpBase),
    port,
    host,
    projectId,
    roomServer,
    webhooks,
    sessions,
    services,
    handoffs: serviceHandoffs,
    app,
    roomUrl: (name) => `${websocketBase(httpBase)}/rooms/${name}`,
    close: () => (closing ??= close()),
  };
}

/**
 * §A.8: mint a token for the callee (role `agent`, the requested ApiScope or agentDefault) and POST
 * `room.call` to its URL, signed like the subscription with that URL if there is one, else unsigned. Only
 * http(s) URLs: the websocket handoff (§A.3) is not emulated.
 */
async function deliverRoomCall(call: RoomCallRequest, webhooks: WebhookSender, mint: (room: string, name: string, api: ApiScope) => string): Promise<void> {
  let protocol: string;
  try {
    protocol = new URL(call.url).protocol;
  } catch {
    throw new RoomrunnerError('RR_EMULATOR_ROOM_CALL_FAILED', `room.call url ${JSON.stringify(call.url)} is not an absolute URL`);
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new RoomrunnerError(
      'RR_EMULATOR_ROOM_CALL_FAILED',
      `room.call to ${call.url}: the emulator delivers only to http(s) URLs; the websocket handoff (ws://, wss://) is not emulated`,
    );
  }
  const api = (call.api ?? agentDefaultApiScope()) as ApiScope;
  const token = mint(call.room, call.name, api);
  const subscription: WebhookSubscription | undefined = webhooks.subscriptionForUrl(call.url);
  const record = await webhooks.deliverTo(
    call.url,
    'room.call',
    { room_name: call.room, room_url: call.roomUrl, token, arguments: call.arguments },
    subscription === undefined
      ? {}
      : { scheme: subscription.scheme, secret: subscription.secret, header: subscription.header, subscriptionId: subscription.id },
  );
  if (record.status !== 'delivered') {
    const last = record.attempts.at(-1);
    throw new RoomrunnerError(
      'RR_EMULATOR_ROOM_CALL_FAILED',
      `room.call webhook to ${call.url} failed after ${record.attempts.length} attempt(s): ${last?.error ?? 'the emulator is closing'}`,
      { data: { deliveryId: record.id, status: last?.status ?? null } },
    );
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
