/**
 * A room connection over a socket roomrunner did not dial: in the websocket handoff the platform opens the
 * socket *to* the service and then plays the room server on it (docs/protocol.md §A.3). The handshake and the
 * session logic are the ones of every room connection: {@link acceptedSocketDialer} is a {@link Dialer} that
 * hands {@link RoomConnection} the already-open socket once, so `RoomConnection` waits for `room_ready` and
 * `connected`, serves tool calls and answers pings exactly as on a dialed socket (pass `reconnect: false`).
 *
 * There is no reconnect on such a socket: when the platform closes it, the room is left, and the platform
 * dials again for a new session. A second dial fails with RR_ROOM_HANDOFF_SOCKET_USED, which the connection's
 * policy treats as final (`classifyFailure` in ./connection-state.ts).
 */
import type { WebSocket } from 'ws';
import { RoomrunnerError } from '../errors.js';
import { NODE_TIMERS, type Timers } from './timers.js';
import { WebSocketTransport } from './transport.js';
import { bufferUntilStarted, DEFAULT_PING_INTERVAL_MS, startHeartbeat, type Dialer } from './ws-dialer.js';

export interface AcceptedSocketOptions {
  /** Websocket ping interval on the accepted socket; a socket with no pong one interval later is dropped. 0 disables. */
  readonly pingIntervalMs?: number;
  readonly timers?: Timers;
}

/**
 * A dialer that yields `ws` (already open) on its first call. Frames are buffered from now on, so a
 * `room_ready` the platform sends right after the upgrade is not lost before the connection starts.
 */
export function acceptedSocketDialer(ws: WebSocket, options: AcceptedSocketOptions = {}): Dialer {
  ws.binaryType = 'nodebuffer';
  const transport = bufferUntilStarted(new WebSocketTransport(ws));
  startHeartbeat(ws, options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS, options.timers ?? NODE_TIMERS);
  let used = false;
  return ({ signal }) => {
    if (used) {
      return Promise.reject(
        new RoomrunnerError(
          'RR_ROOM_HANDOFF_SOCKET_USED',
          'the handoff socket was already used and is not dialed again: the platform opens a new one for a new session',
          {
            data: { retryable: false },
          },
        ),
      );
    }
    used = true;
    if (signal.aborted) {
      transport.close(1000, 'connect abandoned');
      return Promise.reject(signal.reason);
    }
    return Promise.resolve(transport);
  };
}
