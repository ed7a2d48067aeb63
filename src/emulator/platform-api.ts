/**
 * The emulator's REST surface: the subset of MeshAgent's platform API that roomrunner and its users call
 * (docs/protocol.md §F, §A.7, §C "REST connect"), plus emulator-only control routes.
 *
 * `buildEmulatorApp(deps)` never listens (docs/architecture.md §Style 8): tests use `app.inject()`, and
 * `startEmulator` (./emulator.ts) listens and attaches the room websocket.
 *
 * Platform routes, all under `/accounts/projects/:projectId` (when the emulator has a `projectId`, the path
 * must name it; otherwise any id is accepted and echoed):
 *   rooms      POST /rooms, GET /rooms, GET /rooms/:name, POST /rooms/:room/connect
 *   sessions   GET /sessions, GET /sessions/active, GET /sessions/:id, POST /sessions/:id/terminate
 *   webhooks   POST /webhooks, GET /webhooks, GET|PUT|DELETE /webhooks/:id,
 *              GET /webhooks/:id/deliveries, POST /webhooks/:id/ping (the last two are ours)
 * Emulator-only control routes (not part of MeshAgent), under `/_emulator`:
 *   GET /rooms, POST /rooms/:room/start, POST /rooms/:room/end, POST /rooms/:room/disable|enable (./room-switch-routes.ts),
 *   POST /rooms/:room/participants/:pid/close {code?, reason?}, POST /rooms/:room/participants/:pid/dismiss,
 *   GET /events?room&kind&since, GET /deliveries
 * `GET /` answers `{ok: true}` without auth (a liveness check, like the Python WebhookServer's).
 *
 * Auth (when the emulator has a secret): `Authorization: Bearer <token>` where the token is an `ma-` API key
 * whose secret part is the emulator's secret, or any HS256 JWT signed with it (§B, §F). Errors are JSON
 * `{error: {code, message}}` with the catalog's HTTP status.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isRoomrunnerError, RoomrunnerError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { mintParticipantToken, userDefaultApiScope } from '../auth/token.js';
import { authenticate } from './platform-auth.js';
import type { SessionRegistry, SessionRecord } from './platform-sessions.js';
import { ROOM_DISABLED_REASON } from './room.js';
import { registerRoomSwitchRoutes, roomDisabled, type SwitchableRooms } from './room-switch-routes.js';
import {
  badRequest,
  generateWebhookSecret,
  parseSubscriptionInput,
  type DeliveryRecord,
  type WebhookSender,
  type WebhookSubscription,
} from './webhook-sender.js';

/** Prefix of the platform routes (§F). */
export const PLATFORM_PREFIX = '/accounts/projects/:projectId';
/** Prefix of the emulator-only control routes. */
export const CONTROL_PREFIX = '/_emulator';
/**
 * Signs tokens from `POST /rooms/:room/connect` when the emulator has no secret. Such an emulator does not
 * verify room tokens (it only decodes them), so any key works; this one says where a token came from.
 */
export const UNVERIFIED_TOKEN_SECRET = 'roomrunner-emulator-unverified';
/** Participant name of a `connect` token when the body names none. */
export const DEFAULT_CONNECT_PARTICIPANT = 'user';

/** A room as the room server reports it (a structural subset of `RoomInfo`). */
export interface PlatformRoomInfo {
  readonly name: string;
  readonly sessionId: string | null;
  readonly active: boolean;
  readonly disabled?: boolean;
  readonly participants?: unknown;
}

/** What the REST routes need from the room server (`RoomServer` satisfies it). */
export interface PlatformRooms extends SwitchableRooms {
  listRooms(): readonly PlatformRoomInfo[];
  ensureRoom(name: string): PlatformRoomInfo;
  startSession(name: string): PlatformRoomInfo;
  endSession(name: string): boolean;
  closeParticipant(room: string, participantId: string, code: number, reason?: string): boolean;
  dismiss(room: string, participantId: string): boolean;
  readonly events: readonly unknown[];
}

export interface EmulatorAppDeps {
  readonly rooms: PlatformRooms;
  readonly webhooks: WebhookSender;
  readonly sessions: SessionRegistry;
  /** Verifies REST bearer tokens and signs `connect` tokens. Without it REST is open and tokens are unverified. */
  readonly secret?: string | undefined;
  /** When set, platform paths must name this project id. */
  readonly projectId?: string | undefined;
  /** The emulator's http base URL (known only after listening). */
  readonly publicUrl: () => string;
  readonly logger?: Logger;
  /** Room ids. Default `crypto.randomUUID`. */
  readonly newId?: () => string;
}

/** The JSON shape of every error answer. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

interface RoomEntry {
  readonly id: string;
  readonly name: string;
  metadata: Record<string, unknown>;
  annotations: Record<string, unknown>;
}

const ROOM_NAME = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .refine((name) => !name.includes('/'), "must not contain '/'");
const JSON_OBJECT = z.record(z.string(), z.unknown()).nullish();

const createRoomBody = z.object({
  name: ROOM_NAME,
  if_not_exists: z.boolean({ error: 'must be a boolean' }).default(false),
  metadata: JSON_OBJECT,
  annotations: JSON_OBJECT,
});

const connectBody = z.object({
  /** Ours: the participant name the token carries. */
  participant_name: z.string().min(1, 'must not be empty').default(DEFAULT_CONNECT_PARTICIPANT),
});

const listQuery = z.object({
  limit: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').optional(),
  offset: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').default(0),
});

// Codes `ws` accepts in a close frame (RFC 6455 §7.4): 1000–1014 except the reserved 1004–1006, or 3000–4999.
const closeBody = z.object({
  code: z
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .refine(
      (code) => (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999),
      'must be a sendable close code: 1000–1014 (not 1004–1006) or 3000–4999',
    )
    .default(1000),
  reason: z
    .string({ error: 'must be a string' })
    .refine((reason) => Buffer.byteLength(reason, 'utf8') <= 123, 'must be at most 123 bytes of UTF-8')
    .optional(),
});

const eventsQuery = z.object({
  room: z.string().optional(),
  kind: z.string().optional(),
  since: z.coerce.number({ error: 'must be a number' }).int('must be an integer').optional(),
});

/**
 * Builds the emulator's fastify app without listening.
 */
export function buildEmulatorApp(deps: EmulatorAppDeps): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  registerEmulatorRoutes(app, deps);
  return app;
}

/** Registers the routes, auth, JSON parsing and error mapping on an existing fastify instance. */
export function registerEmulatorRoutes(app: FastifyInstance, deps: EmulatorAppDeps): void {
  const logger = (deps.logger ?? silentLogger()).child({ component: 'emulator-api' });
  const newId = deps.newId ?? randomUUID;
  const directory = new Map<string, RoomEntry>();
  const secret = deps.secret === '' ? undefined : deps.secret;

  // Clients send `Content-Type: application/json` with an empty body on some POSTs (connect, terminate):
  // read that as "no body" instead of failing, and keep fastify's prototype-poisoning protection otherwise.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (typeof body === 'string' && body.trim() === '') {
      done(null, undefined);
      return;
    }
    defaultJson(request, body as string, done);
  });

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public === true || secret === undefined) return;
    authenticate(request.headers.authorization, secret);
  });

  app.setNotFoundHandler((request, reply) => {
    sendError(
      reply,
      new RoomrunnerError('RR_EMULATOR_ROUTE_NOT_FOUND', `the emulator does not implement ${request.method} ${request.url.split('?')[0] ?? ''}`),
    );
  });

  app.setErrorHandler((error, request, reply) => {
    if (isRoomrunnerError(error)) {
      sendError(reply, error);
      return;
    }
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // fastify's own client errors: bad JSON, unsupported content type, body too large.
      sendError(reply, new RoomrunnerError('RR_EMULATOR_BAD_REQUEST', `bad request: ${(error as Error).message}`), status);
      return;
    }
    logger.error({ err: error, method: request.method, route: request.routeOptions.url }, 'emulator route failed');
    sendError(reply, new RoomrunnerError('RR_EMULATOR_INTERNAL', 'the emulator failed to answer this request', { cause: error }));
  });

  app.get('/', { config: { public: true } }, async () => ({ ok: true, emulator: 'roomrunner' }));

  const roomEntry = (name: string): RoomEntry => {
    let entry = directory.get(name);
    if (entry === undefined) {
      entry = { id: newId(), name, metadata: {}, annotations: {} };
      directory.set(name, entry);
    }
    return entry;
  };
  const knownRoom = (name: string): boolean => directory.has(name) || deps.rooms.listRooms().some((room) => room.name === name);
  const requireRoom = (name: string): void => {
    if (!knownRoom(name)) throw new RoomrunnerError('RR_EMULATOR_ROOM_NOT_FOUND', `no room named ${JSON.stringify(name)}`, { data: { room: name } });
  };
  const allRoomNames = (): string[] => {
    const names = new Set(directory.keys());
    for (const room of deps.rooms.listRooms()) names.add(room.name);
    return [...names];
  };
  // The same spelling as the room server's `room_url` (and the SDKs, §C): `<ws base>/rooms/<name>`, unencoded.
  const wsUrl = (name: string): string => `${websocketBase(deps.publicUrl())}/rooms/${name}`;
  const checkProject = (request: FastifyRequest): string => {
    const { projectId } = request.params as { projectId: string };
    if (deps.projectId !== undefined && deps.projectId !== '' && projectId !== deps.projectId) {
      throw new RoomrunnerError('RR_EMULATOR_PROJECT_NOT_FOUND', `this emulator serves project ${deps.projectId}, not ${projectId}`, {
        data: { projectId },
      });
    }
    return projectId;
  };
  // The SDKs' RoomSession (meshagent-ts `parseRoomSession`, Python `RoomSession`) requires `is_active` and reads
  // `kind` and `participants` as counts by role; `state`, `room_url` and `ended_at` are ours.
  const sessionJson = (record: SessionRecord): Record<string, unknown> => {
    const live = deps.rooms.listRooms().find((room) => room.name === record.roomName);
    const active = record.endedAt === null && live?.active === true && live.sessionId === record.id;
    return {
      id: record.id,
      kind: 'room',
      room_name: record.roomName,
      room_id: roomEntry(record.roomName).id,
      room_url: record.roomUrl,
      created_at: iso(record.startedAt),
      ended_at: record.endedAt === null ? null : iso(record.endedAt),
      is_active: active,
      state: active ? 'active' : 'ended',
      participants: active ? countsByRole(live?.participants) : {},
    };
  };
  /** Active sessions, from the room server (the truth), dated from the registry when it saw the start. */
  const activeSessions = (): Record<string, unknown>[] =>
    deps.rooms
      .listRooms()
      .filter((room) => room.active && room.sessionId !== null)
      .map((room) => {
        const id = room.sessionId as string;
        const known = deps.sessions.get(id) ?? deps.sessions.started({ name: room.name, sessionId: id, url: wsUrl(room.name) });
        return sessionJson(known);
      });
  const requireSession = (id: string): SessionRecord => {
    activeSessions(); // registers any active session the registry has not seen
    const record = deps.sessions.get(id);
    if (record === undefined) throw new RoomrunnerError('RR_EMULATOR_SESSION_NOT_FOUND', `no session with id ${JSON.stringify(id)}`, { data: { id } });
    return record;
  };

  // -------------------------------------------------------------------------------------------------
  // Platform routes (§F, §A.7)
  // -------------------------------------------------------------------------------------------------
  app.register(
    async (platform) => {
      platform.addHook('preHandler', async (request) => {
        checkProject(request);
      });

      // Rooms
      platform.post('/rooms', async (request) => {
        const body = parse(createRoomBody, request.body, 'room');
        const exists = knownRoom(body.name);
        if (exists && !body.if_not_exists) {
          throw new RoomrunnerError('RR_EMULATOR_ROOM_EXISTS', `room ${JSON.stringify(body.name)} already exists; pass "if_not_exists": true to get it`, {
            data: { room: body.name },
          });
        }
        deps.rooms.ensureRoom(body.name);
        const entry = roomEntry(body.name);
        if (!exists) {
          entry.metadata = body.metadata ?? {};
          entry.annotations = body.annotations ?? {};
        }
        return roomJson(entry);
      });

      platform.get('/rooms', async (request) => {
        const { limit, offset } = parse(listQuery, request.query, 'query');
        const rooms = allRoomNames().map((name) => roomJson(roomEntry(name)));
        return { rooms: rooms.slice(offset, limit === undefined ? undefined : offset + limit) };
      });

      platform.get('/rooms/:name', async (request) => {
        const { name } = request.params as { name: string };
        requireRoom(name);
        return roomJson(roomEntry(name));
      });

      platform.post('/rooms/:room/connect', async (request) => {
        const { room } = request.params as { room: string; projectId: string };
        const projectId = checkProject(request);
        const body = parse(connectBody, request.body ?? {}, 'connect body');
        parse(ROOM_NAME, room, 'room name');
        if (deps.rooms.ensureRoom(room).disabled === true) throw roomDisabled(room, ROOM_DISABLED_REASON);
        roomEntry(room);
        const jwt = mintParticipantToken({
          name: body.participant_name,
          room,
          role: 'user',
          api: userDefaultApiScope(),
          secret: secret ?? UNVERIFIED_TOKEN_SECRET,
          projectId,
        });
        return { jwt, room_name: room, project_id: projectId, room_url: wsUrl(room) };
      });

      // Sessions
      platform.get('/sessions', async () => {
        activeSessions();
        return { sessions: deps.sessions.list().map(sessionJson) };
      });

      platform.get('/sessions/active', async () => ({ sessions: activeSessions() }));

      platform.get('/sessions/:id', async (request) => {
        const { id } = request.params as { id: string };
        return sessionJson(requireSession(id));
      });

      platform.post('/sessions/:id/terminate', async (request) => {
        const { id } = request.params as { id: string };
        const record = requireSession(id);
        const live = deps.rooms.listRooms().find((room) => room.name === record.roomName);
        if (live?.active && live.sessionId === id) deps.rooms.endSession(record.roomName);
        return sessionJson(deps.sessions.get(id) ?? record);
      });

      // Webhooks (§A.7 plus `secret`, `scheme`, `header`)
      platform.post('/webhooks', async (request) => {
        const body = objectBody(request.body, 'webhook');
        const parsed = parseSubscriptionInput(body);
        // Like the platform, a webhook created without a secret gets one; `"secret": null` or `""` opts out.
        const secret = body['secret'] === undefined ? generateWebhookSecret(parsed.scheme) : parsed.secret;
        const subscription = deps.webhooks.create({ ...parsed, secret });
        // The secret is shown once, in this answer.
        return webhookJson(subscription, true);
      });

      platform.get('/webhooks', async () => ({ webhooks: deps.webhooks.list().map((subscription) => webhookJson(subscription, false)) }));

      platform.get('/webhooks/:id', async (request) => webhookJson(requireWebhook(deps.webhooks, request), false));

      platform.put('/webhooks/:id', async (request) => {
        const subscription = requireWebhook(deps.webhooks, request);
        const body = objectBody(request.body, 'webhook');
        const parsed = parseSubscriptionInput(body);
        // A PUT without `secret` keeps the current one.
        const updated = deps.webhooks.update(subscription.id, body['secret'] === undefined ? { ...parsed, secret: undefined } : parsed);
        return webhookJson(updated, false);
      });

      platform.delete('/webhooks/:id', async (request, reply) => {
        const subscription = requireWebhook(deps.webhooks, request);
        deps.webhooks.delete(subscription.id);
        return reply.code(204).send();
      });

      platform.get('/webhooks/:id/deliveries', async (request) => {
        const subscription = requireWebhook(deps.webhooks, request);
        return { deliveries: deps.webhooks.deliveries({ subscriptionId: subscription.id }).map(deliveryJson) };
      });

      platform.post('/webhooks/:id/ping', async (request, reply) => {
        const subscription = requireWebhook(deps.webhooks, request);
        const record = deps.webhooks.ping(subscription.id);
        return reply.code(202).send(record === undefined ? {} : deliveryJson(record));
      });
    },
    { prefix: PLATFORM_PREFIX },
  );

  // -------------------------------------------------------------------------------------------------
  // Emulator-only control routes (not part of MeshAgent)
  // -------------------------------------------------------------------------------------------------
  app.register(
    async (control) => {
      control.get('/rooms', async () => ({ rooms: deps.rooms.listRooms() }));

      control.post('/rooms/:room/start', async (request) => {
        const { room } = request.params as { room: string };
        parse(ROOM_NAME, room, 'room name');
        roomEntry(room);
        return { room: deps.rooms.startSession(room) };
      });

      registerRoomSwitchRoutes(control, deps.rooms, (room) => {
        parse(ROOM_NAME, room, 'room name');
        roomEntry(room);
      });

      control.post('/rooms/:room/end', async (request) => {
        const { room } = request.params as { room: string };
        requireRoom(room);
        const live = deps.rooms.listRooms().find((info) => info.name === room);
        if (!live?.active || !deps.rooms.endSession(room)) {
          throw new RoomrunnerError('RR_EMULATOR_SESSION_NOT_FOUND', `room ${JSON.stringify(room)} has no active session`, { data: { room } });
        }
        return { ended: true, session_id: live.sessionId };
      });

      control.post('/rooms/:room/participants/:pid/close', async (request) => {
        const { room, pid } = request.params as { room: string; pid: string };
        const body = parse(closeBody, request.body ?? {}, 'close body');
        requireRoom(room);
        if (!deps.rooms.closeParticipant(room, pid, body.code, body.reason)) throw noConnection(room, pid);
        return { closed: true, code: body.code };
      });

      control.post('/rooms/:room/participants/:pid/dismiss', async (request) => {
        const { room, pid } = request.params as { room: string; pid: string };
        requireRoom(room);
        if (!deps.rooms.dismiss(room, pid)) throw noConnection(room, pid);
        return { dismissed: true };
      });

      control.get('/events', async (request) => {
        const filter = parse(eventsQuery, request.query, 'query');
        const events = deps.rooms.events.filter((event) => {
          const fields = event as { room?: unknown; kind?: unknown; seq?: unknown };
          if (filter.room !== undefined && fields.room !== filter.room) return false;
          if (filter.kind !== undefined && fields.kind !== filter.kind) return false;
          if (filter.since !== undefined && !(typeof fields.seq === 'number' && fields.seq > filter.since)) return false;
          return true;
        });
        return { events };
      });

      control.get('/deliveries', async () => ({ deliveries: deps.webhooks.deliveries().map(deliveryJson) }));
    },
    { prefix: CONTROL_PREFIX },
  );
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route answers without a bearer token. */
    public?: boolean;
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

function sendError(reply: FastifyReply, error: RoomrunnerError, status = error.httpStatus): void {
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  if (error.code === 'RR_EMULATOR_UNAUTHORIZED') void reply.header('www-authenticate', 'Bearer');
  void reply.code(status).type('application/json').send(body);
}

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(result.error, what);
  return result.data;
}

function objectBody(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RoomrunnerError('RR_EMULATOR_BAD_REQUEST', `invalid ${what}: the body must be a JSON object`);
  }
  return body as Record<string, unknown>;
}

function requireWebhook(webhooks: WebhookSender, request: FastifyRequest): WebhookSubscription {
  const { id } = request.params as { id: string };
  const subscription = webhooks.get(id);
  if (subscription === undefined) throw new RoomrunnerError('RR_EMULATOR_WEBHOOK_NOT_FOUND', `no webhook with id ${JSON.stringify(id)}`, { data: { id } });
  return subscription;
}

function noConnection(room: string, participantId: string): RoomrunnerError {
  return new RoomrunnerError(
    'RR_EMULATOR_CONNECTION_NOT_FOUND',
    `no open connection for participant ${JSON.stringify(participantId)} in room ${JSON.stringify(room)}`,
    {
      data: { room, participantId },
    },
  );
}

/** `http(s)://host:port` → `ws(s)://host:port`, without a trailing slash. */
export function websocketBase(httpBase: string): string {
  return httpBase.replace(/^http/i, 'ws').replace(/\/+$/, '');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** `{user: 1, agent: 2}`: how many participants of each role are connected, as the SDKs type `participants`. */
function countsByRole(participants: unknown): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!Array.isArray(participants)) return counts;
  for (const participant of participants) {
    const role = (participant as { role?: unknown } | null)?.role;
    const key = typeof role === 'string' && role !== '' ? role : 'user';
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The room object of §F: `{id, name, metadata, annotations}`. */
function roomJson(entry: RoomEntry): Record<string, unknown> {
  return { id: entry.id, name: entry.name, metadata: entry.metadata, annotations: entry.annotations };
}

/** A webhook as §A.7 lists it, plus our fields; `secret` only when asked (the create answer). */
export function webhookJson(subscription: WebhookSubscription, withSecret: boolean): Record<string, unknown> {
  return {
    id: subscription.id,
    name: subscription.name,
    description: subscription.description,
    url: subscription.url,
    events: subscription.events,
    action: subscription.action,
    payload: subscription.payload,
    scheme: subscription.scheme,
    header: subscription.header,
    has_secret: subscription.secret !== null,
    created_at: subscription.createdAt,
    ...(withSecret ? { secret: subscription.secret } : {}),
  };
}

/** A delivery log entry in snake case, as the REST routes return it. */
export function deliveryJson(record: DeliveryRecord): Record<string, unknown> {
  return {
    id: record.id,
    webhook_id: record.subscriptionId,
    event: record.event,
    url: record.url,
    body: record.body,
    status: record.status,
    attempts: record.attempts.map((attempt) => ({ at: attempt.at, status: attempt.status, error: attempt.error, latency_ms: attempt.latencyMs })),
    created_at: record.createdAt,
    delivered_at: record.deliveredAt,
  };
}
