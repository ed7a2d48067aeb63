import { ApiScope, ParticipantToken, encodeApiKey, parseApiKey as sdkParseApiKey, participantToken } from '@meshagent/meshagent';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJwt } from '../../src/auth/jwt.js';
import {
  TOKEN_SCHEMA_VERSION,
  agentDefaultApiScope,
  agentHostApiScope,
  allowsApi,
  formatApiKey,
  fullApiScope,
  mintParticipantToken,
  parseApiKey,
  resolveTokenSecret,
  userDefaultApiScope,
  verifyParticipantToken,
} from '../../src/auth/token.js';
import { codeOf } from '../support/errors.js';

const NOW = 1_750_000_000;
const SECRET = 'room-secret';
const PROJECT_ID = '6f1c2b9e-3d4a-4c5b-8e7f-0123456789ab';
const KEY_ID = '123e4567-e89b-12d3-a456-426614174000';

// The SDK's toJwt prefers MESHAGENT_API_KEY from the environment over an explicit secret (§B), and
// falls back to MESHAGENT_SECRET; keep both out of the way while the SDK signs.
const saved = { apiKey: process.env['MESHAGENT_API_KEY'], secret: process.env['MESHAGENT_SECRET'] };
beforeAll(() => {
  delete process.env['MESHAGENT_API_KEY'];
  delete process.env['MESHAGENT_SECRET'];
});
afterAll(() => {
  if (saved.apiKey !== undefined) process.env['MESHAGENT_API_KEY'] = saved.apiKey;
  if (saved.secret !== undefined) process.env['MESHAGENT_SECRET'] = saved.secret;
});

function sdkToken(role: string, room = 'myroom'): ParticipantToken {
  return participantToken({ participantName: 'my-agent', roomName: room, role, projectId: PROJECT_ID, apiKeyId: KEY_ID });
}

describe('tokens minted by the official SDK', () => {
  it('verify with our verifier and expose room, role and api scope', async () => {
    const jwt = await sdkToken('agent').toJwt({ token: SECRET });
    const claims = verifyParticipantToken(jwt, { secret: SECRET, room: 'myroom', now: NOW });
    expect(claims).toMatchObject({
      name: 'my-agent',
      room: 'myroom',
      role: 'agent',
      projectId: PROJECT_ID,
      keyId: KEY_ID,
      version: TOKEN_SCHEMA_VERSION,
      expiresAt: undefined,
      extra: {},
    });
    // npm 0.39.9 mints its own (older) agentDefault preset; it is parsed as sent.
    expect(claims.api).toStrictEqual(ApiScope.agentDefault().toJSON());
  });

  it('are byte-identical to ours for the same inputs', async () => {
    const sdkJwt = await sdkToken('agent').toJwt({ token: SECRET });
    const ours = mintParticipantToken({
      name: 'my-agent',
      room: 'myroom',
      role: 'agent',
      api: ApiScope.agentDefault().toJSON(),
      secret: SECRET,
      projectId: PROJECT_ID,
      keyId: KEY_ID,
    });
    expect(ours).toBe(sdkJwt);
  });

  it('carry an exp we enforce with the injected clock', async () => {
    const jwt = await sdkToken('user').toJwt({ token: SECRET, expiration: new Date((NOW + 60) * 1000) });
    expect(verifyParticipantToken(jwt, { secret: SECRET, now: NOW }).expiresAt).toBe(NOW + 60);
    expect(codeOf(() => verifyParticipantToken(jwt, { secret: SECRET, now: NOW + 61 }))).toBe('RR_TOKEN_EXPIRED');
  });

  it('signed with an API key verify with the key secret and carry its ids', async () => {
    const apiKey = encodeApiKey({ id: KEY_ID, projectId: PROJECT_ID, secret: 'key-secret-with-dash-' });
    const jwt = await participantToken({ participantName: 'p', roomName: 'r', role: 'tool' }).toJwt({ apiKey });
    const claims = verifyParticipantToken(jwt, { secret: parseApiKey(apiKey).secret, room: 'r', now: NOW });
    expect(claims).toMatchObject({ role: 'tool', keyId: KEY_ID, projectId: PROJECT_ID });
  });
});

describe('tokens minted by us', () => {
  it('are read by the official SDK with the same claims', async () => {
    const jwt = mintParticipantToken({
      name: 'host',
      room: 'demo',
      role: 'agent',
      secret: SECRET,
      projectId: PROJECT_ID,
      keyId: KEY_ID,
      extra: { session: 'abc' },
    });
    const parsed = await ParticipantToken.fromJwt(jwt, { token: SECRET });
    expect(parsed.name).toBe('host');
    expect(parsed.role).toBe('agent');
    expect(parsed.projectId).toBe(PROJECT_ID);
    expect(parsed.apiKeyId).toBe(KEY_ID);
    expect(parsed.version).toBe(TOKEN_SCHEMA_VERSION);
    expect(parsed.extra).toStrictEqual({ session: 'abc' });
    expect(parsed.grantScope('room')).toBe('demo');
    expect(parsed.getApiGrant()?.toJSON()).toStrictEqual(agentHostApiScope());
  });

  it('minted with an API key carry its ids and verify in the SDK with its secret', async () => {
    const apiKey = formatApiKey({ keyId: KEY_ID, projectId: PROJECT_ID, secret: 's3cr3t' });
    // The SDK checks `exp` against the wall clock, so mint relative to it.
    const now = Math.floor(Date.now() / 1000);
    const jwt = mintParticipantToken({ name: 'u', room: 'r', role: 'user', apiKey, secret: 'ignored', now, expiresInSeconds: 600 });
    const parsed = await ParticipantToken.fromJwt(jwt, { token: 's3cr3t' });
    expect(parsed.apiKeyId).toBe(KEY_ID);
    expect(parsed.projectId).toBe(PROJECT_ID);
    expect(parsed.extra).toStrictEqual({ exp: now + 600 });
    expect(verifyParticipantToken(jwt, { secret: 's3cr3t', now }).expiresAt).toBe(now + 600);
  });

  it('are refused by the SDK with the wrong secret', async () => {
    const jwt = mintParticipantToken({ name: 'u', room: 'r', role: 'user', secret: SECRET });
    await expect(ParticipantToken.fromJwt(jwt, { token: 'wrong' })).rejects.toThrow();
  });

  it('omit the api grant only when asked with null', () => {
    const jwt = mintParticipantToken({ name: 'u', room: 'r', role: 'user', secret: SECRET, api: null });
    expect(verifyParticipantToken(jwt, { secret: SECRET }).grants.map((grant) => grant.name)).toStrictEqual(['room', 'role']);
  });

  it('refuse to mint without a secret or with bad options', () => {
    expect(codeOf(() => mintParticipantToken({ name: 'u', room: 'r', role: 'user' }))).toBe('RR_TOKEN_NO_SECRET');
    expect(codeOf(() => mintParticipantToken({ name: '', room: 'r', role: 'user', secret: SECRET }))).toBe('RR_TOKEN_MALFORMED');
    expect(codeOf(() => mintParticipantToken({ name: 'u', room: 'r', role: 'admin' as 'user', secret: SECRET }))).toBe('RR_TOKEN_MALFORMED');
    expect(codeOf(() => mintParticipantToken({ name: 'u', room: 'r', role: 'user', secret: SECRET, expiresInSeconds: -1 }))).toBe('RR_TOKEN_MALFORMED');
  });
});

describe('verifyParticipantToken', () => {
  const jwt = mintParticipantToken({ name: 'u', room: 'r', role: 'agent', secret: SECRET });

  it('rejects a tampered signature', () => {
    const tampered = jwt.slice(0, -2) + (jwt.endsWith('AA') ? 'BA' : 'AA');
    expect(codeOf(() => verifyParticipantToken(tampered, { secret: SECRET }))).toBe('RR_TOKEN_SIGNATURE');
  });

  it('rejects alg "none"', () => {
    const [, payload] = jwt.split('.');
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
    expect(codeOf(() => verifyParticipantToken(unsigned, { secret: SECRET }))).toBe('RR_TOKEN_SIGNATURE');
  });

  it('rejects an expired token', () => {
    const expiring = mintParticipantToken({ name: 'u', room: 'r', role: 'user', secret: SECRET, now: NOW, expiresInSeconds: 30 });
    expect(codeOf(() => verifyParticipantToken(expiring, { secret: SECRET, now: NOW + 30 }))).toBe('RR_TOKEN_EXPIRED');
  });

  it('rejects a token for another room, and one with no room grant when a room is required', () => {
    expect(codeOf(() => verifyParticipantToken(jwt, { secret: SECRET, room: 'other' }))).toBe('RR_TOKEN_WRONG_ROOM');
    const roomless = signJwt({ name: 'u', grants: [] }, SECRET);
    expect(codeOf(() => verifyParticipantToken(roomless, { secret: SECRET, room: 'r' }))).toBe('RR_TOKEN_WRONG_ROOM');
    expect(verifyParticipantToken(roomless, { secret: SECRET }).room).toBeUndefined();
  });

  it('accepts either of two secrets during rotation', () => {
    expect(verifyParticipantToken(jwt, { secret: ['new-secret', SECRET] }).name).toBe('u');
  });

  it('defaults the role to user and normalises api scope aliases', () => {
    const token = signJwt(
      {
        name: 'u',
        grants: [
          { name: 'room', scope: 'r' },
          { name: 'api', scope: { database: {}, agents: { call: false } } },
        ],
      },
      SECRET,
    );
    const claims = verifyParticipantToken(token, { secret: SECRET, room: 'r' });
    expect(claims.role).toBe('user');
    expect(claims.api).toStrictEqual({ dataset: {}, agents: { call: false } });
    expect(allowsApi(claims.api, 'dataset')).toBe(true);
    expect(allowsApi(claims.api, 'messaging')).toBe(false);
  });

  it.each([
    ['no name', { grants: [] }],
    ['grants that are not an array', { name: 'u', grants: {} }],
    ['a grant without a name', { name: 'u', grants: [{ scope: 'x' }] }],
    [
      'two api grants',
      {
        name: 'u',
        grants: [
          { name: 'api', scope: {} },
          { name: 'api', scope: {} },
        ],
      },
    ],
    ['a numeric sub', { name: 'u', grants: [], sub: 1 }],
  ])('rejects claims with %s as malformed', (_name, claims) => {
    expect(codeOf(() => verifyParticipantToken(signJwt(claims, SECRET), { secret: SECRET }))).toBe('RR_TOKEN_MALFORMED');
  });

  it('never throws anything but RoomrunnerError for random input', () => {
    const claims = fc.dictionary(fc.constantFrom('name', 'grants', 'sub', 'kid', 'version', 'exp', 'x'), fc.jsonValue());
    const candidate = fc.oneof(
      fc.string({ unit: 'binary' }),
      claims.map((value) => signJwt(value, SECRET)),
    );
    fc.assert(
      fc.property(candidate, fc.option(fc.string()), (text, room) => {
        const code = codeOf(() => verifyParticipantToken(text, { secret: SECRET, now: NOW, ...(room === null ? {} : { room }) }));
        expect(code).not.toBe('foreign error');
      }),
    );
  });
});

describe('API keys', () => {
  it('parse the keys the SDK encodes, and the SDK parses ours', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.uuid(), fc.string({ minLength: 1 }), (keyId, projectId, secret) => {
        const sdkKey = encodeApiKey({ id: keyId, projectId, secret });
        expect(parseApiKey(sdkKey)).toStrictEqual({ keyId, projectId, secret });
        expect(formatApiKey({ keyId, projectId, secret })).toBe(sdkKey);
        expect(sdkParseApiKey(formatApiKey({ keyId, projectId, secret }))).toStrictEqual({ id: keyId, projectId, secret });
      }),
    );
  });

  it('keeps dashes inside the secret', () => {
    const key = formatApiKey({ keyId: KEY_ID, projectId: PROJECT_ID, secret: 'a-b-c' });
    expect(key).toBe('ma-Ej5FZ.ibEtOkVkJmFBdAAA-bxwrnj1KTFuOfwEjRWeJqw-a-b-c');
    expect(parseApiKey(key).secret).toBe('a-b-c');
  });

  it.each([
    ['a missing prefix', 'mb-Ej5FZ.ibEtOkVkJmFBdAAA-bxwrnj1KTFuOfwEjRWeJqw-s'],
    ['too few parts', 'ma-Ej5FZ.ibEtOkVkJmFBdAAA-bxwrnj1KTFuOfwEjRWeJqw'],
    ['an empty secret', 'ma-Ej5FZ.ibEtOkVkJmFBdAAA-bxwrnj1KTFuOfwEjRWeJqw-'],
    ['a short id part', 'ma-Ej5FZ-bxwrnj1KTFuOfwEjRWeJqw-s'],
    ['a non-canonical id part', 'ma-Ej5FZ.ibEtOkVkJmFBdAAB-bxwrnj1KTFuOfwEjRWeJqw-s'],
    ['a base64 "+" in an id part', 'ma-Ej5FZ+ibEtOkVkJmFBdAAA-bxwrnj1KTFuOfwEjRWeJqw-s'],
  ])('rejects a key with %s', (_name, key) => {
    expect(codeOf(() => parseApiKey(key))).toBe('RR_TOKEN_MALFORMED');
  });

  it('never throws anything but RoomrunnerError for random input', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }).map((tail) => `ma-${tail}`),
        (key) => {
          expect(codeOf(() => parseApiKey(key))).not.toBe('foreign error');
        },
      ),
    );
  });
});

describe('resolveTokenSecret', () => {
  const apiKey = formatApiKey({ keyId: KEY_ID, projectId: PROJECT_ID, secret: 'from-key' });

  it('prefers MESHAGENT_API_KEY and takes kid and sub from it', () => {
    expect(resolveTokenSecret({ apiKey, secret: 'plain' })).toStrictEqual({
      secret: 'from-key',
      keyId: KEY_ID,
      projectId: PROJECT_ID,
      source: 'MESHAGENT_API_KEY',
    });
  });

  it('falls back to MESHAGENT_SECRET with MESHAGENT_PROJECT_ID', () => {
    expect(resolveTokenSecret({ apiKey: '', secret: 'plain', projectId: PROJECT_ID })).toStrictEqual({
      secret: 'plain',
      projectId: PROJECT_ID,
      source: 'MESHAGENT_SECRET',
    });
  });

  it('names both variables when neither is set', () => {
    expect(codeOf(() => resolveTokenSecret({}))).toBe('RR_TOKEN_NO_SECRET');
    expect(() => resolveTokenSecret({ secret: '' })).toThrow(/MESHAGENT_API_KEY or MESHAGENT_SECRET/);
  });

  it('reports a malformed API key without echoing it', () => {
    expect(() => resolveTokenSecret({ apiKey: 'ma-nope-secret-value' })).toThrow(
      expect.objectContaining({ code: 'RR_TOKEN_MALFORMED', message: expect.not.stringContaining('secret-value') }),
    );
  });

  it('feeds mintParticipantToken directly', () => {
    const jwt = mintParticipantToken({ name: 'u', room: 'r', role: 'agent', ...resolveTokenSecret({ apiKey }) });
    expect(verifyParticipantToken(jwt, { secret: 'from-key' })).toMatchObject({ keyId: KEY_ID, projectId: PROJECT_ID });
  });
});

describe('API scope presets', () => {
  // The JSON meshagent-ts 0.47 (19032cd) writes for its presets, key order included (byte-identical tokens).
  const SDK_047_AGENT_DEFAULT =
    '{"livekit":{},"queues":{},"messaging":{},"dataset":{},"sqlite":{},"memory":{},"sync":{},"storage":{},"containers":{},"developer":{},"agents":{},"llm":{},"services":{}}';
  const SDK_047_FULL =
    '{"livekit":{},"queues":{},"messaging":{},"dataset":{},"sqlite":{},"memory":{},"sync":{},"storage":{},"containers":{},"developer":{},"agents":{},"llm":{},"admin":{},"tunnels":{},"services":{}}';

  it('match the current SDK presets: no secrets, sqlite added, tunnels only in full', () => {
    expect(JSON.stringify(agentDefaultApiScope())).toBe(SDK_047_AGENT_DEFAULT);
    expect(JSON.stringify(userDefaultApiScope())).toBe(SDK_047_AGENT_DEFAULT);
    expect(JSON.stringify(fullApiScope())).toBe(SDK_047_FULL);
  });

  it('keep parsing the presets older SDKs mint (secrets, tunnels, no sqlite)', () => {
    const legacy = ApiScope.agentDefault({ tunnels: true }).toJSON();
    expect(Object.keys(legacy)).toContain('secrets');
    const jwt = mintParticipantToken({ name: 'old', room: 'r', role: 'agent', secret: 'k', api: legacy });
    const claims = verifyParticipantToken(jwt, { secret: 'k', room: 'r' });
    expect(claims.api).toStrictEqual(legacy);
    expect(allowsApi(claims.api, 'secrets')).toBe(true);
    expect(allowsApi(claims.api, 'sqlite')).toBe(false);
    const current = verifyParticipantToken(mintParticipantToken({ name: 'new', room: 'r', role: 'agent', secret: 'k', api: fullApiScope() }), {
      secret: 'k',
      room: 'r',
    });
    expect(current.api).toStrictEqual(fullApiScope());
  });

  it('give an agent host only agents and messaging', () => {
    expect(agentHostApiScope()).toStrictEqual({ agents: {}, messaging: {} });
  });
});
