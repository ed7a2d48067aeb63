/**
 * Project services in the emulator: the REST the TypeScript SDK calls (`Meshagent#createService`,
 * `listServices`, `getService`, `updateService`, `deleteService`, and the `…RoomService` ones), project-wide at
 * `/accounts/projects/{p}/services` and per room at `/accounts/projects/{p}/rooms/{room}/services`. Bodies are
 * validated as ServiceSpecs (src/service/spec.ts), so a misspelt key gets a 400 naming it. What a started
 * session does with the services is ./service-handoffs.ts.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RoomrunnerError } from '../errors.js';
import { ServiceSpecSchema, type ServiceSpec } from '../service/spec.js';
import { badRequest } from './webhook-sender.js';

/** A stored service: its spec (with `id`), and the room it belongs to (null: project-wide). */
export interface StoredService {
  readonly room: string | null;
  readonly spec: ServiceSpec & { readonly id: string };
}

/** The services of one project: project-wide ones and each room's own. */
export class ServiceRegistry {
  readonly #services = new Map<string, StoredService>();
  readonly #newId: () => string;

  constructor(options: { newId?: () => string } = {}) {
    this.#newId = options.newId ?? randomUUID;
  }

  /**
   * Store a new service (project-wide, or in `room`). Any `id` in the body is replaced, as the SDK drops it.
   * @throws RoomrunnerError `RR_EMULATOR_BAD_REQUEST` naming the bad field.
   */
  create(body: unknown, room: string | null = null): StoredService {
    const spec = parseSpec(body);
    const id = this.#newId();
    const stored: StoredService = { room, spec: { ...spec, id } };
    this.#services.set(id, stored);
    return stored;
  }

  /** Replace a service's spec (its id stays). @throws `RR_EMULATOR_SERVICE_NOT_FOUND`, `RR_EMULATOR_BAD_REQUEST`. */
  update(id: string, body: unknown, room: string | null = null): StoredService {
    this.get(id, room);
    const stored: StoredService = { room, spec: { ...parseSpec(body), id } };
    this.#services.set(id, stored);
    return stored;
  }

  /** @throws RoomrunnerError `RR_EMULATOR_SERVICE_NOT_FOUND` when there is no such service in that scope. */
  get(id: string, room: string | null = null): StoredService {
    const stored = this.#services.get(id);
    if (stored === undefined || stored.room !== room) {
      const where = room === null ? 'in this project' : `in room ${JSON.stringify(room)}`;
      throw new RoomrunnerError('RR_EMULATOR_SERVICE_NOT_FOUND', `no service with id ${JSON.stringify(id)} ${where}`, { data: { id, room } });
    }
    return stored;
  }

  /** Project-wide services (`room` null), or those of one room. */
  list(room: string | null = null): StoredService[] {
    return [...this.#services.values()].filter((stored) => stored.room === room);
  }

  /** @throws RoomrunnerError `RR_EMULATOR_SERVICE_NOT_FOUND`. */
  delete(id: string, room: string | null = null): void {
    this.get(id, room);
    this.#services.delete(id);
  }

  /** The enabled services that run in every session of `room`: the project's, then the room's own. */
  forRoom(room: string): StoredService[] {
    return [...this.list(null), ...this.list(room)].filter((stored) => stored.spec.enabled);
  }
}

function parseSpec(body: unknown): ServiceSpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RoomrunnerError('RR_EMULATOR_BAD_REQUEST', 'invalid service: the body must be a ServiceSpec JSON object');
  }
  // The id is the emulator's to give (the SDK drops it on create and puts it in the path on update).
  const { id: _id, ...spec } = body as Record<string, unknown>;
  const result = ServiceSpecSchema.safeParse(spec);
  if (!result.success) throw badRequest(result.error, 'service');
  return result.data;
}

export interface ServiceRoutesOptions {
  readonly services: ServiceRegistry;
  /** When set, paths must name this project (404 `RR_EMULATOR_PROJECT_NOT_FOUND` otherwise). */
  readonly projectId?: string | undefined;
}

/**
 * Registers the services REST on the emulator's app (its auth hook and error mapping apply). Answers as the
 * SDK reads them: create → `{id}`, list → `{services: [...]}`, get → the spec, update/delete → `{}`.
 */
export function registerServiceRoutes(app: FastifyInstance, options: ServiceRoutesOptions): void {
  const { services } = options;
  const scope = (request: FastifyRequest): { id: string; room: string | null } => {
    const params = request.params as { projectId: string; room?: string; id?: string };
    if (options.projectId !== undefined && options.projectId !== '' && params.projectId !== options.projectId) {
      throw new RoomrunnerError('RR_EMULATOR_PROJECT_NOT_FOUND', `this emulator serves project ${options.projectId}, not ${params.projectId}`, {
        data: { projectId: params.projectId },
      });
    }
    return { id: params.id ?? '', room: params.room ?? null };
  };
  for (const base of ['/accounts/projects/:projectId/services', '/accounts/projects/:projectId/rooms/:room/services']) {
    app.post(base, async (request) => ({ id: services.create(request.body, scope(request).room).spec.id }));
    app.get(base, async (request) => ({ services: services.list(scope(request).room).map((stored) => stored.spec) }));
    app.get(`${base}/:id`, async (request) => {
      const { id, room } = scope(request);
      return services.get(id, room).spec;
    });
    app.put(`${base}/:id`, async (request) => {
      const { id, room } = scope(request);
      services.update(id, request.body, room);
      return {};
    });
    app.delete(`${base}/:id`, async (request) => {
      const { id, room } = scope(request);
      services.delete(id, room);
      return {};
    });
  }
}
