import { describe, expect, it } from 'vitest';
import { DashboardSessions, MAX_DASHBOARD_SESSIONS, readCookie } from '../../src/dashboard/sessions.js';

describe('DashboardSessions', () => {
  it('opens a session only for the admin token', () => {
    const sessions = new DashboardSessions({ adminToken: 'the-token' });
    expect(sessions.signIn('the-token ')).toBeUndefined();
    expect(sessions.signIn('')).toBeUndefined();
    const session = sessions.signIn('the-token');
    expect(session?.id).toMatch(/^[\w-]{43}$/);
    expect(sessions.fromCookieHeader(`a=b; rr_dashboard=${session?.id}`)).toBe(session);
  });

  it('forgets a session at its expiry, on the injected clock', () => {
    let now = 1_000;
    const sessions = new DashboardSessions({ adminToken: 't', sessionMs: 60_000, now: () => now });
    const session = sessions.signIn('t');
    const cookie = `rr_dashboard=${session?.id}`;
    now += 59_999;
    expect(sessions.fromCookieHeader(cookie)).toBe(session);
    expect(sessions.cookieFor(session, false)).toContain('Max-Age=0;'); // under a second left
    now += 1;
    expect(sessions.fromCookieHeader(cookie)).toBeUndefined();
  });

  it('checks the CSRF token of the session, not of another one', () => {
    const sessions = new DashboardSessions({ adminToken: 't' });
    const one = sessions.signIn('t');
    const two = sessions.signIn('t');
    if (one === undefined || two === undefined) throw new Error('sign-in failed');
    expect(sessions.checkCsrf(one, one.csrfToken)).toBe(true);
    expect(sessions.checkCsrf(one, two.csrfToken)).toBe(false);
    expect(sessions.checkCsrf(one, undefined)).toBe(false);
  });

  it('keeps at most MAX_DASHBOARD_SESSIONS, dropping the oldest', () => {
    const sessions = new DashboardSessions({ adminToken: 't' });
    const first = sessions.signIn('t');
    for (let i = 0; i < MAX_DASHBOARD_SESSIONS; i++) sessions.signIn('t');
    expect(sessions.fromCookieHeader(`rr_dashboard=${first?.id}`)).toBeUndefined();
  });

  it('marks the cookie Secure when served over https', () => {
    const sessions = new DashboardSessions({ adminToken: 't' });
    expect(sessions.cookieFor(sessions.signIn('t'), true)).toMatch(/; Secure$/);
    expect(sessions.cookieFor(undefined, false)).toMatch(/^rr_dashboard=; Max-Age=0;/);
  });
});

describe('readCookie', () => {
  it('finds a cookie among others and ignores look-alike names', () => {
    expect(readCookie('x_rr_dashboard=1; rr_dashboard=2', 'rr_dashboard')).toBe('2');
    expect(readCookie('nothing', 'rr_dashboard')).toBeUndefined();
    expect(readCookie(undefined, 'rr_dashboard')).toBeUndefined();
  });
});
