/**
 * Dashboard sign-in sessions: an operator proves they hold the admin token once, and gets a random session id in
 * an HttpOnly, SameSite=Strict cookie plus a CSRF token that every state-changing request must echo in a header.
 * Sessions live in memory (a restart signs everyone out) and expire after a fixed time, whatever the activity.
 */
import { randomBytes } from 'node:crypto';
import { sameSecret } from '../same-secret.js';

/** How long a dashboard session lasts after sign-in. */
export const DEFAULT_DASHBOARD_SESSION_MS = 8 * 3600 * 1000;
/** Sessions kept at most; the oldest is dropped first (a sign-in flood cannot grow memory without bound). */
export const MAX_DASHBOARD_SESSIONS = 1_000;
/** The cookie's name. */
export const SESSION_COOKIE = 'rr_dashboard';

export interface DashboardSession {
  readonly id: string;
  readonly csrfToken: string;
  readonly expiresAt: number;
}

export interface DashboardSessionsOptions {
  readonly adminToken: string;
  readonly sessionMs?: number;
  readonly now?: () => number;
}

export class DashboardSessions {
  readonly #adminToken: string;
  readonly #sessionMs: number;
  readonly #now: () => number;
  readonly #sessions = new Map<string, DashboardSession>();

  constructor(options: DashboardSessionsOptions) {
    this.#adminToken = options.adminToken;
    this.#sessionMs = options.sessionMs ?? DEFAULT_DASHBOARD_SESSION_MS;
    this.#now = options.now ?? Date.now;
  }

  get sessionMs(): number {
    return this.#sessionMs;
  }

  /** A new session when `token` is the admin token (compared in constant time); undefined otherwise. */
  signIn(token: string): DashboardSession | undefined {
    if (!sameSecret(token, this.#adminToken)) return undefined;
    const session: DashboardSession = {
      id: randomBytes(32).toString('base64url'),
      csrfToken: randomBytes(24).toString('base64url'),
      expiresAt: this.#now() + this.#sessionMs,
    };
    this.#sessions.set(session.id, session);
    if (this.#sessions.size > MAX_DASHBOARD_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    return session;
  }

  /** The live session named by a Cookie header, if any. Expired sessions are forgotten when seen. */
  fromCookieHeader(header: string | undefined): DashboardSession | undefined {
    const id = readCookie(header, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** True when `token` is the session's CSRF token (constant time). */
  checkCsrf(session: DashboardSession, token: string | undefined): boolean {
    if (token === undefined || token.length === 0) return false;
    return sameSecret(token, session.csrfToken);
  }

  signOut(session: DashboardSession): void {
    this.#sessions.delete(session.id);
  }

  /** The Set-Cookie value for a session (or one that clears the cookie). */
  cookieFor(session: DashboardSession | undefined, secure: boolean): string {
    const attributes = ['Path=/dashboard', 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])];
    if (session === undefined) return [`${SESSION_COOKIE}=`, 'Max-Age=0', ...attributes].join('; ');
    const maxAge = Math.max(0, Math.floor((session.expiresAt - this.#now()) / 1000));
    return [`${SESSION_COOKIE}=${session.id}`, `Max-Age=${maxAge}`, ...attributes].join('; ');
  }
}

/** One cookie's value from a Cookie header (first match), undefined when absent. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
