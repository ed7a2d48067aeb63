/**
 * All settings in one table of zod schemas (docs/architecture.md §Style 7). `loadConfig` turns env vars and flag
 * values into one frozen `Config` (flags win); every error names the env var and the flag that fix it. The CLI's
 * flags, their help lines and the README's table are generated from the same table (src/cli/config-flags.ts).
 */
import { z } from 'zod';
import { RoomrunnerError } from './errors.js';
import { ApiScopeSchema } from './service/spec.js';
import { DEFAULT_TOKEN_TTL_MS } from './auth/token.js';
import { DEFAULT_HTTP_LIMITS, type HttpServerLimits } from './http/server-limits.js';
import { SIGNATURE_SCHEMES } from './webhooks/signatures/index.js';

type Env = Record<string, string | undefined>;

/** One setting: its env vars (first set wins), its flag, its schema and how it is documented. */
export interface Setting {
  readonly env: readonly string[];
  /** The CLI flag (`--port`); settings without one are set by env var (or option) only. */
  readonly flag?: string;
  /** Shown after a string flag in `--help`, e.g. `<ms>`. */
  readonly placeholder?: string;
  readonly schema: z.ZodType;
  /** The README's "what it sets" (markdown: code spans, links to README sections). */
  readonly doc: string;
  /** The flag's one line in `--help` (flagged settings). */
  readonly help?: string;
  /** The default in words (markdown), where the schema's default value does not say it. */
  readonly defaultText?: string;
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
 * The settings table: the one declaration of every setting. Env parsing (`loadConfig`), the CLI's flags and
 * their `--help` lines (src/cli/config-flags.ts) and the README's "Configuration" table (`npm run docs:settings`,
 * checked by test/cli/config-flags.test.ts) are all generated from it.
 */
export const SETTINGS = {
  port: {
    env: ['MESHAGENT_PORT', 'PORT'],
    flag: '--port',
    placeholder: '<port>',
    schema: int(0, 65535).default(8080),
    doc: 'HTTP port of the webhook server',
    help: 'HTTP port (also PORT).',
  },
  host: {
    env: ['MESHAGENT_HOST'],
    flag: '--host',
    placeholder: '<host>',
    schema: z.string().min(1).default('0.0.0.0'),
    doc: 'address the webhook server binds',
    help: 'Address to bind.',
  },
  webhookSecrets: {
    env: ['MESHAGENT_WEBHOOK_SECRET'],
    flag: '--webhook-secret',
    placeholder: '<s[,s2]>',
    schema: list.default([]),
    defaultText: '— (required unless `--insecure`)',
    doc: 'webhook secret(s); comma-separated to accept several during a rotation',
    help: 'Webhook secret(s), comma-separated for a rotation.',
  },
  signatureSchemes: {
    env: ['ROOMRUNNER_SIGNATURE_SCHEMES'],
    flag: '--signature-schemes',
    placeholder: '<list>',
    schema: list.pipe(z.array(z.enum(SIGNATURE_SCHEMES)).min(1)).default([...SIGNATURE_SCHEMES]),
    defaultText: 'all',
    doc: `accepted schemes, comma-separated: ${SIGNATURE_SCHEMES.map((s) => `\`${s}\``).join(', ')}`,
    help: `${SIGNATURE_SCHEMES.join(', ')}.`,
  },
  hmacHeader: {
    env: ['ROOMRUNNER_HMAC_HEADER'],
    flag: '--hmac-header',
    placeholder: '<name>',
    schema: z.string().min(1).default('x-meshia-signature'),
    doc: 'header carrying `sha256=<hex>` signatures',
    help: 'Header of sha256=<hex> signatures.',
  },
  insecure: {
    env: ['ROOMRUNNER_INSECURE'],
    flag: '--insecure',
    schema: bool.default(false),
    doc: 'accept unsigned webhooks (local work only)',
    help: 'Accept unsigned webhooks (local work only).',
  },
  bodyLimitBytes: {
    env: ['ROOMRUNNER_BODY_LIMIT_BYTES'],
    flag: '--body-limit',
    placeholder: '<bytes>',
    schema: int(1).default(1024 * 1024),
    doc: 'largest webhook body; larger ones get 413',
    help: 'Largest webhook body.',
  },
  headersTimeoutMs: {
    env: ['ROOMRUNNER_HEADERS_TIMEOUT_MS'],
    flag: '--headers-timeout-ms',
    placeholder: '<ms>',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.headersTimeoutMs),
    doc: "time a client has to send a request's headers (capped at the request timeout); then 408 and the connection is closed",
    help: 'Time to send request headers.',
  },
  requestTimeoutMs: {
    env: ['ROOMRUNNER_REQUEST_TIMEOUT_MS'],
    flag: '--request-timeout-ms',
    placeholder: '<ms>',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.requestTimeoutMs),
    doc: 'time a client has to send a whole request, body included; then 408, the connection is closed and the partial body dropped',
    help: 'Time to send a whole request.',
  },
  idleTimeoutMs: {
    env: ['ROOMRUNNER_IDLE_TIMEOUT_MS'],
    flag: '--idle-timeout-ms',
    placeholder: '<ms>',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.idleTimeoutMs),
    doc: 'a connection with no traffic either way this long is closed (e.g. a client that stopped reading its answer)',
    help: 'Close a silent connection after.',
  },
  keepAliveTimeoutMs: {
    env: ['ROOMRUNNER_KEEP_ALIVE_TIMEOUT_MS'],
    flag: '--keep-alive-timeout-ms',
    placeholder: '<ms>',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs),
    doc: "idle time between two requests on a keep-alive connection; keep it above your load balancer's idle timeout",
    help: 'Idle time between keep-alive requests.',
  },
  maxRequestsPerSocket: {
    env: ['ROOMRUNNER_MAX_REQUESTS_PER_SOCKET'],
    flag: '--max-requests-per-socket',
    placeholder: '<n>',
    schema: int(0).default(DEFAULT_HTTP_LIMITS.maxRequestsPerSocket),
    doc: 'requests one connection may carry before it is closed (0 = no limit)',
    help: 'Requests per connection (0 = no limit).',
  },
  maxConnections: {
    env: ['ROOMRUNNER_MAX_CONNECTIONS'],
    flag: '--max-connections',
    placeholder: '<n>',
    schema: int(1).default(DEFAULT_HTTP_LIMITS.maxConnections),
    doc: 'open HTTP connections; a new one beyond it closes the longest idle (else the slowest unfinished) connection, so webhooks and health checks still get in',
    help: 'Open HTTP connections.',
  },
  dedupeWindowMs: {
    env: ['ROOMRUNNER_DEDUPE_WINDOW_MS'],
    schema: int(0).default(60_000),
    doc: "how long the same MeshAgent or HMAC body counts as the sender's retry of one delivery (a room that starts again sends the same bytes; see [dedupe](#dedupe-and-replays))",
  },
  ledgerRetentionMs: {
    env: ['ROOMRUNNER_LEDGER_RETENTION_MS'],
    schema: int(60_000).default(7 * 24 * 3600 * 1000),
    doc: 'how long deliveries, tombstones and dead replicas are kept, and a Standard Webhooks `webhook-id` is a duplicate (at least 60000)',
  },
  redispatchAfterMs: {
    env: ['ROOMRUNNER_REDISPATCH_AFTER_MS'],
    schema: int(1000).default(60_000),
    doc: 'a delivery answered 200 whose outcome is still unrecorded this long after is dispatched again; also the period of that sweep (at least 1000)',
  },
  apiUrl: {
    env: ['MESHAGENT_API_URL'],
    flag: '--api-url',
    placeholder: '<url>',
    schema: url.default('https://api.meshagent.com'),
    doc: 'platform base URL (REST, and `<url>/rooms/<room>` websockets; `http`→`ws`)',
    help: 'Platform base URL.',
  },
  apiKey: {
    env: ['MESHAGENT_API_KEY'],
    flag: '--api-key',
    placeholder: '<ma-…>',
    schema: z.string().optional(),
    doc: '`ma-…` API key: signs participant tokens (wins over the secret), authenticates REST',
    help: 'API key: signs participant tokens, authenticates REST.',
  },
  secret: {
    env: ['MESHAGENT_SECRET'],
    flag: '--secret',
    placeholder: '<secret>',
    schema: z.string().optional(),
    doc: 'token signing secret when there is no API key',
    help: 'Token secret when no API key is set.',
  },
  projectId: {
    env: ['MESHAGENT_PROJECT_ID'],
    flag: '--project-id',
    placeholder: '<id>',
    schema: z.string().optional(),
    defaultText: 'from the API key',
    doc: 'project id (reconciliation needs it)',
    help: 'Project id (needed for reconciliation without an API key).',
  },
  roomHosts: {
    env: ['ROOMRUNNER_ROOM_HOSTS'],
    flag: '--room-hosts',
    placeholder: '<list>',
    schema: list.default([]),
    defaultText: "— (only `MESHAGENT_API_URL`'s origin)",
    doc: "more hosts a webhook's `room_url` may name: origins with an optional base path, or bare hosts (wss only), comma-separated; a bad entry stops start-up with `RR_CONFIG_INVALID` (see [Which room URLs are dialed](#which-room-urls-are-dialed))",
    help: 'More hosts a room_url may name (origins or wss hosts).',
  },
  tokenTtlMs: {
    env: ['ROOMRUNNER_TOKEN_TTL_MS'],
    flag: '--token-ttl-ms',
    placeholder: '<ms>',
    schema: int(60_000).default(DEFAULT_TOKEN_TTL_MS),
    doc: 'lifetime (`exp`) of the participant tokens roomrunner mints (`serve`, `join`, `call`), at least 60000; each connection attempt mints a new one',
    help: 'Lifetime of minted participant tokens.',
  },
  databaseUrl: {
    env: ['DATABASE_URL'],
    flag: '--database-url',
    placeholder: '<url>',
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    doc: 'PostgreSQL URL for several replicas; unset: the embedded store in process (see [Storage](#storage-and-several-replicas))',
    help: 'PostgreSQL for several replicas; unset = embedded store.',
  },
  dataDir: {
    env: ['ROOMRUNNER_DATA_DIR'],
    flag: '--data-dir',
    placeholder: '<dir>',
    schema: z.string().min(1).default('.roomrunner'),
    doc: "the embedded store's directory (`roomrunner.sqlite` in it; PGlite's `pglite/`); `memory://` keeps nothing on disk",
    help: 'Embedded store directory, or memory://.',
  },
  store: {
    env: ['ROOMRUNNER_STORE'],
    flag: '--store',
    placeholder: '<engine>',
    schema: z.enum(['auto', 'sqlite', 'pglite']).default('auto'),
    doc: 'embedded engine: `sqlite` (durable, what `auto` is: `node:sqlite` on Node 24, the optional peer better-sqlite3 on Node 20; refused where neither is present) or `pglite` (NOT durable against a power loss; only when asked for, with a warning)',
    help: 'Embedded engine: sqlite (durable) or pglite (not durable).',
  },
  replicaId: {
    env: ['ROOMRUNNER_REPLICA_ID'],
    flag: '--replica-id',
    placeholder: '<id>',
    schema: z.string().min(1).optional(),
    defaultText: '`<host>-sqlite` / `<host>-pglite` on the embedded stores; host name + pid + random on PostgreSQL',
    doc: "this replica's id in the store (the embedded stores' default lets a restart take its rooms back at once)",
    help: "This replica's id.",
  },
  leaseMs: {
    env: ['ROOMRUNNER_LEASE_MS'],
    flag: '--lease-ms',
    placeholder: '<ms>',
    schema: int(1000).default(10_000),
    doc: 'room ownership lease: a replica that stops renewing loses its rooms after it (see [Storage and several replicas](#storage-and-several-replicas))',
    help: 'Room ownership lease.',
  },
  heartbeatIntervalMs: {
    env: ['ROOMRUNNER_HEARTBEAT_INTERVAL_MS'],
    flag: '--heartbeat-interval-ms',
    placeholder: '<ms>',
    schema: int(100).optional(),
    defaultText: 'lease / 4, at most 2500',
    doc: 'how often a replica renews its lease (at most half the lease)',
    help: 'Lease renewal period.',
  },
  identity: {
    env: ['ROOMRUNNER_IDENTITY'],
    flag: '--identity',
    placeholder: '<name>',
    schema: z.string().min(1).default('roomrunner'),
    doc: 'participant name roomrunner joins rooms as',
    help: 'Participant name in rooms.',
  },
  apiScope: {
    env: ['ROOMRUNNER_API_SCOPE'],
    flag: '--api-scope',
    placeholder: '<json>',
    schema: jsonObject.pipe(ApiScopeSchema).default(DEFAULT_SERVICE_API_SCOPE),
    doc: "ApiScope JSON the service asks for in its descriptor (the handoff token's permissions): by default only `agents`, to register toolkits and answer calls",
    help: 'ApiScope the service asks for in its descriptor.',
  },
  serviceName: {
    env: ['ROOMRUNNER_SERVICE_NAME'],
    flag: '--service-name',
    placeholder: '<name>',
    schema: z.string().min(1).default('roomrunner'),
    doc: '`metadata.name` of the service descriptor',
    help: 'Service name in the descriptor.',
  },
  publicUrl: {
    env: ['ROOMRUNNER_PUBLIC_URL'],
    flag: '--public-url',
    placeholder: '<url>',
    schema: url.optional(),
    doc: 'where the platform reaches this service (`external.url` of the descriptor), e.g. `wss://roomrunner.example.com`',
    help: 'Where the platform reaches this service (descriptor external.url).',
  },
  participantToken: {
    env: ['MESHAGENT_TOKEN'],
    schema: z.string().min(1).optional(),
    doc: 'container mode (`roomrunner join` without `--room`): the participant token the platform injects',
  },
  containerRoom: {
    env: ['MESHAGENT_ROOM'],
    schema: z.string().min(1).optional(),
    doc: 'container mode: the room the platform started the container for',
  },
  roomBaseUrl: {
    env: ['MESHAGENT_ROOM_URL'],
    schema: url.optional(),
    defaultText: '`MESHAGENT_API_URL`',
    doc: 'container mode: room server base URL (the room is `<url>/rooms/<room>`; a full room URL works too)',
  },
  sessionId: {
    env: ['MESHAGENT_SESSION_ID'],
    schema: z.string().min(1).optional(),
    doc: 'container mode: the session the container serves (logged)',
  },
  agentsDir: {
    env: ['ROOMRUNNER_AGENTS'],
    flag: '--agents',
    placeholder: '<dir>',
    schema: z.string().min(1).default('agents'),
    doc: 'folder the agents are loaded from',
    help: 'Agents folder.',
  },
  roomWorkers: {
    env: ['ROOMRUNNER_ROOM_WORKERS'],
    flag: '--room-workers',
    placeholder: '<n>',
    schema: int(0, 64).default(0),
    doc: 'worker threads that run rooms and agents (joins, frames, calls), so webhook answers never wait for room work and one process uses more cores; 0 = in the main thread. Each thread loads the agents from `ROOMRUNNER_AGENTS`; handoffs stay in the main thread (see [Room workers](#room-workers))',
    help: 'Worker threads for rooms and agents (0 = main thread).',
  },
  maxRooms: {
    env: ['ROOMRUNNER_MAX_ROOMS'],
    flag: '--max-rooms',
    placeholder: '<n>',
    schema: int(1).default(1000),
    doc: 'hard cap on rooms attached by this process',
    help: 'Hard cap on rooms in this process.',
  },
  joinAttemptTimeoutMs: {
    env: ['ROOMRUNNER_JOIN_ATTEMPT_TIMEOUT_MS'],
    schema: int(1).default(15_000),
    doc: 'bound on one join attempt (connect, `room_ready`, wait for a join slot, registration); a slower attempt is given up (`RR_ROOM_JOIN_TIMEOUT`) and retried',
  },
  reconnectResetMs: {
    env: ['ROOMRUNNER_RECONNECT_RESET_MS'],
    schema: int(0).default(30_000),
    doc: 'how long a room connection must stay up before its reconnect backoff starts again from 0.5 s',
  },
  reconcileIntervalMs: {
    env: ['ROOMRUNNER_RECONCILE_INTERVAL_MS'],
    flag: '--reconcile-interval-ms',
    placeholder: '<ms>',
    schema: int(0).default(30_000),
    doc: 'reconciliation period (0 = at start-up only)',
    help: 'Reconciliation period (0 = start-up only).',
  },
  drainTimeoutMs: {
    env: ['ROOMRUNNER_DRAIN_TIMEOUT_MS'],
    flag: '--drain-timeout-ms',
    placeholder: '<ms>',
    schema: int(0).default(10_000),
    doc: 'bound on the graceful drain at SIGTERM/SIGINT',
    help: 'Bound on the graceful drain.',
  },
  adminToken: {
    env: ['ROOMRUNNER_ADMIN_TOKEN'],
    flag: '--admin-token',
    placeholder: '<token>',
    schema: z.string().min(8).optional(),
    doc: 'bearer token guarding `/status` (open when unset) and enabling the admin API and the dashboard (off when unset); at least 8 characters',
    help: 'Bearer token for /status, the admin API and the dashboard.',
  },
  mcp: {
    env: ['ROOMRUNNER_MCP'],
    flag: '--mcp',
    schema: bool.default(false),
    doc: 'serve the hosted agents as MCP tools at `/mcp` ([The same agents over MCP](#the-same-agents-over-mcp))',
    help: 'Serve the agents as MCP tools at /mcp.',
  },
  mcpToken: {
    env: ['ROOMRUNNER_MCP_TOKEN'],
    flag: '--mcp-token',
    placeholder: '<token>',
    schema: z.string().min(8).optional(),
    defaultText: '— (required with `ROOMRUNNER_MCP` unless `--insecure`)',
    doc: 'bearer token every `/mcp` request must carry (at least 8 characters)',
    help: 'Bearer token for /mcp (required with --mcp unless --insecure).',
  },
  logLevel: {
    env: ['LOG_LEVEL'],
    flag: '--log-level',
    placeholder: '<level>',
    schema: z.enum(LOG_LEVELS).default('info'),
    doc: `pino level: ${LOG_LEVELS.join(', ')}`,
    help: 'pino log level.',
  },
  logPretty: {
    env: ['ROOMRUNNER_LOG_PRETTY'],
    schema: bool.optional(),
    defaultText: 'pretty on a terminal',
    doc: 'force pretty (1) or JSON (0) logs',
  },
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
      problems.push(`${source}: ${result.error.issues.map((i) => i.message).join('; ')} (set ${fix}: ${plainText(setting.doc)})`);
    }
  }
  if (problems.length > 0) {
    throw new RoomrunnerError('RR_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, { data: { problems } });
  }
  return Object.freeze(out) as Config;
}

/** A table text without markdown: links become their words, code spans lose their backticks. */
export function plainText(markdown: string): string {
  return markdown.replace(/\[([^\]]+)\]\([^)]*\)/g, '$1').replace(/`([^`]*)`/g, '$1');
}

/** The HTTP server's timeouts and connection bounds, taken from a config (see src/http/server-limits.ts). */
export function httpLimits(config: Pick<Config, keyof HttpServerLimits>): HttpServerLimits {
  const { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs, keepAliveTimeoutMs, maxRequestsPerSocket, maxConnections } = config;
  return { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs, keepAliveTimeoutMs, maxRequestsPerSocket, maxConnections };
}
