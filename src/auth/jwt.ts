/**
 * Minimal HS256 JSON Web Tokens over node:crypto.
 *
 * MeshAgent uses HS256 for two things: participant tokens (docs/protocol.md §B) and webhook
 * signatures (§A.4). Both key the HMAC with the UTF-8 bytes of a shared secret. We accept only HS256:
 * any other `alg` (notably `none`) is refused before a key is touched, so there is no algorithm confusion.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { RoomrunnerError } from '../errors.js';

/** The only JWS algorithm we sign or accept (§A.4, §B). */
export const JWT_ALGORITHM = 'HS256';

/** An HMAC key: a string is used as its UTF-8 bytes, as both MeshAgent SDKs do. */
export type JwtSecret = string | Uint8Array;

/** A JWT claims set: always a JSON object. */
export type JwtClaims = Record<string, unknown>;

/** A token split into its parts, before any signature check. */
export interface DecodedJwt {
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: JwtClaims;
  /** `<header>.<payload>`, the bytes the signature covers. */
  readonly signingInput: string;
  /** The third part, base64url as received. */
  readonly signature: string;
}

/**
 * How far ahead of our clock a sender's may run: an `nbf` or `iat` up to this many seconds in the future is
 * accepted, as clocks a few seconds apart are normal. `exp` gets no leeway: a token is never used past it.
 */
export const DEFAULT_JWT_LEEWAY_SECONDS = 60;

export interface VerifyJwtOptions {
  /** Current time in seconds since the epoch, for the `exp`, `nbf` and `iat` checks. Defaults to the wall clock. */
  readonly now?: number;
  /** See {@link DEFAULT_JWT_LEEWAY_SECONDS}. */
  readonly leewaySeconds?: number;
}

// Header bytes as the SDKs write them (`{"alg":"HS256","typ":"JWT"}`), encoded once.
const ENCODED_HEADER = Buffer.from(JSON.stringify({ alg: JWT_ALGORITHM, typ: 'JWT' })).toString('base64url');
const BASE64URL = /^[A-Za-z0-9_-]*$/;
// An HMAC-SHA256 signature is 32 bytes: 43 base64url characters without padding.
const SIGNATURE_LENGTH = 43;

/** Signs `claims` with HS256 and returns the compact JWT. */
export function signJwt(claims: JwtClaims, secret: JwtSecret): string {
  const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  const signingInput = `${ENCODED_HEADER}.${payload}`;
  return `${signingInput}.${hmac(signingInput, secret)}`;
}

/**
 * Splits and decodes a compact JWT without checking its signature.
 * @throws RoomrunnerError `RR_TOKEN_MALFORMED` when it is not three base64url parts of JSON objects.
 */
export function decodeJwt(token: string): DecodedJwt {
  if (typeof token !== 'string') throw malformed('a JWT must be a string');
  const parts = token.split('.');
  if (parts.length !== 3) throw malformed('a JWT has three dot-separated parts');
  const [headerPart, payloadPart, signature] = parts as [string, string, string];
  const header = decodeJsonObject(headerPart, 'header');
  const claims = decodeJsonObject(payloadPart, 'payload');
  if (!BASE64URL.test(signature)) throw malformed('the JWT signature is not base64url');
  return { header, claims, signingInput: `${headerPart}.${payloadPart}`, signature };
}

/**
 * Verifies an HS256 JWT with any of `secrets` (several allow key rotation) and returns its claims.
 * @throws RoomrunnerError `RR_TOKEN_MALFORMED`, `RR_TOKEN_SIGNATURE` (wrong key or an `alg` other than
 *   HS256), `RR_TOKEN_EXPIRED` (an `exp` at or before `now`), `RR_TOKEN_NOT_YET_VALID` (an `nbf` or `iat`
 *   later than `now` plus the leeway), `RR_TOKEN_NO_SECRET` (no usable secret).
 */
export function verifyJwt(token: string, secrets: JwtSecret | readonly JwtSecret[], options: VerifyJwtOptions = {}): JwtClaims {
  const keys = toSecretList(secrets);
  const decoded = decodeJwt(token);
  const alg = decoded.header['alg'];
  if (alg !== JWT_ALGORITHM) {
    throw new RoomrunnerError('RR_TOKEN_SIGNATURE', `JWT algorithm ${JSON.stringify(alg)} is not accepted; only HS256 is`, {
      data: { alg },
    });
  }
  // RFC 7515 §4.1.11: a verifier must reject critical extensions it does not understand (we know none).
  if ('crit' in decoded.header) throw malformed('the JWT header has a `crit` extension we do not support');
  if (!keys.some((key) => signatureMatches(decoded, key))) {
    throw new RoomrunnerError('RR_TOKEN_SIGNATURE', 'JWT signature does not verify with any configured secret');
  }
  checkTimes(decoded.claims, options.now ?? Math.floor(Date.now() / 1000), options.leewaySeconds ?? DEFAULT_JWT_LEEWAY_SECONDS);
  return decoded.claims;
}

/** `exp`, `nbf` and `iat` are optional (RFC 7519 §4.1.4–4.1.6; MeshAgent sets none by default, §B): checked when present. */
function checkTimes(claims: JwtClaims, now: number, leeway: number): void {
  const exp = numericDate(claims, 'exp');
  if (exp !== undefined && now >= exp) {
    throw new RoomrunnerError('RR_TOKEN_EXPIRED', 'JWT has expired', { data: { exp, now } });
  }
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > now + leeway) {
    throw new RoomrunnerError('RR_TOKEN_NOT_YET_VALID', `JWT is not valid before ${nbf} (now ${now}, leeway ${leeway} s)`, { data: { nbf, now } });
  }
  // A token issued in the future comes from a clock we cannot trust, or was forged to outlive its `exp` checks.
  const iat = numericDate(claims, 'iat');
  if (iat !== undefined && iat > now + leeway) {
    throw new RoomrunnerError('RR_TOKEN_NOT_YET_VALID', `JWT was issued at ${iat}, in the future (now ${now}, leeway ${leeway} s)`, { data: { iat, now } });
  }
}

function numericDate(claims: JwtClaims, name: 'exp' | 'nbf' | 'iat'): number | undefined {
  if (!(name in claims)) return undefined;
  const value = claims[name];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw malformed(`the JWT \`${name}\` claim is not a number`);
  return value;
}

function signatureMatches(decoded: DecodedJwt, key: JwtSecret): boolean {
  const received = decoded.signature;
  if (received.length !== SIGNATURE_LENGTH) return false;
  // Compare the canonical base64url text, not decoded bytes, so non-canonical encodings never match.
  const expected = hmac(decoded.signingInput, key);
  return timingSafeEqual(Buffer.from(expected, 'ascii'), Buffer.from(received, 'ascii'));
}

function hmac(signingInput: string, secret: JwtSecret): string {
  const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (key.length === 0) throw new RoomrunnerError('RR_TOKEN_NO_SECRET', 'the JWT secret is empty');
  return createHmac('sha256', key).update(signingInput, 'ascii').digest('base64url');
}

function toSecretList(secrets: JwtSecret | readonly JwtSecret[]): readonly JwtSecret[] {
  const list = typeof secrets === 'string' || secrets instanceof Uint8Array ? [secrets] : secrets;
  if (list.length === 0 || list.some((key) => key.length === 0)) {
    throw new RoomrunnerError('RR_TOKEN_NO_SECRET', 'no non-empty secret to verify the JWT with');
  }
  return list;
}

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  // base64url without padding: a length of 1 mod 4 cannot come from any byte string.
  if (part.length === 0 || !BASE64URL.test(part) || part.length % 4 === 1) {
    throw malformed(`the JWT ${what} is not base64url`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch (cause) {
    throw malformed(`the JWT ${what} is not JSON`, cause);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`the JWT ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function malformed(message: string, cause?: unknown): RoomrunnerError {
  return new RoomrunnerError('RR_TOKEN_MALFORMED', message, cause === undefined ? {} : { cause });
}
