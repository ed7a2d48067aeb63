/**
 * The HTTP app: health, readiness and metrics (docs/architecture.md §Style 8). `buildApp()` never
 * listens; `WebhookServer.start()` (or the CLI) does, and tests use `app.inject()`.
 *
 * - `/`, any method → `200 {"ok":true}`: MeshAgent's liveness route (§A.5), for any health check (Cloud Run style
 *   checks may POST); a body sent there is read and dropped.
 * - `GET /healthz` → `200 {"ok":true}` while the process serves HTTP.
 * - `GET /readyz` → `200 {"ready":true}`, or `503 {"ready":false,"reasons":[...]}` while starting or draining,
 *   or when the store or another dependency does not answer (docs/references.md §livekit-health: a worker must not look healthy
 *   while it cannot work).
 * - `GET /metrics` → Prometheus text from this app's own registry.
 * Routes of upper layers (the webhook plugin, MCP, the dashboard) are registered on the app by their composition,
 * `WebhookServer.buildApp()` (src/server/webhook-server.ts), so this layer knows none of them
 * (docs/architecture.md §Layers). Errors answer `{ok:false, error:{code, message}}` with the catalog's status.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { RoomrunnerError } from '../errors.js';
import { sameSecret } from '../same-secret.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import { errorResponse } from './error-response.js';
import { ConnectionCap } from './connection-cap.js';
import { Metrics } from './metrics.js';
import { DEFAULT_HTTP_LIMITS, fastifyLimitOptions, MAX_PARAM_LENGTH, type HttpServerLimits } from './server-limits.js';

/** Bound on each readiness check, so `/readyz` answers even when a dependency hangs. */
export const DEFAULT_READINESS_TIMEOUT_MS = 2_000;

/** A dependency check: resolve when it is reachable, throw or reject when not. */
export type ReadinessCheck = (() => Promise<void> | void) | { readonly name: string; readonly check: () => Promise<void> | void };

export interface ReadinessReport {
  readonly ready: boolean;
  /** Why not ready, e.g. `starting`, `draining`, `store unavailable`, `platform unavailable`. */
  readonly reasons: string[];
}

export interface AppDeps {
  readonly logger?: Logger;
  /** Default: a new {@link Metrics} (its own registry). */
  readonly metrics?: Metrics;
  /** Its `ping()` is a readiness check named `store`. */
  readonly store?: Store;
  /** Lifecycle reasons not to be ready (e.g. `['draining']`); called on every `/readyz`. */
  readonly lifecycle?: () => readonly string[];
  readonly readinessChecks?: readonly ReadinessCheck[];
  readonly readinessTimeoutMs?: number;
  /** Timeouts and connection bounds of the HTTP server; default {@link DEFAULT_HTTP_LIMITS}. */
  readonly limits?: HttpServerLimits;
}

/** Builds the app; it does not listen. */
export function buildApp(deps: AppDeps = {}): FastifyInstance {
  const log = deps.logger ?? silentLogger();
  const metrics = deps.metrics ?? new Metrics();
  const limits = deps.limits ?? DEFAULT_HTTP_LIMITS;
  const app = Fastify({
    loggerInstance: log,
    // Per-request logs are off: the webhook plugin logs each delivery with its key, never its body.
    logController: new LogController({ disableRequestLogging: true }),
    ...fastifyLimitOptions(limits),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Router errors (a parameter too long, a bad percent-encoding) answer in the envelope too.
    frameworkErrors: (err, _request, reply) => sendError(reply, err, log),
  }) as unknown as FastifyInstance;
  const connections = new ConnectionCap(app.server, limits.maxConnections, log);
  // Before fastify calls server.close(), after which node no longer times out silent or slow clients.
  app.addHook('preClose', async () => connections.closing());
  let started = false;
  app.addHook('onReady', async () => {
    started = true;
  });

  const checks: ReadinessCheck[] = [];
  if (deps.store !== undefined) {
    const store = deps.store;
    checks.push({ name: 'store', check: () => store.ping() });
  }
  checks.push(...(deps.readinessChecks ?? []));

  app.setErrorHandler((err, _request, reply) => sendError(reply, err, log));
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({ ok: false, error: { code: 'RR_HTTP_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  void app.register(livenessRoot);
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_request, reply) => {
    const lifecycle = started ? [...(deps.lifecycle?.() ?? [])] : ['starting'];
    const report = await checkReadiness(checks, lifecycle, deps.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS, log);
    return report.ready ? { ready: true } : reply.code(503).send(report);
  });
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await metrics.expose();
    return reply.type(contentType).send(body);
  });
  return app;
}

/** `/` answers 200 to every method and content type, in a scope of its own so its catch-all body parser stays here. */
async function livenessRoot(scope: FastifyInstance): Promise<void> {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_request, payload, done) => {
    // Drain and drop: a health check's body means nothing, and unread bytes would stall a keep-alive socket.
    payload.on('end', () => done(null, undefined));
    payload.on('error', (err) => done(err, undefined));
    payload.resume();
  });
  scope.all('/', async () => ({ ok: true }));
}

function sendError(reply: FastifyReply, err: unknown, log: Logger): FastifyReply {
  const response = errorResponse(err);
  if (!response.expected) log.error({ err }, 'request failed');
  return reply.code(response.status).send({ ok: false, error: { code: response.code, message: response.message } });
}

/** Runs every check (each bounded by `timeoutMs`) and adds their failures to `reasons`. */
export async function checkReadiness(
  checks: readonly ReadinessCheck[],
  reasons: readonly string[],
  timeoutMs: number = DEFAULT_READINESS_TIMEOUT_MS,
  log: Logger = silentLogger(),
): Promise<ReadinessReport> {
  const failures = await Promise.all(
    checks.map(async (entry, index) => {
      const name = typeof entry === 'function' ? entry.name || `check ${index + 1}` : entry.name;
      const check = typeof entry === 'function' ? entry : entry.check;
      try {
        await withTimeout(Promise.resolve().then(check), timeoutMs);
        return undefined;
      } catch (err) {
        log.warn({ err, check: name }, 'readiness check failed');
        return `${name} unavailable`;
      }
    }),
  );
  const all = [...reasons, ...failures.filter((reason): reason is string => reason !== undefined)];
  return { ready: all.length === 0, reasons: all };
}

/**
 * A preHandler for admin routes: requires `Authorization: Bearer <token>` (compared in constant time). With no
 * token configured the routes are open, as ROOMRUNNER_ADMIN_TOKEN documents.
 * @throws RoomrunnerError `RR_HTTP_UNAUTHORIZED` (401).
 */
export function requireBearerToken(token: string | undefined): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    if (token === undefined) return;
    const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '');
    if (match?.[1] !== undefined && sameSecret(match[1], token)) return;
    void reply.header('www-authenticate', 'Bearer');
    throw new RoomrunnerError('RR_HTTP_UNAUTHORIZED', 'send Authorization: Bearer <ROOMRUNNER_ADMIN_TOKEN>');
  };
}

async function withTimeout(work: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
