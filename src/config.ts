/**
 * All settings in one zod schema (docs/architecture.md §Style 7). This is the only module that reads `process.env`; CLI
 * flags override env vars; the result is frozen. Every error names the env var and the flag that fix it.
 */
import { z } from 'zod';
import { RoomrunnerError } from './errors.js';
import { ApiScopeSchema } from './service/spec.js';
import { DEFAULT_TOKEN_TTL_MS } from './auth/token.js';
import { DEFAULT_HTTP_LIMITS, type HttpServerLimits } from './http/server-limits.js';
import { SIGNATURE_SCHEMES } from './webhooks/signatures/index.js';

type Env = Record<string, string | undefined>;

/** One setting: its env vars (first set wins), its flag, its schema. */
interface Setting {
  env: readonly string[];
  flag?: string;
  schema: z.ZodType;
  doc: string;
}

const bool = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no', ''])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes');
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const list = z.union([z.array(z.string()), z.string()]).transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean));
const url = z.string().url();
/** A JSON object given as text (env var, flag) or as an object (options). */
const jsonObject = z.union([z.record(z.string(), z.unknown()), z.string()]).transform((v, ctx) => {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
    return z.NEVER;
  }
});

/**
 * The least ApiScope roomrunner's agents need: the `agents` surface to register their toolkits and answer
 * calls (register_agent, use_agents and use_tools off). Asked for in the service descriptor and manifests.
 */
export const DEFAULT_SERVICE_API_SCOPE = Object.freeze({ agents: Object.freeze({ register_agent: false, use_agents: false, use_tools: false }) });

export { SIGNATURE_SCHEMES };

/** pino levels, most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * The settings table. The README's "Configuration" section lists the same rows; test/config.test.ts checks
 * that every env var here is documented there.
 */
export const SETTINGS = {
  port: { env: ['MESHAGENT_PORT', 'PORT'], flag: '--port', schema: int(0, 65535).default(8080), doc: 'HTTP port of the webhook server.' },
  host: { env: ['MESHAGENT_HOST'], flag: '--host', schema: z.string().min(1).default('0.0.0.0'), doc: 'Address the webhook server binds.' },
  webhookSecrets: {
    env: ['MESHAGENT_WEBHOOK_SECRET'],
    flag: '--webhook-secret',
    schema: list.default([]),
    doc: 'Webhook signing secret(s); comma-separated to accept several during a rotation.',
  },
  signatureSchemes: {
    env: ['ROOMRUNNER_SIGNATURE_SCHEMES'],
    flag: '--signature-schemes',
    schema: list.pipe(z.array(z.enum(SIGNATURE_SCHEMES)).min(1)).default([...SIGNATURE_SCHEMES]),
    doc: 'Signature schemes accepted: meshagent, standard-webhooks, hmac-sha256 (comma-separated; default all).',
  },
  hmacHeader: {
    env: ['ROOMRUNNER_HMAC_HEADER'],
    flag: '--hmac-header',
    schema: z.string().min(1).default('x-meshia-signature'),
    doc: 'Header carrying `sha256=<hex>` signatures.',
  },
  insecure: { env: ['ROOMRUNNER_INSECURE'], flag: '--insecure', schema: bool.default(false), doc: 'Accept unsigned webhooks (local work only).' },
  bodyLimitBytes: {
    env: ['ROOMRUNNER_BODY_LIMIT_BYTES'],
    flag: '--body-limit',
    schema: int(1).default(1024 * 1024),
    doc: 'Largest webhook body; larger ones get 413.',
  },
  headersTimeoutMs: {
    env: ['ROOMRUNNER_HEADERS_TIMEOUT_MS'],
    flag: '--headers-timeout-ms',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.headersTimeoutMs),
    doc: "Time a client has to send a request's headers (at most the request timeout); then 408 and the connection is closed.",
  },
  requestTimeoutMs: {
    env: ['ROOMRUNNER_REQUEST_TIMEOUT_MS'],
    flag: '--request-timeout-ms',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.requestTimeoutMs),
    doc: 'Time a client has to send a whole request, body included; then 408, the connection is closed and the partial body dropped.',
  },
  idleTimeoutMs: {
    env: ['ROOMRUNNER_IDLE_TIMEOUT_MS'],
    flag: '--idle-timeout-ms',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.idleTimeoutMs),
    doc: 'A connection with no traffic either way this long is closed (e.g. a client that stopped reading the answer).',
  },
  keepAliveTimeoutMs: {
    env: ['ROOMRUNNER_KEEP_ALIVE_TIMEOUT_MS'],
    flag: '--keep-alive-timeout-ms',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs),
    doc: "Idle time allowed between two requests on one keep-alive connection (keep it above your load balancer's idle timeout).",
  },
  maxRequestsPerSocket: {
    env: ['ROOMRUNNER_MAX_REQUESTS_PER_SOCKET'],
    flag: '--max-requests-per-socket',
    schema: int(0).default(DEFAULT_HTTP_LIMITS.maxRequestsPerSocket),
    doc: 'Requests one connection may carry before it is closed (0 = no limit).',
  },
  maxConnections: {
    env: ['ROOMRUNNER_MAX_CONNECTIONS'],
    flag: '--max-connections',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.maxConnections),
    doc: 'Open HTTP connections; a new one beyond it closes the longest idle (else the slowest unfinished) connection, so webhooks and health checks still get in.',
  },
  dedupeWindowMs: {
    env: ['ROOMRUNNER_DEDUPE_WINDOW_MS'],
    schema: int(0).default(60_000),
    doc: 'How long the same MeshAgent or HMAC body counts as a retry of one delivery (default 60 s; a room that starts again sends the same bytes).',
  },
  ledgerRetentionMs: {
    env: ['ROOMRUNNER_LEDGER_RETENTION_MS'],
    schema: int(60_000).default(7 * 24 * 3600 * 1000),
    doc: 'How long deliveries, tombstones and dead replicas are kept, and a Standard Webhooks webhook-id is remembered as a duplicate (default 7 days).',
  },
  redispatchAfterMs: {
    env: ['ROOMRUNNER_REDISPATCH_AFTER_MS'],
    schema: int(1000).default(60_000),
    doc: 'A delivery still pending this long (its outcome never recorded) is dispatched again; also the period of that sweep (default 60 s).',
  },
  apiUrl: {
    env: ['MESHAGENT_API_URL'],
    flag: '--api-url',
    schema: url.default('https://api.meshagent.com'),
    doc: 'Platform base URL (REST and `<url>/rooms/<room>` websockets).',
  },
  apiKey: {
    env: ['MESHAGENT_API_KEY'],
    flag: '--api-key',
    schema: z.string().optional(),
    doc: '`ma-…` API key: signs participant tokens and authenticates REST calls.',
  },
  secret: { env: ['MESHAGENT_SECRET'], flag: '--secret', schema: z.string().optional(), doc: 'Token signing secret when no API key is set.' },
  projectId: {
    env: ['MESHAGENT_PROJECT_ID'],
    flag: '--project-id',
    schema: z.string().optional(),
    doc: 'Project id (taken from the API key when one is set).',
  },
  roomHosts: {
    env: ['ROOMRUNNER_ROOM_HOSTS'],
    flag: '--room-hosts',
    schema: list.default([]),
    doc: "Room hosts a webhook's room_url may name besides MESHAGENT_API_URL's origin: origins (`wss://rooms.example.com`) or bare hosts (wss only), comma-separated.",
  },
  tokenTtlMs: {
    env: ['ROOMRUNNER_TOKEN_TTL_MS'],
    flag: '--token-ttl-ms',
    schema: int(60_000).default(DEFAULT_TOKEN_TTL_MS),
    doc: 'Lifetime of the participant tokens roomrunner mints (their `exp`); each connection attempt mints a new one.',
  },
  databaseUrl: {
    env: ['DATABASE_URL'],
    flag: '--database-url',
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    doc: 'PostgreSQL URL: the store for several replicas. Unset: the embedded store in process (ROOMRUNNER_STORE, ROOMRUNNER_DATA_DIR).',
  },
  dataDir: {
    env: ['ROOMRUNNER_DATA_DIR'],
    flag: '--data-dir',
    schema: z.string().min(1).default('.roomrunner'),
    doc: 'Embedded store directory when DATABASE_URL is unset (`roomrunner.sqlite` in it); `memory://` keeps nothing on disk.',
  },
  store: {
    env: ['ROOMRUNNER_STORE'],
    flag: '--store',
    schema: z.enum(['auto', 'sqlite', 'pglite']).default('auto'),
    doc: 'Embedded store engine when DATABASE_URL is unset: `sqlite` (durable; `auto` where Node has node:sqlite) or `pglite` (NOT durable against power loss; `auto` on older Node).',
  },
  replicaId: {
    env: ['ROOMRUNNER_REPLICA_ID'],
    flag: '--replica-id',
    schema: z.string().min(1).optional(),
    doc: "This process's replica id (default: `<host>-sqlite` / `<host>-pglite` on the embedded stores, so a restart takes its rooms back at once; host name + pid + random on PostgreSQL).",
  },
  leaseMs: {
    env: ['ROOMRUNNER_LEASE_MS'],
    flag: '--lease-ms',
    schema: int(1000).default(10_000),
    doc: 'Room ownership lease; a replica that stops renewing loses its rooms after it.',
  },
  heartbeatIntervalMs: {
    env: ['ROOMRUNNER_HEARTBEAT_INTERVAL_MS'],
    flag: '--heartbeat-interval-ms',
    schema: int(100).optional(),
    doc: 'How often a replica renews its lease (default a quarter of the lease, at most 2.5 s; at most half the lease).',
  },
  identity: {
    env: ['ROOMRUNNER_IDENTITY'],
    flag: '--identity',
    schema: z.string().min(1).default('roomrunner'),
    doc: 'Participant name roomrunner joins rooms as.',
  },
  apiScope: {
    env: ['ROOMRUNNER_API_SCOPE'],
    flag: '--api-scope',
    schema: jsonObject.pipe(ApiScopeSchema).default(DEFAULT_SERVICE_API_SCOPE),
    doc: 'ApiScope JSON the service asks the platform for (service descriptor); default `agents` with register-toolkit and call only.',
  },
  serviceName: {
    env: ['ROOMRUNNER_SERVICE_NAME'],
    flag: '--service-name',
    schema: z.string().min(1).default('roomrunner'),
    doc: 'Service name in the service descriptor (`metadata.name`).',
  },
  publicUrl: {
    env: ['ROOMRUNNER_PUBLIC_URL'],
    flag: '--public-url',
    schema: url.optional(),
    doc: 'Where the platform reaches this service (`external.url` of the service descriptor), e.g. wss://roomrunner.example.com.',
  },
  participantToken: {
    env: ['MESHAGENT_TOKEN'],
    schema: z.string().min(1).optional(),
    doc: 'Container mode (`roomrunner join` without --room): the participant token the platform injects.',
  },
  containerRoom: { env: ['MESHAGENT_ROOM'], schema: z.string().min(1).optional(), doc: 'Container mode: the room the platform started this container for.' },
  roomBaseUrl: {
    env: ['MESHAGENT_ROOM_URL'],
    schema: url.optional(),
    doc: 'Container mode: the room server base URL (the room is `<url>/rooms/<room>`); default MESHAGENT_API_URL.',
  },
  sessionId: { env: ['MESHAGENT_SESSION_ID'], schema: z.string().min(1).optional(), doc: 'Container mode: the room session this container serves (logged).' },
  agentsDir: { env: ['ROOMRUNNER_AGENTS'], flag: '--agents', schema: z.string().min(1).default('agents'), doc: 'Folder the agents are loaded from.' },
  maxRooms: { env: ['ROOMRUNNER_MAX_ROOMS'], flag: '--max-rooms', schema: int(1).default(1000), doc: 'Hard cap on rooms attached by this process.' },
  joinAttemptTimeoutMs: {
    env: ['ROOMRUNNER_JOIN_ATTEMPT_TIMEOUT_MS'],
    schema: int(1).default(15_000),
    doc: 'Bound on one join attempt (connect, room_ready, wait for a join slot, registration); a slower attempt is given up and retried.',
  },
  reconnectResetMs: {
    env: ['ROOMRUNNER_RECONNECT_RESET_MS'],
    schema: int(0).default(30_000),
    doc: 'How long a room connection must stay up before its reconnect backoff starts again from 0.5 s.',
  },
  reconcileIntervalMs: {
    env: ['ROOMRUNNER_RECONCILE_INTERVAL_MS'],
    flag: '--reconcile-interval-ms',
    schema: int(0).default(30_000),
    doc: 'Period of reconciliation with the platform (0 = only at start-up).',
  },
  drainTimeoutMs: {
    env: ['ROOMRUNNER_DRAIN_TIMEOUT_MS'],
    flag: '--drain-timeout-ms',
    schema: int(0).default(10_000),
    doc: 'Bound on the graceful drain at SIGTERM/SIGINT.',
  },
  adminToken: {
    env: ['ROOMRUNNER_ADMIN_TOKEN'],
    flag: '--admin-token',
    schema: z.string().min(8).optional(),
    doc: 'Bearer token guarding /status and the admin API (open when unset).',
  },
  mcp: { env: ['ROOMRUNNER_MCP'], flag: '--mcp', schema: bool.default(false), doc: 'Serve the hosted agents as MCP tools at /mcp (streamable HTTP).' },
  mcpToken: {
    env: ['ROOMRUNNER_MCP_TOKEN'],
    flag: '--mcp-token',
    schema: z.string().min(8).optional(),
    doc: 'Bearer token every /mcp request must carry; required with ROOMRUNNER_MCP unless --insecure.',
  },
  logLevel: { env: ['LOG_LEVEL'], flag: '--log-level', schema: z.enum(LOG_LEVELS).default('info'), doc: 'pino log level.' },
  logPretty: { env: ['ROOMRUNNER_LOG_PRETTY'], schema: bool.optional(), doc: 'Force pretty (1) or JSON (0) logs; default pretty on a terminal.' },
} as const satisfies Record<string, Setting>;

type Settings = typeof SETTINGS;
export type Config = Readonly<{ [K in keyof Settings]: z.output<Settings[K]['schema']> }>;
export type ConfigOverrides = Partial<{ [K in keyof Settings]: z.input<Settings[K]['schema']> }>;

/**
 * Build the configuration from env vars and flag values (flags win). Throws RR_CONFIG_INVALID naming the env
 * var and flag of every bad value.
 */
export function loadConfig(overrides: ConfigOverrides = {}, env: Env = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, setting] of Object.entries(SETTINGS) as Array<[keyof Settings, Setting]>) {
    const fromFlag = (overrides as Record<string, unknown>)[key];
    const envName = setting.env.find((name) => env[name] !== undefined && env[name] !== '');
    const raw = fromFlag !== undefined ? fromFlag : envName ? env[envName] : undefined;
    const result = setting.schema.safeParse(raw);
    if (result.success) {
      out[key] = result.data;
    } else {
      const source = fromFlag !== undefined ? `flag ${setting.flag ?? key}` : `env ${envName}`;
      const fix = [setting.env.join(' or '), setting.flag].filter(Boolean).join(' / ');
      problems.push(`${source}: ${result.error.issues.map((i) => i.message).join('; ')} (set ${fix}: ${setting.doc})`);
    }
  }
  if (problems.length > 0) {
    throw new RoomrunnerError('RR_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, { data: { problems } });
  }
  return Object.freeze(out) as Config;
}

/** The HTTP server's timeouts and connection bounds, taken from a config (see src/http/server-limits.ts). */
export function httpLimits(config: Config): HttpServerLimits {
  const { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs, keepAliveTimeoutMs, maxRequestsPerSocket, maxConnections } = config;
  return { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs, keepAliveTimeoutMs, maxRequestsPerSocket, maxConnections };
}

/** The env vars a participant token minter needs, taken from a config (see src/auth/token.ts). */
export function tokenEnv(config: Config): Env {
  return { MESHAGENT_API_KEY: config.apiKey, MESHAGENT_SECRET: config.secret, MESHAGENT_PROJECT_ID: config.projectId };
}
