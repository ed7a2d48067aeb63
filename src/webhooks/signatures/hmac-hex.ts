/**
 * Hex HMAC-SHA256 over the raw body, GitHub style (docs/references.md §github-webhooks): `sha256=<hex>` in one header,
 * keyed with the secret's UTF-8 bytes. No timestamp and no id, so the body hash is the dedupe key.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { RoomrunnerError } from '../../errors.js';
import { readSingleHeader, type HeaderRecord } from './standard-webhooks.js';

/** Default header name; GitHub's is `x-hub-signature-256`. */
export const DEFAULT_HMAC_HEADER = 'x-meshia-signature';

const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * The header value `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
 * @throws RoomrunnerError `RR_WEBHOOK_SECRET_INVALID` for an empty secret.
 */
export function signHmacHex(body: string | Uint8Array, secret: string): string {
  return `sha256=${hmacHex(body, secret)}`;
}

export interface VerifyHmacHexInput {
  /** The body exactly as received. */
  readonly rawBody: Uint8Array | string;
  readonly headers: HeaderRecord;
  /** Accepted secrets; several during rotation. */
  readonly secrets: readonly string[];
  /** Defaults to {@link DEFAULT_HMAC_HEADER}. */
  readonly headerName?: string;
}

export interface VerifiedHmacHex {
  /** Lowercase hex SHA-256 of the raw body, the only stable identity such a delivery has. */
  readonly bodySha256: string;
}

/**
 * Verifies `sha256=<hex>` against the raw body with any of the secrets, in constant time.
 * @throws RoomrunnerError `RR_WEBHOOK_SIGNATURE_MISSING`, `_MALFORMED`, `_MISMATCH`, `RR_WEBHOOK_SECRET_INVALID`.
 */
export function verifyHmacHex(input: VerifyHmacHexInput): VerifiedHmacHex {
  const headerName = input.headerName ?? DEFAULT_HMAC_HEADER;
  const value = readSingleHeader(input.headers, headerName);
  if (input.secrets.length === 0) {
    throw new RoomrunnerError('RR_WEBHOOK_SECRET_INVALID', 'configure at least one webhook secret');
  }
  const received = SIGNATURE.exec(value.trim())?.[1];
  if (received === undefined) throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MALFORMED', `${headerName} is not "sha256=<hex>"`);
  const candidate = Buffer.from(received.toLowerCase(), 'ascii');
  // Every secret is tried, without an early exit, so timing does not tell which one matched.
  let matched = false;
  for (const secret of input.secrets) {
    if (timingSafeEqual(candidate, Buffer.from(hmacHex(input.rawBody, secret), 'ascii'))) matched = true;
  }
  if (!matched) {
    throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISMATCH', 'the webhook signature does not match the body');
  }
  return { bodySha256: createHash('sha256').update(input.rawBody).digest('hex') };
}

function hmacHex(body: string | Uint8Array, secret: string): string {
  if (typeof secret !== 'string' || secret === '') {
    throw new RoomrunnerError('RR_WEBHOOK_SECRET_INVALID', 'a webhook HMAC secret must be a non-empty string');
  }
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
}
