/**
 * GET /dashboard: rooms, deliveries, the emulator's sends and health, for operators who would rather look than
 * read JSON. It is on when an admin token is set, and acts only through the admin API (each action is the same
 * request a script would make with the bearer token), so the dashboard adds no second way to change state.
 *
 *   GET  /dashboard                  the page (or the sign-in form, or "turned off")
 *   POST /dashboard/login            form field `token` → session cookie, 303 to /dashboard
 *   POST /dashboard/logout           ends the session
 *   GET  /dashboard/assets/<file>    the script and style sheet (shipped in the package, no CDN)
 *   GET  /dashboard/api/...          JSON for the page (session cookie); POSTs also need the CSRF header
 *
 * Security: the session cookie is HttpOnly, SameSite=Strict, Path=/dashboard, expiring; state-changing requests
 * need `x-csrf-token` equal to the session's token (served in the page's meta tag) and, when the browser sends
 * one, an Origin naming this host; the page is served with a strict Content-Security-Policy and `no-store`;
 * secrets inside stored bodies (room.call tokens) are masked before they leave the server.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Histogram } from 'prom-client';
import { RoomrunnerError } from '../errors.js';
import { LatencyHistory } from './latency-history.js';
import { maskedBody } from './mask.js';
import { disabledPage, shellPage, signInPage } from './pages.js';
import { DashboardSessions, type DashboardSession } from './sessions.js';

/** The emulator's delivery log as the dashboard shows it (roomrunner dev passes the emulator's). */
export interface EmulatorDeliveryView {
  readonly id: string;
  readonly event: string;
  readonly url: string;
  readonly body: string;
  readonly status: string;
  readonly createdAt: string;
  readonly attempts: ReadonlyArray<{ readonly status?: number | null; readonly latencyMs?: number | null; readonly error?: string | null }>;
}

export interface DashboardOptions {
  /** The admin token; undefined turns the dashboard off (its page says how to turn it on). */
  readonly adminToken: string | undefined;
  /** Histograms charted on the health panel, by name (e.g. `ack`, `attach`). */
  readonly histograms?: Readonly<Record<string, Histogram<string>>>;
  /** The emulator's delivery log, in `roomrunner dev`. */
  readonly emulatorDeliveries?: () => readonly EmulatorDeliveryView[];
  /** How long a sign-in lasts (default 8 h). */
  readonly sessionMs?: number;
  readonly now?: () => number;
}

const ASSETS: Record<string, { type: string; file: string }> = {
  'dashboard.js': { type: 'text/javascript; charset=utf-8', file: 'dashboard.js' },
  'dashboard.css': { type: 'text/css; charset=utf-8', file: 'dashboard.css' },
};
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/** Largest sign-in form accepted. */
const LOGIN_BODY_LIMIT_BYTES = 8 * 1024;

/** Registers the dashboard on `app` (in its own encapsulated context: its form parser stays inside). */
export function registerDashboard(app: FastifyInstance, options: DashboardOptions): void {
  const assets = new Map<string, { type: string; body: Buffer }>();
  for (const [name, asset] of Object.entries(ASSETS)) {
    assets.set(name, { type: asset.type, body: readFileSync(new URL(`./assets/${asset.file}`, import.meta.url)) });
  }

  void app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply, payload) => {
      void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff').header('referrer-policy', 'same-origin');
      void reply.header('content-security-policy', CSP).header('x-frame-options', 'DENY');
      return payload;
    });

    scope.get('/dashboard/assets/:file', async (request, reply) => {
      const asset = assets.get((request.params as { file: string }).file);
      if (asset === undefined) throw new RoomrunnerError('RR_HTTP_NOT_FOUND', 'no such dashboard asset');
      return reply.type(asset.type).send(asset.body);
    });

    const adminToken = options.adminToken;
    if (adminToken === undefined) {
      scope.get('/dashboard', async (_request, reply) => reply.type('text/html; charset=utf-8').send(disabledPage()));
      scope.all('/dashboard/*', async () => {
        throw new RoomrunnerError('RR_ADMIN_DISABLED', 'the dashboard is off: set ROOMRUNNER_ADMIN_TOKEN (or --admin-token) to enable it');
      });
      return;
    }

    // Sampled only while the dashboard is on: with no admin token nobody sees the charts.
    const history = new LatencyHistory({ histograms: options.histograms ?? {}, ...(options.now ? { now: options.now } : {}) });
    scope.addHook('onReady', async () => history.start());
    scope.addHook('onClose', async () => history.stop());

    const sessions = new DashboardSessions({
      adminToken,
      ...(options.sessionMs === undefined ? {} : { sessionMs: options.sessionMs }),
      ...(options.now ? { now: options.now } : {}),
    });
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: LOGIN_BODY_LIMIT_BYTES }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    const html = (reply: FastifyReply, page: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(page);
    const session = (request: FastifyRequest) => sessions.fromCookieHeader(request.headers.cookie);
    const secure = (request: FastifyRequest) => request.protocol === 'https';

    scope.get('/dashboard', async (request, reply) => {
      const current = session(request);
      if (current === undefined) return html(reply, signInPage(false));
      return html(reply, shellPage(current.csrfToken, options.emulatorDeliveries !== undefined));
    });

    scope.post('/dashboard/login', async (request, reply) => {
      checkOrigin(request);
      const token = (request.body as Record<string, unknown> | undefined)?.['token'];
      const created = typeof token === 'string' && token.length > 0 ? sessions.signIn(token) : undefined;
      if (created === undefined) {
        request.log.warn('dashboard sign-in refused: wrong admin token');
        return html(reply, signInPage(true), 401);
      }
      return reply
        .code(303)
        .header('set-cookie', sessions.cookieFor(created, secure(request)))
        .header('location', '/dashboard')
        .send();
    });

    scope.post('/dashboard/logout', async (request, reply) => {
      checkOrigin(request);
      const current = session(request);
      if (current !== undefined) sessions.signOut(current);
      return reply
        .code(303)
        .header('set-cookie', sessions.cookieFor(undefined, secure(request)))
        .header('location', '/dashboard')
        .send();
    });

    // --- the page's JSON, through the admin API ---
    const bearer = { authorization: `Bearer ${adminToken}` };
    const admin = async (reply: FastifyReply, method: 'GET' | 'POST', url: string) => {
      const response = await app.inject({ method, url, headers: bearer });
      return reply.code(response.statusCode).type('application/json; charset=utf-8').send(response.body);
    };
    const reading = (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (request: FastifyRequest, reply: FastifyReply) => {
      requireSession(session(request));
      return handler(request, reply);
    };
    const acting = (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (request: FastifyRequest, reply: FastifyReply) => {
      const current = requireSession(session(request));
      checkOrigin(request);
      const header = request.headers['x-csrf-token'];
      if (!sessions.checkCsrf(current, typeof header === 'string' ? header : undefined)) {
        throw new RoomrunnerError('RR_DASHBOARD_CSRF', 'this request needs the x-csrf-token header from the dashboard page; reload the page');
      }
      return handler(request, reply);
    };

    scope.get(
      '/dashboard/api/rooms',
      reading((request, reply) => admin(reply, 'GET', `/admin/rooms${query(request)}`)),
    );
    scope.get(
      '/dashboard/api/deliveries',
      reading((request, reply) => admin(reply, 'GET', `/admin/deliveries${query(request)}`)),
    );
    scope.get(
      '/dashboard/api/deliveries/:key',
      reading(async (request, reply) => {
        const response = await app.inject({ method: 'GET', url: `/admin/deliveries/${encodeURIComponent(param(request, 'key'))}`, headers: bearer });
        if (response.statusCode !== 200) return reply.code(response.statusCode).type('application/json; charset=utf-8').send(response.body);
        const { delivery } = response.json() as { delivery: Record<string, unknown> & { body: string } };
        return { delivery: { ...delivery, body: maskedBody(delivery.body) } };
      }),
    );
    scope.post(
      '/dashboard/api/deliveries/:key/replay',
      acting((request, reply) => admin(reply, 'POST', `/admin/deliveries/${encodeURIComponent(param(request, 'key'))}/replay`)),
    );
    scope.post(
      '/dashboard/api/rooms/:room/attach',
      acting((request, reply) => admin(reply, 'POST', `/admin/rooms/${encodeURIComponent(param(request, 'room'))}/attach`)),
    );
    scope.post(
      '/dashboard/api/rooms/:room/detach',
      acting((request, reply) => admin(reply, 'POST', `/admin/rooms/${encodeURIComponent(param(request, 'room'))}/detach`)),
    );
    scope.get(
      '/dashboard/api/health',
      reading(async () => {
        const [ready, status, replicas] = await Promise.all([
          app.inject({ method: 'GET', url: '/readyz' }),
          app.inject({ method: 'GET', url: '/status', headers: bearer }),
          app.inject({ method: 'GET', url: '/admin/replicas', headers: bearer }),
        ]);
        return {
          readiness: ready.json(),
          status: status.statusCode === 200 ? status.json() : null,
          replicas: replicas.statusCode === 200 ? (replicas.json() as { replicas: unknown[] }).replicas : [],
          latency: { intervalMs: history.intervalMs, series: history.snapshot() },
        };
      }),
    );
    if (options.emulatorDeliveries !== undefined) {
      const list = options.emulatorDeliveries;
      scope.get(
        '/dashboard/api/emulator',
        reading(async () => ({
          deliveries: [...list()]
            .reverse()
            .slice(0, 200)
            .map((d) => ({ ...d, body: maskedBody(d.body) })),
        })),
      );
    }
  });
}

function requireSession(current: DashboardSession | undefined): DashboardSession {
  if (current === undefined) throw new RoomrunnerError('RR_DASHBOARD_SIGNED_OUT', 'sign in at /dashboard first (the session is missing or expired)');
  return current;
}

/** A cross-site form or fetch carries an Origin naming another host: refuse it (SameSite is the first line). */
function checkOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new RoomrunnerError('RR_DASHBOARD_CSRF', `a request from origin ${JSON.stringify(origin)} may not act on this dashboard`);
  }
  if (host !== request.headers.host) throw new RoomrunnerError('RR_DASHBOARD_CSRF', `a request from ${origin} may not act on this dashboard`);
}

function query(request: FastifyRequest): string {
  const index = request.url.indexOf('?');
  return index < 0 ? '' : request.url.slice(index);
}

function param(request: FastifyRequest, name: string): string {
  return (request.params as Record<string, string>)[name] ?? '';
}
