/**
 * MeshAgent's webhook signature (docs/protocol.md §A.4).
 *
 * `Meshagent-Signature: Bearer <jwt>`, where the JWT is HS256 over the webhook secret's UTF-8 bytes and
 * its only claim is `{"sha256": <lowercase hex SHA-256 of the body S>}`. S is Python's `json.dumps` of
 * the envelope. There is no timestamp or nonce, so no replay protection: the returned digest is the
 * dedupe key callers should remember.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isRoomrunnerError, RoomrunnerError } from '../../errors.js';
import { signJwt, verifyJwt } from '../../auth/jwt.js';
import { pythonDumps, pythonDumpsFromJsonText } from './python-json.js';

/** Header that carries the signature (§A.4; it was `Authorization` before api@387bda7). Lower case, as Node delivers it. */
export const MESHAGENT_SIGNATURE_HEADER = 'meshagent-signature';

const BEARER = /^Bearer +(\S+) *$/i;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Lowercase hex SHA-256 of a body (a string is hashed as UTF-8). */
export function sha256Hex(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * The `Meshagent-Signature` value for a body that is sent exactly as given (§A.4 sender steps 2–4).
 * @throws RoomrunnerError `RR_WEBHOOK_SECRET_INVALID` for an empty secret.
 */
export function signMeshagent(body: string | Uint8Array, secret: string): string {
  if (typeof secret !== 'string' || secret === '') {
    throw new RoomrunnerError('RR_WEBHOOK_SECRET_INVALID', 'the MeshAgent webhook secret is empty');
  }
  return `Bearer ${signJwt({ sha256: sha256Hex(body) }, secret)}`;
}

/** A signed MeshAgent delivery: send `body` byte for byte with these headers. */
export interface MeshagentDelivery {
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Builds a delivery the way the Python sender does (§A.4): S = `json.dumps(envelope)`, signed when a
 * secret is given and unsigned otherwise (step 5). Build the envelope with `event` before `data`, and
 * avoid integral floats: JS cannot tell `1.0` from `1` and will send `1`.
 */
export function buildMeshagentDelivery(envelope: unknown, secret?: string): MeshagentDelivery {
  const body = pythonDumps(envelope);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== undefined) headers[MESHAGENT_SIGNATURE_HEADER] = signMeshagent(body, secret);
  return { body, headers };
}

export interface VerifyMeshagentInput {
  /** The body exactly as received (or the raw `Meshagent-Webhook` header value for a websocket handoff). */
  readonly rawBody: Uint8Array | string;
  /** The `Meshagent-Signature` header value as received. */
  readonly header: string | readonly string[] | undefined;
  /** Accepted secrets; several during rotation. */
  readonly secrets: readonly string[];
  /** Seconds since the epoch, for a JWT `exp` (senders set none, §A.4). Defaults to the wall clock. */
  readonly now?: number;
}

export interface VerifiedMeshagent {
  /** The signed SHA-256 (lowercase hex): the dedupe key, since MeshAgent deliveries carry no id. */
  readonly digest: string;
  /** `raw` when the bytes hashed as received; `python-json` when the §A.4 re-serialisation matched. */
  readonly matchedBy: 'raw' | 'python-json';
}

/**
 * Verifies a MeshAgent webhook (§A.4 verifier steps): the JWT with any secret, then the digest over the
 * raw bytes, then over Python's re-serialisation of the parsed body.
 * @throws RoomrunnerError `RR_WEBHOOK_SIGNATURE_MISSING`, `_MALFORMED`, `_MISMATCH`, or
 *   `RR_WEBHOOK_SECRET_INVALID` when no usable secret is configured.
 */
export function verifyMeshagent(input: VerifyMeshagentInput): VerifiedMeshagent {
  const { secrets } = input;
  if (secrets.length === 0 || secrets.some((secret) => typeof secret !== 'string' || secret === '')) {
    throw new RoomrunnerError('RR_WEBHOOK_SECRET_INVALID', 'configure at least one non-empty MeshAgent webhook secret');
  }
  const claimed = claimedDigest(bearerToken(input.header), secrets, input.now);
  const raw = typeof input.rawBody === 'string' ? Buffer.from(input.rawBody, 'utf8') : input.rawBody;
  if (digestEquals(sha256Hex(raw), claimed)) return { digest: claimed, matchedBy: 'raw' };
  // Fallback: the body may have been re-formatted on the way; Python would re-serialise and compare.
  const reserialised = reserialise(raw);
  if (reserialised !== undefined && digestEquals(sha256Hex(reserialised), claimed)) {
    return { digest: claimed, matchedBy: 'python-json' };
  }
  throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISMATCH', 'the MeshAgent signature does not match the payload');
}

function bearerToken(header: string | readonly string[] | undefined): string {
  if (header === undefined || header.length === 0) {
    throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISSING', `missing ${MESHAGENT_SIGNATURE_HEADER} header`);
  }
  if (typeof header !== 'string' && header.length !== 1) {
    throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MALFORMED', `more than one ${MESHAGENT_SIGNATURE_HEADER} header`);
  }
  const value = typeof header === 'string' ? header : (header[0] ?? '');
  const match = BEARER.exec(value);
  if (match?.[1] === undefined) {
    throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MALFORMED', `${MESHAGENT_SIGNATURE_HEADER} is not "Bearer <jwt>"`);
  }
  return match[1];
}

function claimedDigest(jwt: string, secrets: readonly string[], now: number | undefined): string {
  let claims: Record<string, unknown>;
  try {
    claims = verifyJwt(jwt, secrets, now === undefined ? {} : { now });
  } catch (cause) {
    if (isRoomrunnerError(cause, 'RR_TOKEN_MALFORMED')) {
      throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MALFORMED', 'the MeshAgent signature is not a JWT', { cause });
    }
    // A bad signature, a refused `alg` or an expired token: the signature is not valid for us.
    throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISMATCH', 'the MeshAgent signature JWT is not valid', { cause });
  }
  const digest = claims['sha256'];
  if (typeof digest !== 'string' || !SHA256_HEX.test(digest)) {
    const message = 'the MeshAgent signature JWT has no lowercase hex `sha256` claim';
    throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MALFORMED', message);
  }
  return digest;
}

function reserialise(raw: Uint8Array): string | undefined {
  try {
    return pythonDumpsFromJsonText(STRICT_UTF8.decode(raw));
  } catch {
    // Not UTF-8 or not JSON: Python's verifier could not re-serialise it either.
    return undefined;
  }
}

function digestEquals(actual: string, claimed: string): boolean {
  // Both are 64 lowercase hex characters by now; compare in constant time anyway.
  return timingSafeEqual(Buffer.from(actual, 'ascii'), Buffer.from(claimed, 'ascii'));
}
