import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HMAC_HEADER, signHmacHex, verifyHmacHex } from '../../../src/webhooks/signatures/hmac-hex.js';
import { codeOf } from '../../support/errors.js';

// GitHub's known-answer vector (docs/references.md §github-webhooks).
const GITHUB = {
  secret: "It's a Secret to Everybody",
  body: 'Hello, World!',
  signature: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
};

const verifyGithub = (signature: string | undefined, overrides: Partial<Parameters<typeof verifyHmacHex>[0]> = {}) =>
  verifyHmacHex({ rawBody: Buffer.from(GITHUB.body), headers: { [DEFAULT_HMAC_HEADER]: signature }, secrets: [GITHUB.secret], ...overrides });

describe('signHmacHex', () => {
  it("reproduces GitHub's known-answer signature", () => {
    expect(signHmacHex(GITHUB.body, GITHUB.secret)).toBe(GITHUB.signature);
    expect(signHmacHex(Buffer.from(GITHUB.body), GITHUB.secret)).toBe(GITHUB.signature);
  });

  it('refuses an empty secret', () => {
    expect(codeOf(() => signHmacHex('x', ''))).toBe('RR_WEBHOOK_SECRET_INVALID');
  });
});

describe('verifyHmacHex', () => {
  it('verifies the GitHub vector and returns the body hash as identity', () => {
    expect(verifyGithub(GITHUB.signature)).toStrictEqual({ bodySha256: createHash('sha256').update(GITHUB.body).digest('hex') });
  });

  it("reads GitHub's own header when told to, whatever its case", () => {
    const headers = { 'X-Hub-Signature-256': GITHUB.signature };
    expect(codeOf(() => verifyGithub(undefined, { headers, headerName: 'x-hub-signature-256' }))).toBe('no error');
  });

  it('accepts upper-case hex', () => {
    expect(codeOf(() => verifyGithub(`sha256=${GITHUB.signature.slice(7).toUpperCase()}`))).toBe('no error');
  });

  it('accepts any of several secrets, for rotation', () => {
    expect(codeOf(() => verifyGithub(GITHUB.signature, { secrets: ['new secret', GITHUB.secret] }))).toBe('no error');
  });

  it('rejects a missing header', () => {
    expect(codeOf(() => verifyGithub(undefined))).toBe('RR_WEBHOOK_SIGNATURE_MISSING');
  });

  it.each([
    ['another algorithm', 'sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59'],
    ['no prefix', GITHUB.signature.slice(7)],
    ['a short digest', GITHUB.signature.slice(0, -2)],
    ['non-hex characters', `sha256=${'g'.repeat(64)}`],
  ])('rejects %s as malformed', (_name, signature) => {
    expect(codeOf(() => verifyGithub(signature))).toBe('RR_WEBHOOK_SIGNATURE_MALFORMED');
  });

  it('rejects another secret or another body', () => {
    expect(codeOf(() => verifyGithub(GITHUB.signature, { secrets: ['wrong'] }))).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
    expect(codeOf(() => verifyGithub(GITHUB.signature, { rawBody: 'Hello, World?' }))).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  it('refuses an empty secret list', () => {
    expect(codeOf(() => verifyGithub(GITHUB.signature, { secrets: [] }))).toBe('RR_WEBHOOK_SECRET_INVALID');
  });

  it('never throws anything but RoomrunnerError for random headers and bodies', () => {
    const value = fc.oneof(
      fc.constant(undefined),
      fc.string(),
      fc.array(fc.string()),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 70 }).map((hex) => `sha256=${hex}`),
    );
    fc.assert(
      fc.property(value, fc.oneof(fc.uint8Array(), fc.string()), (header, rawBody) => {
        const code = codeOf(() => verifyHmacHex({ rawBody, headers: { [DEFAULT_HMAC_HEADER]: header }, secrets: [GITHUB.secret] }));
        expect(code).not.toBe('foreign error');
      }),
    );
  });

  it('verifies a signature of any body and rejects any single-byte change', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1 }), fc.string({ minLength: 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (body, secret, index, delta) => {
        const raw = Buffer.from(body);
        const headers = { [DEFAULT_HMAC_HEADER]: signHmacHex(raw, secret) };
        expect(codeOf(() => verifyHmacHex({ rawBody: raw, headers, secrets: [secret] }))).toBe('no error');
        const at = index % raw.length;
        raw[at] = ((raw[at] ?? 0) + delta) % 256;
        expect(codeOf(() => verifyHmacHex({ rawBody: raw, headers, secrets: [secret] }))).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
      }),
    );
  });
});
