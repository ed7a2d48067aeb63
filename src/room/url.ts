/**
 * Room websocket URLs, docs/protocol.md §C: `<base>/rooms/<room>`, with `https:` → `wss:` and `http:` →
 * `ws:`. The base is a base URL (MESHAGENT_ROOM_URL too): the SDKs still append `/rooms/<name>`. A URL that
 * already ends in `/rooms/<name>` (a webhook's `room_url`, §A.2) is taken as it is.
 */
import { RoomrunnerError } from '../errors.js';

/** The MeshAgent cloud's default base (§C). */
export const DEFAULT_ROOM_BASE_URL = 'wss://api.meshagent.com';

const ROOM_PATH = /\/rooms\/([^/]+)\/?$/;
const SCHEMES: Record<string, string> = { 'https:': 'wss:', 'http:': 'ws:', 'wss:': 'wss:', 'ws:': 'ws:' };

/**
 * The websocket URL of `room` under `base`. The SDKs do not encode the name (§C); we percent-encode it, which
 * gives the same URL for every name that worked unencoded and a valid one for names with `/`, `?`, `#` or `%`.
 * When `base` is already a room URL its name must equal `room` (if given).
 */
export function roomUrl(base: string, room?: string): string {
  const url = parseBase(base);
  const existing = roomNameFromUrl(url.href);
  if (existing !== undefined) {
    if (room !== undefined && room !== existing) {
      throw new RoomrunnerError('RR_ROOM_URL_INVALID', `room URL ${url.href} names room "${existing}", not "${room}"`, {
        data: { url: url.href, room },
      });
    }
    return url.href;
  }
  if (room === undefined || room.length === 0) {
    throw new RoomrunnerError('RR_ROOM_URL_INVALID', `${url.href} is a base URL; pass the room name to append /rooms/<room>`, {
      data: { url: url.href },
    });
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/rooms/${encodeURIComponent(room)}`;
  return url.href;
}

/** The room name of a `.../rooms/<name>` URL, decoded, or undefined when the URL is not a room URL. */
export function roomNameFromUrl(url: string): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const match = ROOM_PATH.exec(pathname);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

function parseBase(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch (cause) {
    throw new RoomrunnerError('RR_ROOM_URL_INVALID', `room base URL ${JSON.stringify(base)} is not an absolute URL; pass e.g. ${DEFAULT_ROOM_BASE_URL}`, {
      cause,
      data: { url: base },
    });
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme) {
    throw new RoomrunnerError('RR_ROOM_URL_INVALID', `room URL scheme ${url.protocol} is not one of ws:, wss:, http:, https:`, {
      data: { url: base },
    });
  }
  // URL refuses to switch between special and non-special schemes via `protocol`; all four here are special.
  url.protocol = scheme;
  url.hash = '';
  return url;
}
