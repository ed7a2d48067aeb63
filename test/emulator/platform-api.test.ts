import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildEmulatorApp, type PlatformRoomInfo, type PlatformRooms } from '../../src/emulator/platform-api.js';
import { SessionRegistry } from '../../src/emulator/platform-sessions.js';
import { WebhookSender } from '../../src/emulator/webhook-sender.js';
import { signJwt } from '../../src/auth/jwt.js';
import { formatApiKey, mintParticipantToken, verifyParticipantToken } from '../../src/auth/token.js';

const SECRET = 'emulator-secret';
const PROJECT = '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f';
const BASE = `/accounts/projects/${PROJECT}`;
const PUBLIC_URL = 'http://127.0.0.1:4321';

interface FakeRoom {
  name: string;
  sessionId: string | null;
  active: boolean;
  disabled: boolean;
  participants: string[];
}

/** A RoomServer stand-in: rooms, sessions that report to the registry, and recorded control calls. */
class FakeRooms implements PlatformRooms {
  readonly rooms = new Map<string, FakeRoom>();
  readonly events: { seq: number; room: string; kind: string }[] = [];
  readonly closed: { room: string; pid: string; code: number; reason: string | undefined }[] = [];
  readonly dismissed: { room: string; pid: string }[] = [];
  #sessions = 0;

  constructor(private readonly registry: SessionRegistry) {}

  listRooms(): PlatformRoomInfo[] {
    return [...this.rooms.values()].map((room) => ({ ...room, participants: [...room.participants] }));
  }

  ensureRoom(name: string): PlatformRoomInfo {
    let room = this.rooms.get(name);
    if (!room) {
      room = { name, sessionId: null, active: false, disabled: false, participants: [] };
      this.rooms.set(name, room);
      this.#event(name, 'room.created');
    }
    return { ...room };
  }

  startSession(name: string): PlatformRoomInfo {
    this.ensureRoom(name);
    const room = this.rooms.get(name) as FakeRoom;
    if (!room.active) {
      room.active = true;
      room.sessionId = `session-${++this.#sessions}`;
      this.registry.started({ name, sessionId: room.sessionId, url: `ws://127.0.0.1:4321/rooms/${name}` });
      this.#event(name, 'session.started');
    }
    return { ...room };
  }

  endSession(name: string): boolean {
    const room = this.rooms.get(name);
    if (!room?.active || room.sessionId === null) return false;
    this.registry.ended({ name, sessionId: room.sessionId });
    room.active = false;
    room.participants = [];
    this.#event(name, 'session.ended');
    return true;
  }

  disableRoom(name: string): PlatformRoomInfo {
    this.ensureRoom(name);
    this.endSession(name);
    (this.rooms.get(name) as FakeRoom).disabled = true;
    return { ...(this.rooms.get(name) as FakeRoom) };
  }

  enableRoom(name: string): PlatformRoomInfo {
    this.ensureRoom(name);
    (this.rooms.get(name) as FakeRoom).disabled = false;
    return { ...(this.rooms.get(name) as FakeRoom) };
  }

  closeParticipant(room: string, pid: string, code: number, reason?: string): boolean {
    if (!this.rooms.get(room)?.participants.includes(pid)) return false;
    this.closed.push({ room, pid, code, reason });
    return true;
  }

  dismiss(room: string, pid: string): boolean {
    if (!this.rooms.get(room)?.participants.includes(pid)) return false;
    this.dismissed.push({ room, pid });
    return true;
  }

  #event(room: string, kind: string): void {
    this.events.push({ seq: this.events.length + 1, room, kind });
  }
}

describe('emulator platform API', () => {
  let app: FastifyInstance;
  let rooms: FakeRooms;
  let webhooks: WebhookSender;
  const posted: { url: string; body: string }[] = [];
  const bearer = `Bearer ${signJwt({ sub: PROJECT }, SECRET)}`;

  function build(options: { secret?: string; projectId?: string } = { secret: SECRET, projectId: PROJECT }): FastifyInstance {
    const sessions = new SessionRegistry();
    rooms = new FakeRooms(sessions);
    webhooks = new WebhookSender({
      fetch: async (url, init) => {
        posted.push({ url: String(url), body: String(init?.body) });
        return new Response(null, { status: 200 });
      },
    });
    app = buildEmulatorApp({ rooms, webhooks, sessions, publicUrl: () => PUBLIC_URL, ...options });
    return app;
  }

  async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, authorization: string | null = bearer) {
    const response = await app.inject({
      method,
      url,
      ...(payload === undefined ? {} : { payload: payload as object }),
      headers: authorization === null ? {} : { authorization },
    });
    return { status: response.statusCode, body: response.body === '' ? undefined : response.json(), headers: response.headers };
  }

  beforeEach(() => {
    posted.length = 0;
    build();
  });

  afterEach(async () => {
    await webhooks.close();
    await app.close();
  });

  describe('auth', () => {
    it('answers 401 with a JSON error when the bearer token is missing or wrong', async () => {
      const missing = await call('GET', `${BASE}/rooms`, undefined, null);
      expect(missing.status).toBe(401);
      expect(missing.body.error.code).toBe('RR_EMULATOR_UNAUTHORIZED');
      expect(missing.body.error.message).toContain('Authorization: Bearer');
      expect(missing.headers['www-authenticate']).toBe('Bearer');

      const wrong = await call('GET', `${BASE}/rooms`, undefined, `Bearer ${signJwt({}, 'another-secret')}`);
      expect(wrong.status).toBe(401);
      const badKey = formatApiKey({ keyId: PROJECT, projectId: PROJECT, secret: 'another-secret' });
      expect((await call('GET', `${BASE}/rooms`, undefined, `Bearer ${badKey}`)).status).toBe(401);
      expect((await call('POST', '/_emulator/rooms/a/start', undefined, null)).status).toBe(401);
    });

    it('accepts an ma- API key with the emulator secret, or any JWT signed with it', async () => {
      const key = formatApiKey({ keyId: '00000000-0000-4000-8000-000000000001', projectId: PROJECT, secret: SECRET });
      expect((await call('GET', `${BASE}/rooms`, undefined, `Bearer ${key}`)).status).toBe(200);
      const participant = mintParticipantToken({ name: 'x', room: 'y', role: 'agent', secret: SECRET });
      expect((await call('GET', `${BASE}/rooms`, undefined, `Bearer ${participant}`)).status).toBe(200);
    });

    it('leaves GET / open as a liveness check, and REST open when the emulator has no secret', async () => {
      expect((await call('GET', '/', undefined, null)).body).toEqual({ ok: true, emulator: 'roomrunner' });
      await app.close();
      await webhooks.close();
      build({});
      expect((await call('GET', `/accounts/projects/any/rooms`, undefined, null)).status).toBe(200);
    });
  });

  describe('rooms', () => {
    it('creates, lists and gets rooms', async () => {
      const created = await call('POST', `${BASE}/rooms`, { name: 'alpha', metadata: { team: 'a' }, annotations: null });
      expect(created.status).toBe(200);
      expect(created.body).toEqual({ id: expect.any(String), name: 'alpha', metadata: { team: 'a' }, annotations: {} });
      expect(rooms.rooms.has('alpha')).toBe(true);

      const again = await call('POST', `${BASE}/rooms`, { name: 'alpha' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('RR_EMULATOR_ROOM_EXISTS');
      const existing = await call('POST', `${BASE}/rooms`, { name: 'alpha', if_not_exists: true, metadata: { team: 'b' } });
      expect(existing.body).toEqual(created.body);

      rooms.startSession('from-a-socket');
      const list = await call('GET', `${BASE}/rooms`);
      expect(list.body.rooms.map((room: { name: string }) => room.name)).toEqual(['alpha', 'from-a-socket']);
      expect((await call('GET', `${BASE}/rooms?limit=1&offset=1`)).body.rooms.map((room: { name: string }) => room.name)).toEqual(['from-a-socket']);

      expect((await call('GET', `${BASE}/rooms/alpha`)).body).toEqual(created.body);
      const missing = await call('GET', `${BASE}/rooms/nope`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('RR_EMULATOR_ROOM_NOT_FOUND');
    });

    it('answers 400 naming the field for a bad body, and for JSON that does not parse', async () => {
      const bad = await call('POST', `${BASE}/rooms`, { name: 5 });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('RR_EMULATOR_BAD_REQUEST');
      expect(bad.body.error.message).toContain('`name`');
      expect((await call('POST', `${BASE}/rooms`, { name: 'x', if_not_exists: 'yes' })).body.error.message).toContain('`if_not_exists`');

      const response = await app.inject({
        method: 'POST',
        url: `${BASE}/rooms`,
        payload: '{"name": ',
        headers: { authorization: bearer, 'content-type': 'application/json' },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('RR_EMULATOR_BAD_REQUEST');
    });

    it('connect returns a user token for the room that verifies with the emulator secret', async () => {
      const response = await app.inject({
        method: 'POST',
        url: `${BASE}/rooms/beta/connect`,
        headers: { authorization: bearer, 'content-type': 'application/json' },
        payload: '',
      });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body).toEqual({ jwt: expect.any(String), room_name: 'beta', project_id: PROJECT, room_url: 'ws://127.0.0.1:4321/rooms/beta' });
      const claims = verifyParticipantToken(body.jwt, { secret: SECRET, room: 'beta' });
      expect(claims).toMatchObject({ name: 'user', role: 'user', projectId: PROJECT });
      expect(rooms.rooms.has('beta')).toBe(true);

      const named = await call('POST', `${BASE}/rooms/beta/connect`, { participant_name: 'alice' });
      expect(verifyParticipantToken(named.body.jwt, { secret: SECRET, room: 'beta' }).name).toBe('alice');
    });

    it('refuses a project other than its own', async () => {
      const other = await call('GET', '/accounts/projects/someone-else/rooms');
      expect(other.status).toBe(404);
      expect(other.body.error.code).toBe('RR_EMULATOR_PROJECT_NOT_FOUND');
      expect(other.body.error.message).toContain(PROJECT);
    });
  });

  describe('sessions', () => {
    it('lists active sessions, gets one, and terminates it', async () => {
      expect((await call('GET', `${BASE}/sessions/active`)).body).toEqual({ sessions: [] });
      const started = await call('POST', '/_emulator/rooms/gamma/start');
      expect(started.body.room).toMatchObject({ name: 'gamma', active: true });
      const sessionId = started.body.room.sessionId as string;

      const active = await call('GET', `${BASE}/sessions/active`);
      expect(active.body.sessions).toEqual([
        {
          id: sessionId,
          kind: 'room',
          room_name: 'gamma',
          room_id: expect.any(String),
          room_url: 'ws://127.0.0.1:4321/rooms/gamma',
          created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          ended_at: null,
          is_active: true,
          state: 'active',
          participants: {},
        },
      ]);
      expect((await call('GET', `${BASE}/sessions/${sessionId}`)).body.state).toBe('active');

      const terminated = await call('POST', `${BASE}/sessions/${sessionId}/terminate`);
      expect(terminated.body).toMatchObject({ id: sessionId, is_active: false, state: 'ended', ended_at: expect.any(String), participants: {} });
      expect((await call('GET', `${BASE}/sessions/active`)).body).toEqual({ sessions: [] });
      expect((await call('GET', `${BASE}/sessions`)).body.sessions).toHaveLength(1);

      const missing = await call('GET', `${BASE}/sessions/nope`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('RR_EMULATOR_SESSION_NOT_FOUND');
    });
  });

  describe('webhooks', () => {
    it('creates (showing the secret once), lists, gets, updates and deletes webhooks', async () => {
      const created = await call('POST', `${BASE}/webhooks`, {
        name: 'hook',
        description: 'd',
        url: 'http://127.0.0.1:9/hook',
        events: ['room.started'],
        action: '',
        payload: null,
      });
      expect(created.status).toBe(200);
      expect(created.body).toMatchObject({
        id: expect.any(String),
        name: 'hook',
        scheme: 'meshagent',
        has_secret: true,
        secret: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      const id = created.body.id as string;

      const listed = await call('GET', `${BASE}/webhooks`);
      expect(listed.body.webhooks).toHaveLength(1);
      expect(listed.body.webhooks[0]).not.toHaveProperty('secret');
      expect((await call('GET', `${BASE}/webhooks/${id}`)).body).toMatchObject({ id, url: 'http://127.0.0.1:9/hook', events: ['room.started'] });

      const updated = await call('PUT', `${BASE}/webhooks/${id}`, { name: 'renamed', url: 'http://127.0.0.1:9/other', events: ['*'] });
      expect(updated.body).toMatchObject({ id, name: 'renamed', events: ['*'], has_secret: true });
      expect(webhooks.get(id)?.secret).toBe(created.body.secret);

      const deleted = await app.inject({ method: 'DELETE', url: `${BASE}/webhooks/${id}`, headers: { authorization: bearer } });
      expect(deleted.statusCode).toBe(204);
      expect((await call('GET', `${BASE}/webhooks/${id}`)).body.error.code).toBe('RR_EMULATOR_WEBHOOK_NOT_FOUND');
    });

    it('accepts our scheme, secret and header extensions, and null for no signature', async () => {
      const standard = await call('POST', `${BASE}/webhooks`, { url: 'http://127.0.0.1:9/a', scheme: 'standard-webhooks' });
      expect(standard.body.secret).toMatch(/^whsec_/);
      const hmac = await call('POST', `${BASE}/webhooks`, { url: 'http://127.0.0.1:9/b', scheme: 'hmac-sha256', secret: 's', header: 'X-Sig' });
      expect(hmac.body).toMatchObject({ scheme: 'hmac-sha256', header: 'X-Sig', secret: 's' });
      const unsigned = await call('POST', `${BASE}/webhooks`, { url: 'http://127.0.0.1:9/c', secret: null });
      expect(unsigned.body).toMatchObject({ has_secret: false, secret: null });
      const bad = await call('POST', `${BASE}/webhooks`, { url: 'not a url' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toContain('`url`');
    });

    it('shows the delivery log of a webhook, starting with its test ping', async () => {
      const created = await call('POST', `${BASE}/webhooks`, { url: 'http://127.0.0.1:9/log' });
      await webhooks.idle();
      const log = await call('GET', `${BASE}/webhooks/${created.body.id}/deliveries`);
      expect(log.body.deliveries).toEqual([
        {
          id: expect.stringMatching(/^msg_/),
          webhook_id: created.body.id,
          event: 'webhook.ping',
          url: 'http://127.0.0.1:9/log',
          body: `{"event": "webhook.ping", "data": {"webhook_id": "${created.body.id}"}}`,
          status: 'delivered',
          attempts: [{ at: expect.any(String), status: 200, error: null, latency_ms: expect.any(Number) }],
          created_at: expect.any(String),
          delivered_at: expect.any(String),
        },
      ]);
      expect(posted).toHaveLength(1);

      const ping = await call('POST', `${BASE}/webhooks/${created.body.id}/ping`);
      expect(ping.status).toBe(202);
      await webhooks.idle();
      expect(posted).toHaveLength(2);
      expect((await call('GET', '/_emulator/deliveries')).body.deliveries).toHaveLength(2);
    });
  });

  describe('control routes', () => {
    it('starts and ends a session, and refuses to end one that is not active', async () => {
      expect((await call('POST', '/_emulator/rooms/delta/start')).status).toBe(200);
      const ended = await call('POST', '/_emulator/rooms/delta/end');
      expect(ended.body).toMatchObject({ ended: true, session_id: 'session-1' });
      const again = await call('POST', '/_emulator/rooms/delta/end');
      expect(again.status).toBe(404);
      expect(again.body.error.code).toBe('RR_EMULATOR_SESSION_NOT_FOUND');
      expect((await call('POST', '/_emulator/rooms/unknown/end')).body.error.code).toBe('RR_EMULATOR_ROOM_NOT_FOUND');
    });

    it('disables a room so that connect answers 423 with the SDKs’ wording, and enables it again', async () => {
      const disabled = await call('POST', '/_emulator/rooms/zeta/disable');
      expect(disabled.body.room).toMatchObject({ name: 'zeta', disabled: true });
      const refused = await call('POST', `${BASE}/rooms/zeta/connect`, {});
      expect(refused.status).toBe(423);
      // The Python client raises RoomDisabledError with `error.message`.
      expect(refused.body.error).toEqual({ code: 'RR_EMULATOR_ROOM_DISABLED', message: 'This room is currently disabled.' });
      expect((await call('POST', '/_emulator/rooms/zeta/enable')).body.room).toMatchObject({ disabled: false });
      expect((await call('POST', `${BASE}/rooms/zeta/connect`, {})).status).toBe(200);
      expect((await call('POST', '/_emulator/rooms/a%2Fb/disable')).status).toBe(400);
    });

    it('closes and dismisses participants, naming bad close codes', async () => {
      rooms.startSession('eps');
      (rooms.rooms.get('eps') as FakeRoom).participants.push('p1');
      const closed = await call('POST', '/_emulator/rooms/eps/participants/p1/close', { code: 1011, reason: 'test' });
      expect(closed.body).toEqual({ closed: true, code: 1011 });
      expect(rooms.closed).toEqual([{ room: 'eps', pid: 'p1', code: 1011, reason: 'test' }]);
      expect((await call('POST', '/_emulator/rooms/eps/participants/p1/close')).body.code).toBe(1000);

      const badCode = await call('POST', '/_emulator/rooms/eps/participants/p1/close', { code: 1005 });
      expect(badCode.status).toBe(400);
      expect(badCode.body.error.message).toContain('`code`');
      const gone = await call('POST', '/_emulator/rooms/eps/participants/p9/close', {});
      expect(gone.status).toBe(404);
      expect(gone.body.error.code).toBe('RR_EMULATOR_CONNECTION_NOT_FOUND');

      expect((await call('POST', '/_emulator/rooms/eps/participants/p1/dismiss')).body).toEqual({ dismissed: true });
      expect(rooms.dismissed).toEqual([{ room: 'eps', pid: 'p1' }]);
    });

    it('lists recorded events, filtered by room, kind and sequence number', async () => {
      rooms.startSession('r1');
      rooms.startSession('r2');
      expect((await call('GET', '/_emulator/events')).body.events).toHaveLength(4);
      expect((await call('GET', '/_emulator/events?room=r2')).body.events.map((event: { kind: string }) => event.kind)).toEqual([
        'room.created',
        'session.started',
      ]);
      expect((await call('GET', '/_emulator/events?kind=session.started&since=2')).body.events).toEqual([{ seq: 4, room: 'r2', kind: 'session.started' }]);
      expect((await call('GET', '/_emulator/rooms')).body.rooms.map((room: { name: string }) => room.name)).toEqual(['r1', 'r2']);
    });

    it('answers unknown routes with RR_EMULATOR_ROUTE_NOT_FOUND', async () => {
      const response = await call('GET', `${BASE}/services`);
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('RR_EMULATOR_ROUTE_NOT_FOUND');
    });
  });
});
