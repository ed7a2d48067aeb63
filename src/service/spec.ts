/**
 * The MeshAgent ServiceSpec (`version: v1`, `kind: Service`) as zod schemas, written from the platform's own
 * models (meshagent-api `specs/service.py`): the shape of a service manifest, of what the services REST takes,
 * and of `GET /.well-known/meshagent-service.json`. Objects are strict where the platform's are (`extra="forbid"`),
 * so a misspelt key is an error with its path, as the platform would report it. The ApiScope inside an endpoint
 * is loose, as the platform's is (unknown keys are ignored there).
 */
import { z } from 'zod';

/** Ports the platform keeps for the room's own infrastructure; a service may not claim them. */
export const RESERVED_SERVICE_PORTS: readonly number[] = [8078];

const annotations = z.record(z.string(), z.string()).nullish();
const positiveInt = z.number().int().positive();

/** The `agents` grant: every boolean defaults to true; `allowed_toolkits` limits what may be registered or called. */
export const AgentsGrantSchema = z.looseObject({
  register_agent: z.boolean().optional(),
  register_public_toolkit: z.boolean().optional(),
  register_private_toolkit: z.boolean().optional(),
  call: z.boolean().optional(),
  use_agents: z.boolean().optional(),
  use_tools: z.boolean().optional(),
  allowed_toolkits: z.array(z.string()).nullish(),
});

const grant = z.looseObject({}).nullish();

/** ApiScope: one optional grant per API surface; an absent surface is denied. */
export const ApiScopeSchema = z.looseObject({
  livekit: grant,
  queues: grant,
  messaging: grant,
  dataset: grant,
  sqlite: grant,
  memory: grant,
  sync: grant,
  storage: grant,
  containers: grant,
  developer: grant,
  agents: AgentsGrantSchema.nullish(),
  llm: grant,
  admin: grant,
  secrets: grant,
  tunnels: grant,
  services: grant,
});

export const MeshagentEndpointSpecSchema = z.strictObject({
  /** The participant name of the token handed to this endpoint. */
  identity: z.string(),
  /** The permissions of that token; omitted: the platform's default agent scope. */
  api: ApiScopeSchema.nullish(),
});

const oauthClientConfig = z.strictObject({
  client_id: z.string().nullish(),
  client_secret: z.string().nullish(),
  authorization_endpoint: z.string().nullish(),
  token_endpoint: z.string().nullish(),
  no_pkce: z.boolean().nullish(),
  scopes: z.array(z.string()).nullish(),
});

export const MCPEndpointSpecSchema = z.strictObject({
  label: z.string(),
  description: z.string().nullish(),
  allowed_tools: z.array(z.strictObject({ tool_names: z.array(z.string()).nullish(), read_only: z.boolean().nullish() })).nullish(),
  headers: z.record(z.string(), z.string()).nullish(),
  require_approval: z.enum(['always', 'never']).nullish(),
  oauth: oauthClientConfig.nullish(),
  openai_connector_id: z.string().nullish(),
  use_proxy_secret: z.string().nullish(),
});

export const EndpointSpecSchema = z.strictObject({
  /** The path that receives the service handoff (`room.call`) when the service starts in a room. */
  path: z.string(),
  meshagent: MeshagentEndpointSpecSchema.nullish(),
  mcp: MCPEndpointSpecSchema.nullish(),
  annotations,
});

export const PortSpecSchema = z.strictObject({
  num: z
    .union([z.literal('*'), positiveInt])
    .refine(
      (num) => num === '*' || !RESERVED_SERVICE_PORTS.includes(num),
      `service ports ${RESERVED_SERVICE_PORTS.join(', ')} are reserved for the room's infrastructure`,
    )
    .default('*'),
  host_port: positiveInt.nullish(),
  type: z.enum(['http', 'tcp']).nullish(),
  endpoints: z.array(EndpointSpecSchema).default([]),
  /** A path that answers 200 when the port is live. */
  liveness: z.string().nullish(),
  published: z.boolean().nullish(),
  public: z.boolean().nullish(),
  annotations,
});

const promptTemplate = z.strictObject({ name: z.string(), description: z.string().nullish(), prompt: z.string(), annotations });
const channelsSpec = z.strictObject({
  email: z.array(z.strictObject({ address: z.string(), private: z.boolean().optional(), annotations })).nullish(),
  messaging: z.array(z.strictObject({ protocol: z.string().optional(), prompts: z.array(promptTemplate).nullish(), annotations })).nullish(),
  queue: z
    .array(
      z.strictObject({
        queue: z.string(),
        threading_mode: z.literal('default-new').nullish(),
        message_schema: z.record(z.string(), z.unknown()).nullish(),
        annotations,
      }),
    )
    .nullish(),
  toolkit: z.array(z.strictObject({ name: z.string(), annotations })).nullish(),
});

export const AgentSpecSchema = z.strictObject({
  name: z.string(),
  description: z.string().nullish(),
  annotations,
  channels: channelsSpec.nullish(),
  email: z.strictObject({ address: z.string().refine((a) => a.trim() !== '', 'email.address must not be empty'), public: z.boolean().optional() }).nullish(),
  heartbeat: z
    .strictObject({
      queue: z.string(),
      thread_id: z.string().nullish(),
      prompt: z.array(z.unknown()).min(1, 'heartbeat requires prompt'),
      minutes: positiveInt,
    })
    .nullish(),
});

export const ServiceMetadataSchema = z.strictObject({
  name: z.string(),
  description: z.string().nullish(),
  repo: z.string().nullish(),
  icon: z.string().nullish(),
  annotations,
});

const tokenValue = z.strictObject({ identity: z.string(), api: ApiScopeSchema.nullish(), role: z.enum(['user', 'agent', 'tool']).nullish() });
const secretValue = z.strictObject({ id: z.string() });

export const EnvironmentVariableSchema = z.strictObject({
  name: z.string(),
  value: z.string().nullish(),
  token: tokenValue.nullish(),
  secret: secretValue.nullish(),
});

const mount = {
  room: z.array(z.strictObject({ path: z.string(), subpath: z.string().nullish(), read_only: z.boolean().optional() })).nullish(),
  volumes: z.array(z.strictObject({ name: z.string(), path: z.string(), subpath: z.string().nullish(), read_only: z.boolean().optional() })).nullish(),
  images: z.array(z.strictObject({ image: z.string(), path: z.string(), subpath: z.string().nullish(), read_only: z.boolean().optional() })).nullish(),
  files: z.array(z.strictObject({ path: z.string(), text: z.string(), read_only: z.boolean().optional() })).nullish(),
  empty_dirs: z.array(z.strictObject({ path: z.string(), read_only: z.boolean().optional() })).nullish(),
  configs: z.array(z.strictObject({ path: z.string().optional() })).nullish(),
};

export const ContainerSpecSchema = z
  .strictObject({
    image: z.string(),
    run_as: z
      .strictObject({ email: z.string().refine((e) => e.trim() !== '', 'run_as.email must not be empty'), scopes: z.array(z.string()).optional() })
      .nullish(),
    template: z.enum(['agent', 'none']).nullish(),
    command: z.string().nullish(),
    working_dir: z.string().nullish(),
    pull_secret: secretValue.nullish(),
    environment: z.array(EnvironmentVariableSchema).nullish(),
    storage: z.strictObject(mount).nullish(),
    on_demand: z.boolean().nullish(),
    writable_root_fs: z.boolean().nullish(),
    private: z.boolean().optional(),
  })
  .refine((c) => c.run_as != null || !(c.environment ?? []).some((env) => env.secret != null), {
    message: 'container.run_as is required when using SecretValue',
    path: ['run_as'],
  });

export const ExternalServiceSpecSchema = z.strictObject({
  /** Where the platform reaches the service: endpoint paths are appended to it. */
  url: z.string().nullish(),
});

export const ServiceSpecSchema = z.strictObject({
  version: z.literal('v1'),
  kind: z.literal('Service'),
  id: z.string().nullish(),
  enabled: z.boolean().default(true),
  metadata: ServiceMetadataSchema,
  agents: z.array(AgentSpecSchema).nullish(),
  ports: z
    .array(PortSpecSchema)
    .nullish()
    .transform((ports) => ports ?? []),
  files: z.array(z.strictObject({ path: z.string(), text: z.string() })).nullish(),
  container: ContainerSpecSchema.nullish(),
  external: ExternalServiceSpecSchema.nullish(),
});

export type ServiceSpec = z.output<typeof ServiceSpecSchema>;
export type ServiceSpecInput = z.input<typeof ServiceSpecSchema>;
export type PortSpec = z.output<typeof PortSpecSchema>;
export type EndpointSpec = z.output<typeof EndpointSpecSchema>;
