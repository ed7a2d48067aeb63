/**
 * REST authentication of the emulated platform (§B, §F): `Authorization: Bearer <token>` where the token is an
 * `ma-` API key whose secret part is the emulator's secret, or any HS256 JWT signed with it.
 */
import { sameSecret } from '../same-secret.js';
import { RoomrunnerError } from '../errors.js';
import { verifyJwt } from '../auth/jwt.js';
import { parseApiKey } from '../auth/token.js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;
const AUTH_HINT = 'pass `Authorization: Bearer <token>` with an `ma-` API key whose secret is the emulator secret, or an HS256 JWT signed with it';

/**
 * Accepts an `ma-` API key whose secret part equals `secret`, or an HS256 JWT signed with `secret`.
 * @throws RoomrunnerError `RR_EMULATOR_UNAUTHORIZED`.
 */
export function authenticate(authorization: string | undefined, secret: string): void {
  const token = BEARER.exec(authorization ?? '')?.[1];
  if (token === undefined) throw unauthorized(`missing bearer token: ${AUTH_HINT}`);
  if (token.startsWith('ma-')) {
    let keySecret: string;
    try {
      keySecret = parseApiKey(token).secret;
    } catch (cause) {
      throw unauthorized(`the API key is malformed: ${AUTH_HINT}`, cause);
    }
    if (!sameSecret(keySecret, secret)) throw unauthorized(`the API key's secret is not the emulator secret: ${AUTH_HINT}`);
    return;
  }
  try {
    verifyJwt(token, secret);
  } catch (cause) {
    throw unauthorized(`the bearer token is not a JWT signed with the emulator secret (${(cause as Error).message}): ${AUTH_HINT}`, cause);
  }
}

function unauthorized(message: string, cause?: unknown): RoomrunnerError {
  return new RoomrunnerError('RR_EMULATOR_UNAUTHORIZED', message, cause === undefined ? {} : { cause });
}
