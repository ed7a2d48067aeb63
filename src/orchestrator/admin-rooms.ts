/**
 * The admin API over rooms (explicit dispatch, like LiveKit's CreateDispatch): list what this replica (and, when
 * the store coordinates replicas, every replica) holds or tried, attach a room now, detach one. Bearer-protected
 * like the deliveries routes, and off (403) without an admin token.
 *
 *   GET  /admin/rooms?q=&state=&trigger=&limit=&offset=   newest first; `total` counts every match
 *   POST /admin/rooms/:room/attach               as if room.started arrived now (a tombstone is cleared first)
 *   POST /admin/rooms/:room/detach               as if room.ended arrived now
 *   GET  /admin/replicas                         the replicas and their leases (coordinated stores only)
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';
import { requireBearerToken } from '../http/app.js';
import { describeIssues } from '../protocol/messages.js';
import type { ReplicaState } from '../store/coordinator.js';

/** One room as the admin API lists it. */
export interface AdminRoom {
  readonly room: string;
  /** attaching, attached, failed, detaching (held here), or pending/attached as the coordinator records it elsewhere. */
  readonly state: string;
  readonly trigger: string | null;
  /** The replica that holds it (null: unowned, waiting for a claim). */
  readonly owner: string | null;
  readonly epoch: number | null;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly since: string | null;
  readonly sessionId: string | null;
  readonly agents: readonly string[];
  readonly participantId: string | null;
}

export interface RoomAdminOptions {
  readonly adminToken: string | undefined;
  readonly list: () => Promise<AdminRoom[]>;
  /** Resolves with what happened, e.g. `attaching`, `duplicate`, `pending`. */
  readonly attach: (room: string) => Promise<string>;
  /** Resolves with what happened; throws RR_ADMIN_ROOM_NOT_FOUND for a room nobody holds. */
  readonly detach: (room: string) => Promise<string>;
  readonly replicas?: () => Promise<ReplicaState[]>;
}

const ListQuery = z.strictObject({
  q: z.string().optional(),
  state: z.string().optional(),
  trigger: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
/** Room names as the webhook path accepts them. */
const RoomParam = z
  .string()
  .min(1)
  .max(256)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse control characters
  .regex(/^[^\u0000-\u001f]+$/, 'must not contain control characters');

export function registerRoomAdminRoutes(app: FastifyInstance, options: RoomAdminOptions): void {
  if (options.adminToken === undefined) return; // the deliveries routes already answer 403 on /admin/*
  const preHandler = requireBearerToken(options.adminToken);

  app.get('/admin/rooms', { preHandler }, async (request) => {
    const parsed = ListQuery.safeParse(request.query);
    if (!parsed.success) throw new RoomrunnerError('RR_HTTP_BAD_REQUEST', `bad query: ${describeIssues(parsed.error)}`);
    const { q, state, trigger, limit, offset } = parsed.data;
    const needle = q?.trim().toLowerCase() ?? '';
    const matching = (await options.list())
      .filter((r) => (needle === '' || r.room.toLowerCase().includes(needle)) && (!state || r.state === state) && (!trigger || r.trigger === trigger))
      .sort((a, b) => (b.since ?? '').localeCompare(a.since ?? '') || a.room.localeCompare(b.room));
    return { total: matching.length, offset, limit, rooms: matching.slice(offset, offset + limit) };
  });

  app.post('/admin/rooms/:room/attach', { preHandler }, async (request) => {
    const room = roomParam(request.params);
    return { ok: true, room, result: await options.attach(room) };
  });

  app.post('/admin/rooms/:room/detach', { preHandler }, async (request) => {
    const room = roomParam(request.params);
    return { ok: true, room, result: await options.detach(room) };
  });

  app.get('/admin/replicas', { preHandler }, async () => {
    const replicas = (await options.replicas?.()) ?? [];
    return {
      replicas: replicas.map((r) => ({
        id: r.id,
        live: r.live,
        draining: r.draining,
        capacity: r.capacity,
        leaseExpiresAt: r.leaseExpiresAt.toISOString(),
        heartbeatAt: r.heartbeatAt.toISOString(),
        startedAt: r.startedAt.toISOString(),
      })),
    };
  });
}

function roomParam(params: unknown): string {
  const parsed = RoomParam.safeParse((params as { room?: unknown }).room);
  if (!parsed.success) throw new RoomrunnerError('RR_HTTP_BAD_REQUEST', `bad room name: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
