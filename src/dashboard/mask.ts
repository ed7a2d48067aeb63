/**
 * What the dashboard never shows: participant tokens, API keys and secrets inside stored webhook bodies (a
 * `room.call` body carries a token for the room). Keys are matched by name at any depth; the value is replaced,
 * the shape kept, so an operator still sees that a token was sent.
 */

/** Keys whose values are masked, compared case-insensitively. */
const SECRET_KEY = /^(token|jwt|secret|password|api_?key|authorization|participant_token|access_token)$/i;
export const MASK = '••••••';

/** The body as pretty JSON with secrets masked; text that is not JSON comes back as it is (it held nothing parsed). */
export function maskedBody(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body;
  }
  return JSON.stringify(mask(parsed), null, 2);
}

/** A deep copy of `value` with every secret-named key's value replaced by {@link MASK}. */
export function mask(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(mask);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = SECRET_KEY.test(key) && inner !== null && inner !== '' ? MASK : mask(inner);
    return out;
  }
  return value;
}
