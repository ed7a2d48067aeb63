/**
 * `roomrunner serve`: the webhook server and orchestrator from configuration (env vars, flags), with the agents
 * in the agents folder and the store from DATABASE_URL (PostgreSQL) or PGlite in ROOMRUNNER_DATA_DIR. Drains on
 * SIGINT/SIGTERM; a second signal exits at once.
 */
import { discoverAgents } from '../agents/discover.js';
import { createLogger } from '../logger.js';
import { RemoteTaskRunnerServer } from '../orchestrator/runner-server.js';
import { openStore } from '../store/open-store.js';
import { assertWebhookSecret } from '../server/webhook-server.js';
import { formatHelp, parseFlags, reportFailure, type FlagSpecs } from './args.js';
import { configFromFlags } from './config-flags.js';
import type { Command } from './main.js';
import { logUnhandledRejections, waitForSignal } from './signals.js';

export const SERVE_FLAGS = {
  port: { type: 'string', placeholder: '<port>', env: 'MESHAGENT_PORT', description: 'HTTP port (also PORT).', defaultText: '8080' },
  host: { type: 'string', placeholder: '<host>', env: 'MESHAGENT_HOST', description: 'Address to bind.', defaultText: '0.0.0.0' },
  'webhook-secret': {
    type: 'string',
    placeholder: '<s[,s2]>',
    env: 'MESHAGENT_WEBHOOK_SECRET',
    description: 'Webhook secret(s), comma-separated for a rotation.',
  },
  insecure: { type: 'boolean', description: 'Accept unsigned webhooks (local work only).' },
  'signature-schemes': {
    type: 'string',
    placeholder: '<list>',
    env: 'ROOMRUNNER_SIGNATURE_SCHEMES',
    description: 'meshagent, standard-webhooks, hmac-sha256.',
    defaultText: 'all',
  },
  'hmac-header': {
    type: 'string',
    placeholder: '<name>',
    env: 'ROOMRUNNER_HMAC_HEADER',
    description: 'Header of sha256=<hex> signatures.',
    defaultText: 'x-meshia-signature',
  },
  'api-url': { type: 'string', placeholder: '<url>', env: 'MESHAGENT_API_URL', description: 'Platform base URL.', defaultText: 'https://api.meshagent.com' },
  'api-key': { type: 'string', placeholder: '<ma-…>', env: 'MESHAGENT_API_KEY', description: 'API key: signs participant tokens, authenticates REST.' },
  secret: { type: 'string', placeholder: '<secret>', env: 'MESHAGENT_SECRET', description: 'Token secret when no API key is set.' },
  'project-id': { type: 'string', placeholder: '<id>', env: 'MESHAGENT_PROJECT_ID', description: 'Project id (needed for reconciliation without an API key).' },
  'room-hosts': { type: 'string', placeholder: '<list>', env: 'ROOMRUNNER_ROOM_HOSTS', description: 'More hosts a room_url may name (origins or wss hosts).' },
  'token-ttl-ms': {
    type: 'string',
    placeholder: '<ms>',
    env: 'ROOMRUNNER_TOKEN_TTL_MS',
    description: 'Lifetime of minted participant tokens.',
    defaultText: '3600000',
  },
  identity: { type: 'string', placeholder: '<name>', env: 'ROOMRUNNER_IDENTITY', description: 'Participant name in rooms.', defaultText: 'roomrunner' },
  'api-scope': {
    type: 'string',
    placeholder: '<json>',
    env: 'ROOMRUNNER_API_SCOPE',
    description: 'ApiScope the service asks for in its descriptor.',
    defaultText: 'agents: register toolkits, call',
  },
  'service-name': {
    type: 'string',
    placeholder: '<name>',
    env: 'ROOMRUNNER_SERVICE_NAME',
    description: 'Service name in the descriptor.',
    defaultText: 'roomrunner',
  },
  'public-url': {
    type: 'string',
    placeholder: '<url>',
    env: 'ROOMRUNNER_PUBLIC_URL',
    description: 'Where the platform reaches this service (descriptor external.url).',
  },
  agents: { type: 'string', placeholder: '<dir>', env: 'ROOMRUNNER_AGENTS', description: 'Agents folder.', defaultText: 'agents' },
  'max-rooms': { type: 'string', placeholder: '<n>', env: 'ROOMRUNNER_MAX_ROOMS', description: 'Hard cap on rooms in this process.', defaultText: '1000' },
  'reconcile-interval-ms': {
    type: 'string',
    placeholder: '<ms>',
    env: 'ROOMRUNNER_RECONCILE_INTERVAL_MS',
    description: 'Reconciliation period (0 = start-up only).',
    defaultText: '30000',
  },
  'drain-timeout-ms': {
    type: 'string',
    placeholder: '<ms>',
    env: 'ROOMRUNNER_DRAIN_TIMEOUT_MS',
    description: 'Bound on the graceful drain.',
    defaultText: '10000',
  },
  'admin-token': { type: 'string', placeholder: '<token>', env: 'ROOMRUNNER_ADMIN_TOKEN', description: 'Bearer token for /status and the admin API.' },
  mcp: { type: 'boolean', description: 'Serve the agents as MCP tools at /mcp.' },
  'mcp-token': {
    type: 'string',
    placeholder: '<token>',
    env: 'ROOMRUNNER_MCP_TOKEN',
    description: 'Bearer token for /mcp (required with --mcp unless --insecure).',
  },
  'body-limit': { type: 'string', placeholder: '<bytes>', env: 'ROOMRUNNER_BODY_LIMIT_BYTES', description: 'Largest webhook body.', defaultText: '1048576' },
  'headers-timeout-ms': {
    type: 'string',
    placeholder: '<ms>',
    env: 'ROOMRUNNER_HEADERS_TIMEOUT_MS',
    description: 'Time to send request headers.',
    defaultText: '10000',
  },
  'request-timeout-ms': {
    type: 'string',
    placeholder: '<ms>',
    env: 'ROOMRUNNER_REQUEST_TIMEOUT_MS',
    description: 'Time to send a whole request.',
    defaultText: '30000',
  },
  'idle-timeout-ms': {
    type: 'string',
    placeholder: '<ms>',
    env: 'ROOMRUNNER_IDLE_TIMEOUT_MS',
    description: 'Close a silent connection after.',
    defaultText: '120000',
  },
  'keep-alive-timeout-ms': {
    type: 'string',
    placeholder: '<ms>',
    env: 'ROOMRUNNER_KEEP_ALIVE_TIMEOUT_MS',
    description: 'Idle time between keep-alive requests.',
    defaultText: '72000',
  },
  'max-requests-per-socket': {
    type: 'string',
    placeholder: '<n>',
    env: 'ROOMRUNNER_MAX_REQUESTS_PER_SOCKET',
    description: 'Requests per connection (0 = no limit).',
    defaultText: '1000',
  },
  'max-connections': { type: 'string', placeholder: '<n>', env: 'ROOMRUNNER_MAX_CONNECTIONS', description: 'Open HTTP connections.', defaultText: '512' },
  'database-url': { type: 'string', placeholder: '<url>', env: 'DATABASE_URL', description: 'PostgreSQL for several replicas; unset = embedded store.' },
  'data-dir': {
    type: 'string',
    placeholder: '<dir>',
    env: 'ROOMRUNNER_DATA_DIR',
    description: 'Embedded store directory, or memory://.',
    defaultText: '.roomrunner',
  },
  store: {
    type: 'string',
    placeholder: '<engine>',
    env: 'ROOMRUNNER_STORE',
    description: 'Embedded engine: sqlite (durable) or pglite (not durable).',
    defaultText: 'auto',
  },
  'replica-id': { type: 'string', placeholder: '<id>', env: 'ROOMRUNNER_REPLICA_ID', description: "This replica's id.", defaultText: 'host-pid-random' },
  'lease-ms': { type: 'string', placeholder: '<ms>', env: 'ROOMRUNNER_LEASE_MS', description: 'Room ownership lease.', defaultText: '10000' },
  'heartbeat-interval-ms': {
    type: 'string',
    placeholder: '<ms>',
    env: 'ROOMRUNNER_HEARTBEAT_INTERVAL_MS',
    description: 'Lease renewal period.',
    defaultText: 'lease/4, at most 2500',
  },
  'log-level': { type: 'string', placeholder: '<level>', env: 'LOG_LEVEL', description: 'pino log level.', defaultText: 'info' },
} as const satisfies FlagSpecs;

export const command: Command = {
  summary: 'run the webhook server and orchestrator (the production entry point)',
  async run(argv) {
    try {
      const parsed = parseFlags(argv, SERVE_FLAGS);
      if (parsed.help) {
        console.log(formatHelp('serve', 'Receive MeshAgent webhooks and attach the agents to every room that starts.', SERVE_FLAGS));
        return 0;
      }
      const config = configFromFlags(parsed.values, parsed.given);
      const logger = createLogger({ level: config.logLevel, name: 'roomrunner', ...(config.logPretty === undefined ? {} : { pretty: config.logPretty }) });
      logUnhandledRejections(logger);
      assertWebhookSecret(config.webhookSecrets, config.insecure);
      const agents = (await discoverAgents(config.agentsDir)).map((a) => a.toolkit);
      const store = await openStore({
        ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
        dataDir: config.dataDir,
        engine: config.store,
        log: logger,
      });
      try {
        const server = new RemoteTaskRunnerServer({ agents, store, config, logger });
        const address = await server.start();
        logger.info(
          { url: address.url, agents: agents.map((a) => a.name), store: config.databaseUrl ? 'postgresql' : `${store.engine}:${config.dataDir}` },
          'roomrunner serving',
        );
        const signal = await waitForSignal();
        logger.info({ signal }, 'draining');
        await server.close();
      } finally {
        await store.close();
      }
      return 0;
    } catch (error) {
      return reportFailure('serve', error);
    }
  },
};
