/**
 * Bounds on what one HTTP client can hold: time to send headers, time to send the whole request, idle time,
 * keep-alive time, requests per connection and open connections. Without them a client that sends
 * a body one byte a minute, or thousands of clients that connect and say nothing, hold memory and file
 * descriptors for good, and the webhook path, the health checks and outgoing room connects fail with them.
 *
 * Node checks the header and request timeouts on a timer (`connectionsCheckingInterval`, 30 s by default);
 * we run it often enough that a request is cut off within its timeout plus {@link MAX_CHECKING_INTERVAL_MS}.
 * A request cut off is answered 408 and its socket destroyed, which drops the body chunks buffered so far.
 */
import type { ServerOptions } from 'node:http';

/** Time from the first byte of a request to its last header line. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Time from the first byte of a request to the last byte of its body (a 1 MiB body needs far less). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** A socket with no traffic either way this long is closed (e.g. a client that stopped reading the answer). */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/** Idle time between keep-alive requests; fastify's default, above the 60 s idle timeout of common load balancers. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 72_000;
/** Requests one connection may carry before it is closed (0: no limit). */
export const DEFAULT_MAX_REQUESTS_PER_SOCKET = 1000;
/** Open connections; beyond it the idlest one is closed to make room (see connection-cap.ts). */
export const DEFAULT_MAX_CONNECTIONS = 512;
/**
 * Longest path parameter (e.g. an admin delivery key; a body digest key is 71 characters). Longer ones get a
 * catalogued 414 (fastify's default limit, 100, refused longer Standard Webhooks ids outside the error envelope).
 */
export const MAX_PARAM_LENGTH = 1024;
/** Upper bound on how late node notices an expired header or request timeout. */
export const MAX_CHECKING_INTERVAL_MS = 1_000;
/** Lower bound on that check's period, so a tiny timeout in a test does not spin the event loop. */
const MIN_CHECKING_INTERVAL_MS = 50;

/** The limits, one per setting in src/config.ts. */
export interface HttpServerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxRequestsPerSocket: number;
  readonly maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpServerLimits = Object.freeze({
  headersTimeoutMs: DEFAULT_HEADERS_TIMEOUT_MS,
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  keepAliveTimeoutMs: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  maxRequestsPerSocket: DEFAULT_MAX_REQUESTS_PER_SOCKET,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
});

/** The fastify constructor options that carry the limits (the connection cap is installed separately). */
export interface FastifyLimitOptions {
  readonly requestTimeout: number;
  readonly connectionTimeout: number;
  readonly keepAliveTimeout: number;
  readonly maxRequestsPerSocket: number;
  readonly http: ServerOptions;
}

/** Maps the limits onto fastify's options and node's `http.createServer` options. */
export function fastifyLimitOptions(limits: HttpServerLimits): FastifyLimitOptions {
  // Node refuses a headers timeout above the request timeout; the request timeout covers the headers anyway.
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const checkingInterval = Math.max(MIN_CHECKING_INTERVAL_MS, Math.min(MAX_CHECKING_INTERVAL_MS, Math.floor(headersTimeout / 4)));
  return {
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    http: { headersTimeout, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: checkingInterval },
  };
}
