/**
 * Turns a command's flags into config overrides and loads the configuration, so every command that reads
 * settings does it through src/config.ts (the one reader of process.env) and reports mistakes the same way.
 */
import { loadConfig, type Config, type ConfigOverrides } from '../config.js';
import { isRoomrunnerError } from '../errors.js';
import { UsageError } from './args.js';

/** Flag name → config key, for the settings commands share. */
export const CONFIG_FLAGS = {
  'api-url': 'apiUrl',
  'api-key': 'apiKey',
  secret: 'secret',
  'project-id': 'projectId',
  'room-hosts': 'roomHosts',
  'token-ttl-ms': 'tokenTtlMs',
  identity: 'identity',
  'api-scope': 'apiScope',
  'service-name': 'serviceName',
  'public-url': 'publicUrl',
  agents: 'agentsDir',
  'log-level': 'logLevel',
  port: 'port',
  host: 'host',
  'webhook-secret': 'webhookSecrets',
  'signature-schemes': 'signatureSchemes',
  'hmac-header': 'hmacHeader',
  insecure: 'insecure',
  'max-rooms': 'maxRooms',
  'reconcile-interval-ms': 'reconcileIntervalMs',
  'drain-timeout-ms': 'drainTimeoutMs',
  'admin-token': 'adminToken',
  mcp: 'mcp',
  'mcp-token': 'mcpToken',
  'body-limit': 'bodyLimitBytes',
  'headers-timeout-ms': 'headersTimeoutMs',
  'request-timeout-ms': 'requestTimeoutMs',
  'idle-timeout-ms': 'idleTimeoutMs',
  'keep-alive-timeout-ms': 'keepAliveTimeoutMs',
  'max-requests-per-socket': 'maxRequestsPerSocket',
  'max-connections': 'maxConnections',
  'database-url': 'databaseUrl',
  'data-dir': 'dataDir',
  store: 'store',
  'replica-id': 'replicaId',
  'lease-ms': 'leaseMs',
  'heartbeat-interval-ms': 'heartbeatIntervalMs',
} as const satisfies Record<string, keyof Config>;

/** Load the config with the given flag values on top of the environment; a bad value is a UsageError. */
export function configFromFlags(values: Readonly<Record<string, string | boolean | undefined>>, given: ReadonlySet<string>): Config {
  const overrides: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(CONFIG_FLAGS)) {
    if (given.has(flag) && values[flag] !== undefined) overrides[key] = values[flag];
  }
  try {
    return loadConfig(overrides as ConfigOverrides);
  } catch (error) {
    if (isRoomrunnerError(error, 'RR_CONFIG_INVALID')) throw new UsageError(error.message);
    throw error;
  }
}
