/**
 * Which `room_url` a webhook may send roomrunner to. A delivery's `room_url` is dialed with a participant token
 * (one roomrunner minted, or the `room.call` token), so a URL the platform did not mean would hand that token to
 * whoever listens there: another host, a plain-text downgrade, a path naming another room, or a cloud metadata
 * address such as 169.254.169.254. Only room URLs on the platform's own origin (MESHAGENT_API_URL) or on a room
 * host the operator listed (ROOMRUNNER_ROOM_HOSTS) pass, and only as `<base>/rooms/<room_name>` (docs/protocol.md
 * §C) with no credentials, query or fragment.
 */
import { RoomrunnerError } from '../errors.js';

/** The env var and flag of the extra room hosts, for messages. */
const ROOM_HOSTS_SETTING = 'ROOMRUNNER_ROOM_HOSTS / --room-hosts';

/** http and https bases dial as ws and wss (docs/protocol.md §C). */
const WS_SCHEMES: Readonly<Record<string, string>> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };

/** Link-local addresses (169.254.0.0/16, fe80::/10, and IPv4-mapped 169.254.x as the URL parser spells it). */
const LINK_LOCAL = [/^169\.254\.\d+\.\d+$/, /^\[fe[89ab][0-9a-f]:/i, /^\[::ffff:a9fe:[0-9a-f]+\]$/i];

export interface RoomUrlPolicyOptions {
  /** The platform base URL (MESHAGENT_API_URL): its origin and path are always allowed. */
  readonly apiUrl: string;
  /**
   * More room hosts (ROOMRUNNER_ROOM_HOSTS): origins with an optional base path (`wss://rooms.example.com`,
   * `https://eu.example.com:8443/v1`), or bare `host[:port]`, which allows `wss:` only.
   */
  readonly roomHosts?: readonly string[];
}

/** One allowed place: a websocket scheme, a `host[:port]` as the URL parser normalises it, a base path. */
interface AllowedBase {
  readonly protocol: string;
  readonly host: string;
  /** The base path without its trailing `/` (`''` at the root). */
  readonly path: string;
}

/** Decides whether a webhook's `room_url` may be dialed. */
export class RoomUrlPolicy {
  readonly #allowed: readonly AllowedBase[];

  /** @throws RoomrunnerError `RR_CONFIG_INVALID` for an entry of `roomHosts` that is not an origin or host. */
  constructor(options: RoomUrlPolicyOptions) {
    const api = parseAllowed(options.apiUrl);
    if (api === undefined) {
      throw new RoomrunnerError('RR_CONFIG_INVALID', 'MESHAGENT_API_URL / --api-url is not an http:, https:, ws: or wss: URL', { data: { setting: 'apiUrl' } });
    }
    const extra = (options.roomHosts ?? []).map((entry) => {
      const allowed = parseAllowed(entry.includes('://') ? entry : `wss://${entry}`);
      if (allowed === undefined) {
        throw new RoomrunnerError('RR_CONFIG_INVALID', `${ROOM_HOSTS_SETTING}: ${JSON.stringify(entry)} is not a host or a ws:, wss:, http: or https: origin`, {
          data: { setting: 'roomHosts', entry },
        });
      }
      return allowed;
    });
    this.#allowed = [api, ...extra];
  }

  /**
   * The websocket URL to dial for `room` when a delivery names `roomUrl`.
   * @throws RoomrunnerError `RR_ROOM_URL_REFUSED` saying why, with the URL's origin (never its path's secrets: a
   *   room URL carries none, and query strings are refused unread).
   */
  check(roomUrl: string, room: string): string {
    let url: URL;
    try {
      url = new URL(roomUrl);
    } catch {
      throw refused('it is not an absolute URL', undefined, room);
    }
    const protocol = WS_SCHEMES[url.protocol];
    if (protocol === undefined) throw refused(`its scheme ${url.protocol} is not ws:, wss:, http: or https:`, url, room);
    if (url.username !== '' || url.password !== '') throw refused('it carries credentials', url, room);
    if (url.search !== '' || url.hash !== '') throw refused('it carries a query or a fragment', url, room);
    // Never, even when listed: link-local is where cloud metadata services answer.
    if (LINK_LOCAL.some((pattern) => pattern.test(url.hostname))) throw refused('its host is a link-local address', url, room);
    const base = this.#allowed.find((allowed) => allowed.protocol === protocol && allowed.host === url.host);
    if (base === undefined) {
      throw refused(`${protocol}//${url.host} is neither MESHAGENT_API_URL's origin nor in ${ROOM_HOSTS_SETTING}`, url, room);
    }
    const prefix = `${base.path}/rooms/`;
    const named = url.pathname.startsWith(prefix) ? decoded(url.pathname.slice(prefix.length).replace(/\/$/, '')) : undefined;
    if (named !== room) {
      throw refused(named === undefined ? `its path is not ${prefix}<room>` : `its path names another room than "${room}"`, url, room);
    }
    url.protocol = protocol;
    return url.href;
  }
}

/** An allowed base from an absolute URL, or undefined when it is not one roomrunner can dial. */
function parseAllowed(value: string): AllowedBase | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const protocol = WS_SCHEMES[url.protocol];
  if (protocol === undefined || url.host === '' || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return undefined;
  // `new URL` drops the default port of the URL's own scheme; ws/wss share http/https's defaults, so the host
  // compares equal across the two spellings.
  return { protocol, host: url.host, path: url.pathname.replace(/\/+$/, '') };
}

function decoded(segment: string): string | undefined {
  if (segment === '') return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function refused(reason: string, url: URL | undefined, room: string): RoomrunnerError {
  const origin = url === undefined ? undefined : `${url.protocol}//${url.host}`;
  return new RoomrunnerError('RR_ROOM_URL_REFUSED', `refused to dial the room_url of room "${room}": ${reason}`, {
    data: { room, ...(origin === undefined ? {} : { origin }), reason },
  });
}
