/**
 * Standard Webhooks symmetric signatures (docs/references.md §standard-webhooks and §svix).
 *
 * Headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature` (a space-separated list
 * of `v1,<base64 HMAC-SHA256>` for key rotation). The signed content is `${id}.${timestamp}.${rawBody}`;
 * the HMAC key is the base64-decoded part of a `whsec_` secret. Verification compares in constant time
 * and refuses timestamps outside the tolerance window in both directions.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { RoomrunnerError } from '../../errors.js';

/** Header names, lower case as Node delivers them. */
export const STANDARD_WEBHOOK_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

/** ±5 minutes, as the spec and its JS library (`WEBHOOK_TOLERANCE_IN_SECONDS`) use. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TIMESTAMP = /^\d{1,15}$/;
const VERSIONED_SIGNATURE = /^(v[0-9]+[a-z]*),(\S+)$/;

/** Header values as a Node request gives them. */
export type HeaderRecord = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The HMAC key of a `whsec_<base64>` secret; a bare base64 secret is accepted too.
 * @throws RoomrunnerError `RR_WEBHOOK_SECRET_INVALID` when the rest is not non-empty base64.
 */
export function decodeStandardWebhookSecret(secret: string): Buffer {
  const encoded = typeof secret === 'string' && secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (typeof encoded !== 'string' || encoded === '' || !BASE64.test(encoded)) {
    // Never echo the secret.
    throw new RoomrunnerError('RR_WEBHOOK_SECRET_INVALID', 'a Standard Webhooks secret must be `whsec_` followed by base64');
  }
  return Buffer.from(encoded, 'base64');
}

/**
 * Signs one delivery attempt and returns the `webhook-signature` value `v1,<base64>`.
 * @throws RoomrunnerError `RR_WEBHOOK_SECRET_INVALID` for a bad secret.
 */
export function signStandardWebhook(id: string, timestamp: number, body: string | Uint8Array, secret: string): string {
  return `v1,${hmac(decodeStandardWebhookSecret(secret), id, String(timestamp), body)}`;
}

export interface VerifyStandardWebhookInput {
  /** The body exactly as received. */
  readonly rawBody: Uint8Array | string;
  readonly headers: HeaderRecord;
  /** `whsec_…` (or bare base64) secrets; several during rotation. */
  readonly secrets: readonly string[];
  /** Accepted clock difference in either direction. Defaults to {@link DEFAULT_TOLERANCE_SECONDS}. */
  readonly toleranceSeconds?: number;
  /** Seconds since the epoch. Defaults to the wall clock. */
  readonly now?: number;
}

export interface VerifiedStandardWebhook {
  /** `webhook-id`: the same for every retry of one message, so the dedupe key. */
  readonly id: string;
  readonly timestamp: number;
}

/**
 * Verifies a Standard Webhooks delivery.
 * @throws RoomrunnerError `RR_WEBHOOK_SIGNATURE_MISSING` (a header is absent), `_MALFORMED`,
 *   `RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE`, `_MISMATCH`, `RR_WEBHOOK_SECRET_INVALID`.
 */
export function verifyStandardWebhook(input: VerifyStandardWebhookInput): VerifiedStandardWebhook {
  const id = readSingleHeader(input.headers, STANDARD_WEBHOOK_HEADERS.id);
  const timestampText = readSingleHeader(input.headers, STANDARD_WEBHOOK_HEADERS.timestamp);
  const signatureList = readSingleHeader(input.headers, STANDARD_WEBHOOK_HEADERS.signature);
  if (input.secrets.length === 0) {
    throw new RoomrunnerError('RR_WEBHOOK_SECRET_INVALID', 'configure at least one Standard Webhooks secret');
  }
  const keys = input.secrets.map(decodeStandardWebhookSecret);

  if (!TIMESTAMP.test(timestampText)) throw malformed(`${STANDARD_WEBHOOK_HEADERS.timestamp} is not integer seconds`);
  const timestamp = Number(timestampText);
  const now = input.now ?? Math.floor(Date.now() / 1000);
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (timestamp < now - tolerance || timestamp > now + tolerance) {
    const direction = timestamp < now ? 'old' : 'new';
    throw new RoomrunnerError('RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE', `the webhook timestamp is too ${direction}`, {
      data: { timestamp, now, toleranceSeconds: tolerance, direction },
    });
  }

  const candidates = parseSignatures(signatureList);
  const expected = keys.map((key) => Buffer.from(hmac(key, id, timestampText, input.rawBody), 'ascii'));
  // Check every pair without an early exit, so timing does not reveal which secret or entry matched.
  let matched = false;
  for (const candidate of candidates) {
    for (const mac of expected) {
      if (candidate.length === mac.length && timingSafeEqual(candidate, mac)) matched = true;
    }
  }
  if (!matched) {
    throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISMATCH', 'no webhook signature matches the body');
  }
  return { id, timestamp };
}

/** The `v1` signatures of a header value; other versions (e.g. `v1a`, ed25519) are skipped. */
function parseSignatures(list: string): Buffer[] {
  const entries = list.split(' ').filter((entry) => entry !== '');
  const parsed = entries.map((entry) => VERSIONED_SIGNATURE.exec(entry));
  if (parsed.length === 0 || parsed.some((match) => match === null)) {
    throw malformed(`${STANDARD_WEBHOOK_HEADERS.signature} is not a space-separated list of "v1,<base64>"`);
  }
  return parsed.filter((match) => match?.[1] === 'v1').map((match) => Buffer.from(match?.[2] ?? '', 'ascii'));
}

function hmac(key: Uint8Array, id: string, timestamp: string, body: string | Uint8Array): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(body).digest('base64');
}

/**
 * The one value of header `name` (looked up case-insensitively). Shared by the header-based schemes.
 * @throws RoomrunnerError `RR_WEBHOOK_SIGNATURE_MISSING` when absent or empty, `_MALFORMED` when repeated.
 */
export function readSingleHeader(headers: HeaderRecord, name: string): string {
  const value = headerValue(headers, name);
  if (value === undefined || value === '' || (typeof value !== 'string' && value.length === 0)) {
    throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISSING', `missing ${name} header`, { data: { header: name } });
  }
  if (typeof value !== 'string') {
    if (value.length !== 1 || value[0] === undefined) throw malformed(`more than one ${name} header`);
    return value[0];
  }
  return value;
}

function headerValue(headers: HeaderRecord, name: string): string | readonly string[] | undefined {
  if (headers[name] !== undefined) return headers[name];
  // Node lower-cases header names, but callers may pass a hand-built record.
  const wanted = name.toLowerCase();
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === wanted);
  return key === undefined ? undefined : headers[key];
}

function malformed(message: string): RoomrunnerError {
  return new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MALFORMED', message);
}
