import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TOLERANCE_SECONDS,
  decodeStandardWebhookSecret,
  readSingleHeader,
  signStandardWebhook,
  verifyStandardWebhook,
  type HeaderRecord,
} from '../../../src/webhooks/signatures/standard-webhooks.js';
import { codeOf } from '../../support/errors.js';

// Svix known-answer vector (docs/references.md §svix).
const SVIX = {
  secret: 'whsec_plJ3nmyCDGBKInavdOK15jsl',
  id: 'msg_loFOjxBNrRLzqYUf',
  timestamp: 1731705121,
  body: '{"event_type":"ping","data":{"success":true}}',
  signature: 'v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=',
};

const svixHeaders = (signature = SVIX.signature): HeaderRecord => ({
  'webhook-id': SVIX.id,
  'webhook-timestamp': String(SVIX.timestamp),
  'webhook-signature': signature,
});

const verifySvix = (overrides: Partial<Parameters<typeof verifyStandardWebhook>[0]> = {}) =>
  verifyStandardWebhook({
    rawBody: Buffer.from(SVIX.body),
    headers: svixHeaders(),
    secrets: [SVIX.secret],
    now: SVIX.timestamp,
    ...overrides,
  });

describe('signStandardWebhook', () => {
  it('reproduces the Svix known-answer signature', () => {
    expect(signStandardWebhook(SVIX.id, SVIX.timestamp, SVIX.body, SVIX.secret)).toBe(SVIX.signature);
  });

  it('accepts a secret without the whsec_ prefix', () => {
    expect(signStandardWebhook(SVIX.id, SVIX.timestamp, Buffer.from(SVIX.body), 'plJ3nmyCDGBKInavdOK15jsl')).toBe(SVIX.signature);
  });

  it('refuses a secret that is not base64', () => {
    expect(codeOf(() => signStandardWebhook('id', 1, '{}', 'whsec_not base64!'))).toBe('RR_WEBHOOK_SECRET_INVALID');
    expect(codeOf(() => signStandardWebhook('id', 1, '{}', 'whsec_'))).toBe('RR_WEBHOOK_SECRET_INVALID');
  });
});

describe('verifyStandardWebhook', () => {
  it('verifies the Svix vector and returns its id and timestamp', () => {
    expect(verifySvix()).toStrictEqual({ id: SVIX.id, timestamp: SVIX.timestamp });
  });

  it('finds headers whatever their case', () => {
    const headers = { 'Webhook-Id': SVIX.id, 'WEBHOOK-TIMESTAMP': String(SVIX.timestamp), 'webhook-Signature': SVIX.signature };
    expect(verifySvix({ headers }).id).toBe(SVIX.id);
  });

  it('accepts any matching entry of a space-separated list and skips other versions', () => {
    const list = `v1a,c29tZWVkMjU1MTk= v1,${Buffer.alloc(32).toString('base64')} ${SVIX.signature}`;
    expect(verifySvix({ headers: svixHeaders(list) }).id).toBe(SVIX.id);
  });

  it('accepts any of several secrets, for rotation', () => {
    expect(verifySvix({ secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', SVIX.secret] }).id).toBe(SVIX.id);
  });

  it('accepts timestamps exactly at the edge of the tolerance', () => {
    expect(verifySvix({ now: SVIX.timestamp + DEFAULT_TOLERANCE_SECONDS }).id).toBe(SVIX.id);
    expect(verifySvix({ now: SVIX.timestamp - DEFAULT_TOLERANCE_SECONDS }).id).toBe(SVIX.id);
  });

  it('rejects a timestamp older than the tolerance', () => {
    expect(codeOf(() => verifySvix({ now: SVIX.timestamp + 301 }))).toBe('RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE');
  });

  it('rejects a timestamp newer than the tolerance', () => {
    expect(codeOf(() => verifySvix({ now: SVIX.timestamp - 301 }))).toBe('RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE');
  });

  it('honours a custom tolerance', () => {
    expect(codeOf(() => verifySvix({ now: SVIX.timestamp + 11, toleranceSeconds: 10 }))).toBe('RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE');
  });

  it('uses the wall clock without an injected now, so the 2024 vector is too old', () => {
    expect(codeOf(() => verifySvix({ now: undefined }))).toBe('RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE');
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('rejects a delivery without %s', (name) => {
    const headers: Record<string, string | readonly string[] | undefined> = { ...svixHeaders() };
    delete headers[name];
    expect(codeOf(() => verifySvix({ headers }))).toBe('RR_WEBHOOK_SIGNATURE_MISSING');
  });

  it.each<[string, HeaderRecord]>([
    ['a fractional timestamp', { ...svixHeaders(), 'webhook-timestamp': '1731705121.5' }],
    ['a negative timestamp', { ...svixHeaders(), 'webhook-timestamp': '-1731705121' }],
    ['a date as timestamp', { ...svixHeaders(), 'webhook-timestamp': '2024-11-15' }],
    ['a signature without a version', svixHeaders('rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=')],
    ['a version without a signature', svixHeaders('v1,')],
    ['a repeated header', { ...svixHeaders(), 'webhook-id': [SVIX.id, SVIX.id] }],
  ])('rejects %s as malformed', (_name, headers) => {
    expect(codeOf(() => verifySvix({ headers }))).toBe('RR_WEBHOOK_SIGNATURE_MALFORMED');
  });

  it('rejects a signature made with another secret, or over another body', () => {
    expect(codeOf(() => verifySvix({ secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] }))).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
    expect(codeOf(() => verifySvix({ rawBody: `${SVIX.body} ` }))).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  it('rejects a list with only unsupported versions as a mismatch', () => {
    expect(codeOf(() => verifySvix({ headers: svixHeaders('v1a,c29tZWVkMjU1MTk=') }))).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  it('refuses an unusable secret or an empty secret list', () => {
    expect(codeOf(() => verifySvix({ secrets: [] }))).toBe('RR_WEBHOOK_SECRET_INVALID');
    expect(codeOf(() => verifySvix({ secrets: ['whsec_***'] }))).toBe('RR_WEBHOOK_SECRET_INVALID');
  });

  it('never throws anything but RoomrunnerError for random headers and bodies', () => {
    const value = fc.oneof(fc.constant(undefined), fc.string(), fc.array(fc.string()), fc.integer().map(String));
    const signature = fc.oneof(
      value,
      fc.base64String().map((text) => `v1,${text}`),
    );
    fc.assert(
      fc.property(value, value, signature, fc.oneof(fc.uint8Array(), fc.string()), (id, timestamp, sig, rawBody) => {
        const headers = { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': sig };
        const code = codeOf(() => verifyStandardWebhook({ rawBody, headers, secrets: [SVIX.secret], now: 0 }));
        expect(code).not.toBe('foreign error');
      }),
    );
  });

  it('verifies a signature of any body and rejects any single-byte change', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.uint8Array({ minLength: 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (id, body, index, delta) => {
        const raw = Buffer.from(body);
        const headers = { 'webhook-id': id, 'webhook-timestamp': '1000', 'webhook-signature': signStandardWebhook(id, 1000, raw, SVIX.secret) };
        expect(verifyStandardWebhook({ rawBody: raw, headers, secrets: [SVIX.secret], now: 1000 })).toStrictEqual({ id, timestamp: 1000 });
        const at = index % raw.length;
        raw[at] = ((raw[at] ?? 0) + delta) % 256;
        expect(codeOf(() => verifyStandardWebhook({ rawBody: raw, headers, secrets: [SVIX.secret], now: 1000 }))).toBe('RR_WEBHOOK_SIGNATURE_MISMATCH');
      }),
    );
  });
});

describe('decodeStandardWebhookSecret', () => {
  it('decodes the base64 after whsec_', () => {
    expect(decodeStandardWebhookSecret(SVIX.secret)).toStrictEqual(Buffer.from('plJ3nmyCDGBKInavdOK15jsl', 'base64'));
  });
});

describe('readSingleHeader', () => {
  it('takes a one-element array as the value', () => {
    expect(readSingleHeader({ 'x-a': ['v'] }, 'X-A')).toBe('v');
  });
});
