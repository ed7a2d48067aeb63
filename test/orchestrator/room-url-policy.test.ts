import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { RoomUrlPolicy } from '../../src/orchestrator/room-url-policy.js';
import { roomUrl } from '../../src/room/url.js';

const cloud = new RoomUrlPolicy({ apiUrl: 'https://api.meshagent.com' });
const local = new RoomUrlPolicy({ apiUrl: 'http://127.0.0.1:8081', roomHosts: ['rooms.example.com', 'ws://10.0.0.7:9000/base/'] });

function refusal(policy: RoomUrlPolicy, url: string, room: string): unknown {
  try {
    policy.check(url, room);
  } catch (err) {
    return err;
  }
  return undefined;
}

function expectRefused(policy: RoomUrlPolicy, url: string, room: string, reason?: RegExp): void {
  const err = refusal(policy, url, room);
  expect(isRoomrunnerError(err, 'RR_ROOM_URL_REFUSED'), `${url} for ${room}`).toBe(true);
  if (reason) expect((err as Error).message).toMatch(reason);
}

const roomName = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' });
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
// URL-shaped strings that mix the pieces an attacker would: schemes, credentials, look-alike hosts, ports, dot
// segments, encodings, queries. (Cheaper than fc.webUrl, and aimed at the policy's edges.)
const urlish = fc
  .tuple(
    fc.constantFrom('wss://', 'ws://', 'https://', 'http://', 'ftp://', 'file://', 'javascript:', 'WSS://', ''),
    fc.constantFrom('', 'user@', 'u:p@'),
    fc.constantFrom(
      'api.meshagent.com',
      'API.MeshAgent.com',
      'api.meshagent.com.',
      'api.meshagent.com.evil.com',
      'evil.com',
      '169.254.169.254',
      '[fe80::1]',
      '127.0.0.1',
      '0x7f.1',
    ),
    fc.constantFrom('', ':443', ':80', ':8443', ':0'),
    fc.oneof(
      fc.string({ maxLength: 8 }).map((name) => `rooms/${name}`),
      fc
        .array(fc.oneof(fc.constantFrom('rooms', '..', '.', '%2e%2e', '%2F', ''), fc.string({ maxLength: 6 })), { maxLength: 4 })
        .map((segments) => segments.join('/')),
    ),
    fc.constantFrom('', '?token=x', '#f', '?'),
  )
  .map(([scheme, credentials, host, port, path, tail]) => `${scheme}${credentials}${host}${port}/${path}${tail}`);
const foreignHost = fc.tuple(label, fc.constantFrom('com', 'net', 'internal', 'io')).map(([name, tld]) => `${name}.${tld}`);

describe('RoomUrlPolicy', () => {
  it('accepts every room URL built on the platform origin, for any room name', () => {
    fc.assert(
      fc.property(roomName, (room) => {
        // `.` and `..` are dot segments: a URL path cannot name them (see the next test).
        fc.pre(room !== '.' && room !== '..');
        expect(cloud.check(roomUrl('https://api.meshagent.com', room), room)).toBe(roomUrl('wss://api.meshagent.com', room));
        expect(local.check(roomUrl('http://127.0.0.1:8081', room), room)).toBe(roomUrl('ws://127.0.0.1:8081', room));
      }),
    );
  });

  it('refuses the room names . and .., which a URL path cannot name (they are dot segments, encoded or not)', () => {
    for (const room of ['.', '..']) {
      expectRefused(cloud, roomUrl('wss://api.meshagent.com', room), room, /path is not \/rooms\/<room>/);
      expectRefused(cloud, `wss://api.meshagent.com/rooms/${room.replace(/\./g, '%2E')}`, room);
    }
  });

  it('accepts the unencoded spelling the SDKs and the emulator write', () => {
    expect(local.check('ws://127.0.0.1:8081/rooms/my room', 'my room')).toBe('ws://127.0.0.1:8081/rooms/my%20room');
    expect(cloud.check('wss://api.meshagent.com/rooms/demo/', 'demo')).toBe('wss://api.meshagent.com/rooms/demo/');
  });

  it('accepts a host listed in ROOMRUNNER_ROOM_HOSTS: a bare host as wss, an origin with its base path', () => {
    expect(local.check('wss://rooms.example.com/rooms/r', 'r')).toBe('wss://rooms.example.com/rooms/r');
    expect(local.check('https://rooms.example.com:443/rooms/r', 'r')).toBe('wss://rooms.example.com/rooms/r');
    expect(local.check('ws://10.0.0.7:9000/base/rooms/r', 'r')).toBe('ws://10.0.0.7:9000/base/rooms/r');
    expectRefused(local, 'ws://rooms.example.com/rooms/r', 'r', /ws:\/\/rooms.example.com is neither/);
    expectRefused(local, 'ws://10.0.0.7:9000/rooms/r', 'r', /path is not \/base\/rooms\/<room>/);
  });

  it('refuses a room_url on another host', () => {
    fc.assert(
      fc.property(foreignHost, roomName, fc.constantFrom('ws', 'wss', 'http', 'https'), (host, room, scheme) => {
        expectRefused(cloud, `${scheme}://${host}/rooms/${encodeURIComponent(room)}`, room, /neither MESHAGENT_API_URL's origin nor in ROOMRUNNER_ROOM_HOSTS/);
      }),
    );
  });

  it('refuses another port and a downgrade to plain ws on the platform host', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65535 }).filter((port) => port !== 443),
        roomName,
        (port, room) => {
          expectRefused(cloud, `wss://api.meshagent.com:${port}/rooms/${encodeURIComponent(room)}`, room);
        },
      ),
    );
    expectRefused(cloud, 'ws://api.meshagent.com/rooms/r', 'r');
    expectRefused(cloud, 'http://api.meshagent.com/rooms/r', 'r');
    expectRefused(local, 'ws://127.0.0.1:8082/rooms/r', 'r');
    expectRefused(local, 'ws://localhost:8081/rooms/r', 'r');
  });

  it('refuses a room_url whose path names another room than room_name', () => {
    fc.assert(
      fc.property(roomName, roomName, (named, room) => {
        fc.pre(named !== room && named !== `${room}/` && named !== '.' && named !== '..');
        expectRefused(cloud, roomUrl('wss://api.meshagent.com', named), room, /names another room/);
      }),
    );
    expectRefused(cloud, 'wss://api.meshagent.com/admin', 'r', /path is not \/rooms\/<room>/);
    expectRefused(cloud, 'wss://api.meshagent.com/rooms/', 'r');
    expectRefused(cloud, 'wss://api.meshagent.com/rooms/a/../b', 'a');
    expectRefused(cloud, 'wss://api.meshagent.com/rooms/%E0%A4%A', '%E0%A4%A');
  });

  it('refuses link-local addresses even when they are listed', () => {
    const listed = new RoomUrlPolicy({ apiUrl: 'http://169.254.169.254', roomHosts: ['ws://169.254.1.1', 'ws://[fe80::1]'] });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (a, b) => {
        expectRefused(listed, `ws://169.254.${a}.${b}/rooms/r`, 'r', /link-local/);
      }),
    );
    for (const host of ['[fe80::1]', '[FEBF::2]', '[::ffff:169.254.169.254]', '2852039166', '0xa9.0xfe.0xa9.0xfe']) {
      expectRefused(listed, `ws://${host}/rooms/r`, 'r', /link-local/);
    }
  });

  it('refuses other schemes, credentials, a query and a fragment', () => {
    for (const url of ['ftp://api.meshagent.com/rooms/r', 'file:///rooms/r', 'javascript:alert(1)', 'data:text/plain,rooms/r']) {
      expectRefused(cloud, url, 'r', /scheme/);
    }
    expectRefused(cloud, 'wss://user:pw@api.meshagent.com/rooms/r', 'r', /credentials/);
    expectRefused(cloud, 'wss://api.meshagent.com/rooms/r?token=x', 'r', /query or a fragment/);
    expectRefused(cloud, 'wss://api.meshagent.com/rooms/r#x', 'r', /query or a fragment/);
    expectRefused(cloud, 'rooms/r', 'r', /not an absolute URL/);
  });

  it('accepts a URL-shaped string only as wss on the platform host, with no credentials, query or fragment', () => {
    let accepted = 0;
    fc.assert(
      fc.property(urlish, (url) => {
        // The room the URL's last segment names, so that acceptance is possible at all.
        const last =
          url
            .replace(/[?#].*$/, '')
            .split('/')
            .pop() ?? '';
        let room: string;
        try {
          room = decodeURIComponent(last) || 'r';
        } catch {
          room = last || 'r';
        }
        let dialed: URL;
        try {
          dialed = new URL(cloud.check(url, room));
        } catch (err) {
          expect(isRoomrunnerError(err, 'RR_ROOM_URL_REFUSED')).toBe(true);
          return;
        }
        accepted++;
        expect(dialed.protocol).toBe('wss:');
        expect(dialed.host).toBe('api.meshagent.com');
        expect([dialed.username, dialed.password, dialed.search, dialed.hash]).toEqual(['', '', '', '']);
        expect(decodeURIComponent(dialed.pathname.replace(/^\/rooms\//, '').replace(/\/$/, ''))).toBe(room);
      }),
      // A random URL is acceptable about once in a thousand draws; these make sure the accepting side is checked
      // in every run, not only in the runs whose draws happen to hit it.
      { numRuns: 2000, examples: [['wss://api.meshagent.com/rooms/r'], ['WSS://API.MeshAgent.com:443/rooms/abc'], ['wss://api.meshagent.com/rooms/a%20b']] },
    );
    expect(accepted).toBeGreaterThanOrEqual(3);
  });

  it('answers any string with a URL on an allowed origin or RR_ROOM_URL_REFUSED, nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), urlish), roomName, (url, room) => {
        let dialed: string | undefined;
        try {
          dialed = cloud.check(url, room);
        } catch (err) {
          expect(isRoomrunnerError(err, 'RR_ROOM_URL_REFUSED')).toBe(true);
          return;
        }
        expect(new URL(dialed).origin).toBe('wss://api.meshagent.com');
        expect(new URL(dialed).pathname.startsWith('/rooms/')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses to start with a room host it cannot dial, naming the setting', () => {
    for (const entry of ['ftp://files.example.com', 'https://user@rooms.example.com', 'wss://rooms.example.com/?q=1', '::']) {
      expect(() => new RoomUrlPolicy({ apiUrl: 'https://api.meshagent.com', roomHosts: [entry] })).toThrow(
        expect.objectContaining({ code: 'RR_CONFIG_INVALID', message: expect.stringContaining('ROOMRUNNER_ROOM_HOSTS / --room-hosts') }),
      );
    }
  });
});
