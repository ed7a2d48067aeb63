/**
 * Container mode (a MeshAgent project service of the `container` kind): the platform runs the image once per
 * room session with `MESHAGENT_TOKEN`, `MESHAGENT_ROOM`, `MESHAGENT_ROOM_URL` and `MESHAGENT_API_URL` (and
 * `MESHAGENT_SESSION_ID`) in its environment. `roomrunner join` without `--room` joins from those alone, with
 * the injected token (no secret needed), as the official JavaScript template does; the room URL follows the
 * SDK: `<MESHAGENT_ROOM_URL or MESHAGENT_API_URL>/rooms/<MESHAGENT_ROOM>`.
 */
import type { Config } from '../config.js';
import { RoomrunnerError } from '../errors.js';
import { roomUrl } from '../room/url.js';

/** Where and as whom a container joins. */
export interface ContainerTarget {
  readonly room: string;
  readonly url: string;
  readonly token: string;
  readonly sessionId: string | undefined;
}

/**
 * The room, URL and token of container mode.
 * @throws RoomrunnerError `RR_CONFIG_CONTAINER_ENV_MISSING` naming every variable that is missing.
 */
export function containerTarget(config: Config): ContainerTarget {
  const missing = [...(config.participantToken === undefined ? ['MESHAGENT_TOKEN'] : []), ...(config.containerRoom === undefined ? ['MESHAGENT_ROOM'] : [])];
  if (config.participantToken === undefined || config.containerRoom === undefined) {
    throw new RoomrunnerError(
      'RR_CONFIG_CONTAINER_ENV_MISSING',
      `container mode (join without --room) needs ${missing.join(' and ')} in the environment, as the platform injects them for a container service (with MESHAGENT_ROOM_URL or MESHAGENT_API_URL); pass --room <name> to join a room by hand instead`,
      { data: { missing } },
    );
  }
  return {
    room: config.containerRoom,
    url: roomUrl(config.roomBaseUrl ?? config.apiUrl, config.containerRoom),
    token: config.participantToken,
    sessionId: config.sessionId,
  };
}
