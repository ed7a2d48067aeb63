import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJwt, DEFAULT_JWT_LEEWAY_SECONDS, signJwt, verifyJwt } from '../../src/auth/jwt.js';
import { codeOf } from '../support/errors.js';

const NOW = 1_750_000_000;

const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** A token with any header, signed with HMAC-SHA256 regardless of what the header says. */
function forge(header: Record<string, unknown>, claims: Record<string, unknown>, secret: string): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

describe('signJwt', () => {
  it('reproduces the jwt.io HS256 known-answer token', () => {
    // https://jwt.io default example, secret "your-256-bit-secret".
    const token = signJwt({ sub: '1234567890', name: 'John Doe', iat: 1516239022 }, 'your-256-bit-secret');
    expect(token).toBe(
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
    );
  });

  it('writes the header {"alg":"HS256","typ":"JWT"}', () => {
    expect(decodeJwt(signJwt({}, 's')).header).toStrictEqual({ alg: 'HS256', typ: 'JWT' });
  });

  it('refuses an empty secret', () => {
    expect(codeOf(() => signJwt({}, ''))).toBe('RR_TOKEN_NO_SECRET');
  });
});

describe('verifyJwt', () => {
  const secret = 'top-secret';
  const token = signJwt({ name: 'agent', grants: [] }, secret);

  it('returns the claims of a token signed with the secret', () => {
    expect(verifyJwt(token, secret, { now: NOW })).toStrictEqual({ name: 'agent', grants: [] });
  });

  it('accepts any of several secrets, for rotation', () => {
    expect(verifyJwt(token, ['old', secret], { now: NOW })['name']).toBe('agent');
    expect(verifyJwt(token, [Buffer.from(secret)], { now: NOW })['name']).toBe('agent');
  });

  it('rejects a token signed with another secret', () => {
    expect(codeOf(() => verifyJwt(token, 'other', { now: NOW }))).toBe('RR_TOKEN_SIGNATURE');
  });

  it('rejects a tampered signature and a tampered payload', () => {
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    expect(codeOf(() => verifyJwt(`${header}.${payload}.${flipped}`, secret))).toBe('RR_TOKEN_SIGNATURE');
    const otherPayload = b64url(JSON.stringify({ name: 'admin', grants: [] }));
    expect(codeOf(() => verifyJwt(`${header}.${otherPayload}.${signature}`, secret))).toBe('RR_TOKEN_SIGNATURE');
  });

  it('rejects a non-canonical spelling of the right signature', () => {
    const [header, payload, signature] = token.split('.') as [string, string, string];
    // The last of 43 characters carries 2 unused bits; changing them keeps the decoded bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(signature.at(-1) ?? 'A');
    const twin = signature.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(twin, 'base64url')).toStrictEqual(Buffer.from(signature, 'base64url'));
    expect(codeOf(() => verifyJwt(`${header}.${payload}.${twin}`, secret))).toBe('RR_TOKEN_SIGNATURE');
  });

  it('refuses alg "none", even with an empty signature', () => {
    const unsigned = `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url('{"name":"x"}')}.`;
    expect(codeOf(() => verifyJwt(unsigned, secret))).toBe('RR_TOKEN_SIGNATURE');
  });

  it('refuses any algorithm other than HS256, even when the HMAC matches', () => {
    for (const alg of ['HS512', 'RS256', 'hs256', undefined]) {
      expect(codeOf(() => verifyJwt(forge({ alg, typ: 'JWT' }, { name: 'x' }, secret), secret))).toBe('RR_TOKEN_SIGNATURE');
    }
  });

  it('refuses a critical header extension it does not know', () => {
    const token = forge({ alg: 'HS256', crit: ['b64'], b64: false }, { name: 'x' }, secret);
    expect(codeOf(() => verifyJwt(token, secret))).toBe('RR_TOKEN_MALFORMED');
  });

  it('enforces exp against the injected clock, and only when present', () => {
    const expiring = signJwt({ name: 'x', exp: NOW + 60 }, secret);
    expect(verifyJwt(expiring, secret, { now: NOW + 59 })['exp']).toBe(NOW + 60);
    expect(codeOf(() => verifyJwt(expiring, secret, { now: NOW + 60 }))).toBe('RR_TOKEN_EXPIRED');
    expect(codeOf(() => verifyJwt(expiring, secret, { now: NOW + 3600 }))).toBe('RR_TOKEN_EXPIRED');
    expect(verifyJwt(token, secret, { now: Number.MAX_SAFE_INTEGER })['name']).toBe('agent');
  });

  it('checks exp with the wall clock when no now is given', () => {
    expect(codeOf(() => verifyJwt(signJwt({ exp: 1 }, secret), secret))).toBe('RR_TOKEN_EXPIRED');
  });

  it('refuses an nbf later than now plus the leeway, and accepts one within it', () => {
    const later = signJwt({ name: 'x', nbf: NOW + 600 }, secret);
    expect(codeOf(() => verifyJwt(later, secret, { now: NOW }))).toBe('RR_TOKEN_NOT_YET_VALID');
    expect(verifyJwt(later, secret, { now: NOW + 600 })['nbf']).toBe(NOW + 600);
    const skewed = signJwt({ name: 'x', nbf: NOW + DEFAULT_JWT_LEEWAY_SECONDS }, secret);
    expect(verifyJwt(skewed, secret, { now: NOW })['name']).toBe('x');
    expect(codeOf(() => verifyJwt(skewed, secret, { now: NOW, leewaySeconds: 0 }))).toBe('RR_TOKEN_NOT_YET_VALID');
  });

  it('refuses a token issued in the future beyond the leeway', () => {
    const future = signJwt({ name: 'x', iat: NOW + DEFAULT_JWT_LEEWAY_SECONDS + 1 }, secret);
    expect(codeOf(() => verifyJwt(future, secret, { now: NOW }))).toBe('RR_TOKEN_NOT_YET_VALID');
    expect(verifyJwt(signJwt({ iat: NOW - 86_400 }, secret), secret, { now: NOW })['iat']).toBe(NOW - 86_400);
  });

  it('treats a non-numeric nbf or iat as malformed', () => {
    for (const claims of [{ nbf: 'soon' }, { iat: null }, { nbf: [1] }]) {
      expect(codeOf(() => verifyJwt(signJwt(claims, secret), secret, { now: NOW }))).toBe('RR_TOKEN_MALFORMED');
    }
  });

  it('treats a non-numeric exp as malformed', () => {
    expect(codeOf(() => verifyJwt(signJwt({ exp: '2030-01-01' }, secret), secret, { now: NOW }))).toBe('RR_TOKEN_MALFORMED');
  });

  it.each([
    ['empty string', ''],
    ['two parts', 'a.b'],
    ['four parts', 'a.b.c.d'],
    ['a header that is not base64url', '!!!.eyJ9.sig'],
    ['a header that is not JSON', `${b64url('not json')}.${b64url('{}')}.sig`],
    ['a payload that is an array', `${b64url('{"alg":"HS256"}')}.${b64url('[1]')}.sig`],
    ['a payload that is null', `${b64url('{"alg":"HS256"}')}.${b64url('null')}.sig`],
    ['a signature with padding', `${b64url('{"alg":"HS256"}')}.${b64url('{}')}.abc=`],
  ])('rejects %s as malformed', (_name, bad) => {
    expect(codeOf(() => verifyJwt(bad, secret))).toBe('RR_TOKEN_MALFORMED');
  });

  it('needs at least one non-empty secret', () => {
    expect(codeOf(() => verifyJwt(token, []))).toBe('RR_TOKEN_NO_SECRET');
    expect(codeOf(() => verifyJwt(token, ['']))).toBe('RR_TOKEN_NO_SECRET');
  });

  it('never throws anything but RoomrunnerError for random input', () => {
    const part = fc.oneof(
      fc.string(),
      fc.base64String().map((text) => text.replace(/=+$/, '')),
      fc.json().map(b64url),
    );
    const candidate = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.tuple(part, part, part).map((parts) => parts.join('.')),
    );
    fc.assert(
      fc.property(candidate, (text) => {
        const code = codeOf(() => verifyJwt(text, secret, { now: NOW }));
        expect(code).not.toBe('foreign error');
        expect(code).not.toBe('no error');
      }),
    );
  });

  it('verifies any claims it signed and rejects any single-character change of the token', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.string({ minLength: 1 }),
        fc.nat(),
        fc.integer({ min: 0x21, max: 0x7e }),
        (claims, key, index, replacement) => {
          const claimsWithoutExp = { ...claims, exp: undefined };
          const signed = signJwt(claimsWithoutExp, key);
          expect(verifyJwt(signed, key, { now: NOW })).toStrictEqual(JSON.parse(JSON.stringify(claimsWithoutExp)));
          const at = index % signed.length;
          const char = String.fromCharCode(replacement);
          fc.pre(signed[at] !== char);
          const changed = signed.slice(0, at) + char + signed.slice(at + 1);
          const code = codeOf(() => verifyJwt(changed, key, { now: NOW }));
          expect(['RR_TOKEN_MALFORMED', 'RR_TOKEN_SIGNATURE']).toContain(code);
        },
      ),
    );
  });
});
