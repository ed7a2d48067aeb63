/**
 * Who is connecting: the participant token of a room websocket (docs/protocol.md §C, §H.1 item 1).
 *
 * Clients pass the token three ways and the emulator accepts all of them: npm 0.39.9 as `?token=`, Python and
 * TS ≥ 0.47 on Node as `Authorization: Bearer`, browsers as a `meshagent-room.<jwt>` subprotocol (echoed back).
 * With a secret the token is verified (HS256); without one it is only decoded, as a local emulator that trusts
 * its callers. Either way an `exp` in the past and a `room` grant for another room are refused.
 */
import type { IncomingMessage } from 'node:http';
import { RoomrunnerError } from '../errors.js';
import { decodeJwt } from '../auth/jwt.js';
import { parseParticipantClaims, verifyParticipantToken, type ParticipantTokenClaims } from '../auth/token.js';

/** Subprotocol prefix that carries a token from browsers (§C). */
export const TOKEN_SUBPROTOCOL_PREFIX = 'meshagent-room.';

export type TokenSource = 'query' | 'header' | 'subprotocol';

/** The token of an upgrade request, looked up in the order query, `Authorization`, subprotocol. */
export function tokenFromRequest(req: IncomingMessage): { token: string; source: TokenSource } | undefined {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query = url.searchParams.get('token');
  if (query) return { token: query, source: 'query' };
  const authorization = req.headers.authorization;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (bearer?.[1]) return { token: bearer[1], source: 'header' };
  const offered = parseSubprotocols(req.headers['sec-websocket-protocol']);
  const protocol = selectTokenSubprotocol(offered);
  if (protocol) return { token: protocol.slice(TOKEN_SUBPROTOCOL_PREFIX.length), source: 'subprotocol' };
  return undefined;
}

/** For `ws`'s `handleProtocols`: echo the token subprotocol back, as browsers require (§C). */
export function selectTokenSubprotocol(protocols: Iterable<string>): string | false {
  for (const protocol of protocols) {
    if (protocol.startsWith(TOKEN_SUBPROTOCOL_PREFIX) && protocol.length > TOKEN_SUBPROTOCOL_PREFIX.length) return protocol;
  }
  return false;
}

function parseSubprotocols(header: string | string[] | undefined): string[] {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

export interface AuthenticateOptions {
  /** Verify HS256 with this secret; without it the token is decoded only. */
  readonly secret?: string | undefined;
  /** Current time in seconds since the epoch. */
  readonly nowSeconds: number;
}

/**
 * Checks a token for `room`.
 * @throws RoomrunnerError `RR_EMULATOR_TOKEN_MISSING`, `RR_TOKEN_MALFORMED`, `RR_TOKEN_SIGNATURE`,
 *   `RR_TOKEN_EXPIRED`, `RR_TOKEN_WRONG_ROOM`; each maps to close code 1008.
 */
export function authenticateParticipant(token: string | undefined, room: string, options: AuthenticateOptions): ParticipantTokenClaims {
  if (token === undefined || token === '') {
    throw new RoomrunnerError('RR_EMULATOR_TOKEN_MISSING', 'no participant token: pass ?token=, Authorization: Bearer, or a meshagent-room.<jwt> subprotocol');
  }
  if (options.secret !== undefined && options.secret !== '') {
    return verifyParticipantToken(token, { secret: options.secret, room, now: options.nowSeconds });
  }
  const claims = parseParticipantClaims(decodeJwt(token).claims);
  if (claims.expiresAt !== undefined && options.nowSeconds >= claims.expiresAt) {
    throw new RoomrunnerError('RR_TOKEN_EXPIRED', 'JWT has expired', { data: { exp: claims.expiresAt, now: options.nowSeconds } });
  }
  const rooms = claims.grants.filter((grant) => grant.name === 'room').map((grant) => grant.scope);
  // Same rule as verifyParticipantToken: no room grant at all would open every room, so it is refused too.
  if (rooms.length === 0 || rooms.some((scope) => scope !== room)) {
    throw new RoomrunnerError('RR_TOKEN_WRONG_ROOM', 'the participant token is not valid for this room', { data: { room, granted: rooms } });
  }
  return claims;
}

/** A close reason that fits the 123-byte limit of a websocket close frame. */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= 123) return text;
  return `${bytes
    .subarray(0, 119)
    .toString('utf8')
    .replace(/\uFFFD+$/, '')}...`;
}
