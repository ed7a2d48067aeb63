/**
 * The service descriptor: `GET /.well-known/meshagent-service.json` answers a ServiceSpec (./spec.ts) built
 * from the configuration, as MeshAgent's Python `ServiceHost` serves one, so `meshagent` tooling and a person
 * can see what this service offers: one port with a meshagent endpoint per webhook path (identity and API
 * scope the platform should mint the handoff token with), an `mcp` endpoint when the agents are also served
 * over MCP (src/mcp), the agents it hosts, and where to reach it.
 */
import type { FastifyInstance } from 'fastify';
import type { Toolkit } from '../agents/define-agent.js';
import { mcpEntries } from '../mcp/mcp-entries.js';
import { ServiceSpecSchema, type ServiceSpec } from './spec.js';

/** Where the descriptor is served (the path the platform's tooling reads). */
export const SERVICE_DESCRIPTOR_PATH = '/.well-known/meshagent-service.json';

export interface ServiceDescriptorOptions {
  /** `metadata.name`. */
  readonly name: string;
  readonly description?: string;
  /** The webhook paths: each becomes a meshagent endpoint that receives the room.call handoff. */
  readonly paths: readonly string[];
  /** Participant name the platform should mint the handoff token for. */
  readonly identity: string;
  /** ApiScope of that token. */
  readonly api: Readonly<Record<string, unknown>>;
  /** The agents hosted in every room; each is listed with its toolkit. */
  readonly agents?: readonly Toolkit[];
  /**
   * The MCP endpoint's path when it is on: listed as an `mcp` endpoint on the same port. Its bearer token is
   * not in the descriptor (it is public); whoever adds the endpoint to a platform gives the token there.
   */
  readonly mcpPath?: string;
  /** `external.url`: where the platform reaches this service; omitted when unknown. */
  readonly externalUrl?: string;
}

/** The ServiceSpec of this service, validated against the schema (a bad identity or scope throws here). */
export function buildServiceDescriptor(options: ServiceDescriptorOptions): ServiceSpec {
  const agents = (options.agents ?? []).map((toolkit) => ({
    name: toolkit.name,
    ...(toolkit.description ? { description: toolkit.description } : {}),
    channels: { toolkit: [{ name: toolkit.name }] },
  }));
  return ServiceSpecSchema.parse({
    version: 'v1',
    kind: 'Service',
    metadata: { name: options.name, ...(options.description ? { description: options.description } : {}) },
    ...(agents.length > 0 ? { agents } : {}),
    ports: [
      {
        num: '*',
        type: 'http',
        liveness: '/',
        endpoints: [
          ...options.paths.map((path) => ({ path, meshagent: { identity: options.identity, api: options.api } })),
          ...(options.mcpPath === undefined
            ? []
            : [{ path: options.mcpPath, mcp: { label: options.name, description: mcpDescription(options.agents ?? []) } }]),
        ],
      },
    ],
    ...(options.externalUrl ? { external: { url: options.externalUrl } } : {}),
  });
}

/** What the MCP endpoint offers, by MCP tool name, in one line for whoever picks MCP servers. */
function mcpDescription(agents: readonly Toolkit[]): string {
  return `roomrunner agents as MCP tools: ${[...mcpEntries(agents).keys()].join(', ')}`;
}

/** Registers `GET /.well-known/meshagent-service.json` answering `descriptor` (computed once). */
export function registerServiceDescriptor(app: FastifyInstance, descriptor: ServiceSpec): void {
  const body = JSON.stringify(descriptor);
  app.get(SERVICE_DESCRIPTOR_PATH, async (_request, reply) => reply.type('application/json; charset=utf-8').send(body));
}
