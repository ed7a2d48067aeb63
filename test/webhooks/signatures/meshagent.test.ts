import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../../src/errors.js';
import { signJwt } from '../../../src/auth/jwt.js';
import { MESHAGENT_SIGNATURE_HEADER, buildMeshagentDelivery, signMeshagent, verifyMeshagent } from '../../../src/webhooks/signatures/meshagent.js';
import { pythonDumps, pythonDumpsFromJsonText } from '../../../src/webhooks/signatures/python-json.js';
import { codeOf } from '../../support/errors.js';

const NOW = 1_750_000_000;

/**
 * Made with CPython 3.11: S = json.dumps(envelope) with non-ASCII text, an emoji and floats (1.0, 1e20,
 * 1e-7), its SHA-256, and the header built by hand with hmac/base64 (header and payload JSON written
 * compactly, as JS does) using the secret below.
 */
const PY = {
  secret: 'py-webhook-secret',
  body: '{"event": "room.started", "data": {"room_name": "M\\u00fcnchen \\u2014 \\u65e5\\u672c \\ud83d\\ude80", "project_id": "p1", "score": 1.0, "ratio": 0.5, "tiny": 1e-07, "big": 1e+20, "n": 3}}',
  digest: 'cab0c75b7293f3a587b21a968ba443f7d8e6d0b2ea6443d57c8ae81dbd45f1a2',
  header:
    'Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaGEyNTYiOiJjYWIwYzc1YjcyOTNmM2E1ODdiMjFhOTY4YmE0NDNmN2Q4ZTZkMGIyZWE2NDQzZDU3YzhhZTgxZGJkNDVmMWEyIn0.hJZqmtuXRGyiWRnh-BkRMNc-Iyx8ifqqqvlol5TjLkI',
  // json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False): same data, other bytes.
  compact:
    '{"event":"room.started","data":{"room_name":"M\u00fcnchen \u2014 \u65e5\u672c \ud83d\ude80","project_id":"p1","score":1.0,"ratio":0.5,"tiny":1e-07,"big":1e+20,"n":3}}',
};

/** CPython 3.11 json.dumps of an envelope without integral floats, and its SHA-256. */
const PY_NO_INTEGRAL_FLOATS = {
  body: '{"event": "room.ended", "data": {"room_name": "S\\u00e3o Paulo \\u2708 \\ud83c\\udf0e", "project_id": "p2", "duration_seconds": 93.25, "load": 0.1, "tiny": 1.5e-07, "participants": 4}}',
  digest: '17efedfa304679d336e08a75c167cbc32d6430e4eb79b8f93745ae2a4bd7646b',
};

const bearer = (claims: Record<string, unknown>, secret: string) => `Bearer ${signJwt(claims, secret)}`;

describe('verifyMeshagent', () => {
  it('verifies a body and header made by Python and returns the signed digest', () => {
    const result = verifyMeshagent({ rawBody: Buffer.from(PY.body), header: PY.header, secrets: [PY.secret], now: NOW });
    expect(result).toStrictEqual({ digest: PY.digest, matchedBy: 'raw' });
  });

  it('verifies a Python body signed by a JWT made here', () => {
    const header = bearer({ sha256: PY_NO_INTEGRAL_FLOATS.digest }, 'secret');
    const result = verifyMeshagent({ rawBody: Buffer.from(PY_NO_INTEGRAL_FLOATS.body), header, secrets: ['secret'], now: NOW });
    expect(result.digest).toBe(PY_NO_INTEGRAL_FLOATS.digest);
  });

  it('verifies a re-formatted body through the Python re-serialisation fallback', () => {
    const result = verifyMeshagent({ rawBody: Buffer.from(PY.compact), header: PY.header, secrets: [PY.secret], now: NOW });
    expect(result).toStrictEqual({ digest: PY.digest, matchedBy: 'python-json' });
  });

  it('verifies compact JSON.stringify output of the same data when it has no integral floats', () => {
    const restringified = JSON.stringify(JSON.parse(PY_NO_INTEGRAL_FLOATS.body));
    expect(restringified).not.toBe(PY_NO_INTEGRAL_FLOATS.body);
    const header = bearer({ sha256: PY_NO_INTEGRAL_FLOATS.digest }, 'secret');
    const result = verifyMeshagent({ rawBody: Buffer.from(restringified), header, secrets: ['secret'], now: NOW });
    expect(result).toStrictEqual({ digest: PY_NO_INTEGRAL_FLOATS.digest, matchedBy: 'python-json' });
  });

  it('cannot verify JSON.stringify output that lost a 1.0 (Python could not either)', () => {
    const restringified = JSON.stringify(JSON.parse(PY.body)); // "score":1 and "big":100000000000000000000
    expect(codeOf(() => verifyMeshagent({ rawBody: Buffer.from(restringified), header: PY.header, secrets: [PY.secret] }))).toBe(
      'RR_WEBHOOK_SIGNATURE_MISMATCH',
    );
  });

  it('accepts the secret in any position of the list, for rotation', () => {
    const result = verifyMeshagent({ rawBody: PY.body, header: PY.header, secrets: ['old', PY.secret, 'next'], now: NOW });
    expect(result.digest).toBe(PY.digest);
  });

  it.each<[string, string | string[] | undefined, ErrorCode]>([
    ['no header', undefined, 'RR_WEBHOOK_SIGNATURE_MISSING'],
    ['an empty header', '', 'RR_WEBHOOK_SIGNATURE_MISSING'],
    ['another auth scheme', `Basic ${PY.header.slice(7)}`, 'RR_WEBHOOK_SIGNATURE_MALFORMED'],
    ['a bare JWT', PY.header.slice(7), 'RR_WEBHOOK_SIGNATURE_MALFORMED'],
    ['a bearer value that is not a JWT', 'Bearer not-a-jwt', 'RR_WEBHOOK_SIGNATURE_MALFORMED'],
    ['two headers', [PY.header, PY.header], 'RR_WEBHOOK_SIGNATURE_MALFORMED'],
    ['a JWT signed with another secret', bearer({ sha256: PY.digest }, 'other'), 'RR_WEBHOOK_SIGNATURE_MISMATCH'],
    ['a JWT without a sha256 claim', bearer({ digest: PY.digest }, PY.secret), 'RR_WEBHOOK_SIGNATURE_MALFORMED'],
    ['an upper-case digest', bearer({ sha256: PY.digest.toUpperCase() }, PY.secret), 'RR_WEBHOOK_SIGNATURE_MALFORMED'],
    ['an expired JWT', bearer({ sha256: PY.digest, exp: NOW }, PY.secret), 'RR_WEBHOOK_SIGNATURE_MISMATCH'],
    ['a digest of another body', bearer({ sha256: 'a'.repeat(64) }, PY.secret), 'RR_WEBHOOK_SIGNATURE_MISMATCH'],
  ])('rejects %s', (_name, header, code) => {
    expect(codeOf(() => verifyMeshagent({ rawBody: PY.body, header, secrets: [PY.secret], now: NOW }))).toBe(code);
  });

  it('rejects alg "none"', () => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const header = `Bearer ${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sha256: PY.digest })}.`;
    expect(codeOf(() => verifyMeshagent({ rawBody: PY.body, header, secrets: [PY.secret] }))).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  it('needs at least one non-empty secret', () => {
    expect(codeOf(() => verifyMeshagent({ rawBody: PY.body, header: PY.header, secrets: [] }))).toBe('RR_WEBHOOK_SECRET_INVALID');
    expect(codeOf(() => verifyMeshagent({ rawBody: PY.body, header: PY.header, secrets: [''] }))).toBe('RR_WEBHOOK_SECRET_INVALID');
  });

  it('never throws anything but RoomrunnerError for random headers and bodies', () => {
    const header = fc.oneof(
      fc.constant(undefined),
      fc.string(),
      fc.string().map((text) => `Bearer ${text}`),
      fc.dictionary(fc.string(), fc.jsonValue()).map((claims) => bearer(claims, PY.secret)),
      fc.array(fc.string()),
    );
    const body = fc.oneof(fc.uint8Array(), fc.string({ unit: 'binary' }), fc.json());
    fc.assert(
      fc.property(header, body, (value, rawBody) => {
        expect(codeOf(() => verifyMeshagent({ rawBody, header: value, secrets: [PY.secret], now: NOW }))).not.toBe('foreign error');
      }),
    );
  });

  it('verifies a signature of any body and fails on any single-byte change Python would not undo', () => {
    const body = fc.oneof(
      fc.uint8Array({ minLength: 1 }),
      fc.jsonValue().map((value) => Buffer.from(pythonDumps(value))),
    );
    fc.assert(
      fc.property(body, fc.nat(), fc.integer({ min: 1, max: 255 }), (raw, index, delta) => {
        const signed = Buffer.from(raw);
        const header = signMeshagent(signed, 'k');
        expect(verifyMeshagent({ rawBody: signed, header, secrets: ['k'], now: NOW }).matchedBy).toBe('raw');
        const changed = Buffer.from(signed);
        const at = index % changed.length;
        changed[at] = ((changed[at] ?? 0) + delta) % 256;
        // The §A.4 fallback accepts exactly the changes Python's json.dumps(json.loads(...)) undoes.
        const redone = pythonDumpsOrUndefined(changed);
        const undone = redone !== undefined && Buffer.from(redone, 'utf8').equals(signed);
        const code = codeOf(() => verifyMeshagent({ rawBody: changed, header, secrets: ['k'], now: NOW }));
        expect(code).toBe(undone ? 'no error' : 'RR_WEBHOOK_SIGNATURE_MISMATCH');
      }),
    );
  });
});

function pythonDumpsOrUndefined(raw: Buffer): string | undefined {
  try {
    return pythonDumpsFromJsonText(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw));
  } catch {
    return undefined;
  }
}

describe('signMeshagent', () => {
  it('produces the same header as the Python-made vector', () => {
    expect(signMeshagent(PY.body, PY.secret)).toBe(PY.header);
  });

  it('hashes exactly the bytes it is given', () => {
    const header = signMeshagent(Buffer.from('{"a": 1}'), 's');
    const [, payload] = header.slice('Bearer '.length).split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as { sha256: string };
    expect(claims).toStrictEqual({ sha256: createHash('sha256').update('{"a": 1}').digest('hex') });
  });

  it('refuses an empty secret', () => {
    expect(codeOf(() => signMeshagent('{}', ''))).toBe('RR_WEBHOOK_SECRET_INVALID');
  });
});

describe('buildMeshagentDelivery', () => {
  it('serialises like Python json.dumps and signs exactly that body', () => {
    const envelope = {
      event: 'room.ended',
      data: { room_name: 'São Paulo ✈ 🌎', project_id: 'p2', duration_seconds: 93.25, load: 0.1, tiny: 1.5e-7, participants: 4 },
    };
    const delivery = buildMeshagentDelivery(envelope, 'secret');
    expect(delivery.body).toBe(PY_NO_INTEGRAL_FLOATS.body);
    expect(delivery.headers['content-type']).toBe('application/json');
    const header = delivery.headers[MESHAGENT_SIGNATURE_HEADER];
    expect(verifyMeshagent({ rawBody: delivery.body, header, secrets: ['secret'] }).digest).toBe(PY_NO_INTEGRAL_FLOATS.digest);
  });

  it('sends no signature header without a secret (§A.4 step 5)', () => {
    expect(buildMeshagentDelivery({ event: 'x', data: {} }).headers).toStrictEqual({ 'content-type': 'application/json' });
  });
});
