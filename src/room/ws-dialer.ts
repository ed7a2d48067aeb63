/**
 * Opens the websocket of a room connection (docs/protocol.md §C, §G) and keeps it alive with pings. The
 * connection gets a {@link Transport} that holds early frames until its Session starts.
 */
import { WebSocket, type ClientOptions } from 'ws';
import { RoomrunnerError } from '../errors.js';
import type { CloseInfo } from './session.js';
import { WebSocketTransport, type Transport, type TransportHandlers } from './transport.js';
import { NODE_TIMERS, type Timers } from './timers.js';

/**
 * Upgrade answers that no retry can change: 401 (the token is refused), 403 (not allowed in this room), 404 (no
 * such room) and 423 (the room is disabled; MeshAgent's Python room client gives up on it too, docs/protocol.md §G).
 */
export const REFUSED_STATUSES: ReadonlyMap<number, string> = new Map([
  [401, 'the token was refused'],
  [403, 'not allowed in this room'],
  [404, 'no such room'],
  [423, 'the room is disabled'],
]);

/** Default websocket ping interval. */
export const DEFAULT_PING_INTERVAL_MS = 30_000;

/** What a {@link Dialer} is asked to open. `url` is the room URL without the token. */
export interface DialRequest {
  readonly url: string;
  readonly token: string;
  /** Aborted when the handshake times out or the connection closes; the dialer must then give up. */
  readonly signal: AbortSignal;
}

/**
 * Opens one socket and resolves with a transport that buffers frames until `start()`. Throw
 * RR_ROOM_HANDSHAKE_REFUSED for a final refusal (RR_ROOM_HANDOFF_SOCKET_USED, RR_TOKEN_* and RR_ROOM_ABORTED are
 * final too); any other failure is retried with backoff. The code decides (`classifyFailure` in
 * ./connection-state.ts), not `data`.
 */
export type Dialer = (request: DialRequest) => Promise<Transport>;

export interface WebSocketDialerOptions {
  wsOptions?: ClientOptions;
  /** 0 disables pings. */
  pingIntervalMs?: number;
  timers?: Timers;
}

/**
 * Dial `<url>?token=<jwt>` with `Authorization: Bearer <jwt>` (§C: the header for Python-era and current
 * servers, the query for npm-era ones), permessage-deflate off. A non-101 answer is read from
 * 'unexpected-response': 401/403/404/423 become RR_ROOM_HANDSHAKE_REFUSED (final, see {@link REFUSED_STATUSES}),
 * other statuses RR_ROOM_NOT_READY (retried). Every failure names the URL (never the token) and the cause (e.g.
 * `connect ECONNREFUSED 10.0.0.7:443`). An 'error' listener stays on the socket for its whole life, so no
 * 'error' event is ever unhandled.
 */
export function createWebSocketDialer(options: WebSocketDialerOptions = {}): Dialer {
  const timers = options.timers ?? NODE_TIMERS;
  const pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  return ({ url, token, signal }) =>
    new Promise<Transport>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const target = new URL(url);
      target.searchParams.set('token', token);
      const { headers, ...rest } = options.wsOptions ?? {};
      const ws = new WebSocket(target, { ...rest, perMessageDeflate: false, headers: { ...headers, Authorization: `Bearer ${token}` } });
      let status: { code: number; text: string } | undefined;
      let lastError: Error | undefined;
      let opened = false;
      ws.on('error', (error) => (lastError = error));
      ws.on('unexpected-response', (_request, response) => {
        status = { code: response.statusCode ?? 0, text: response.statusMessage ?? '' };
        response.resume();
        ws.terminate();
      });
      const onAbort = (): void => ws.terminate();
      signal.addEventListener('abort', onAbort, { once: true });
      ws.once('open', () => {
        opened = true;
        signal.removeEventListener('abort', onAbort);
        startHeartbeat(ws, pingIntervalMs, timers);
        resolve(bufferUntilStarted(new WebSocketTransport(ws)));
      });
      ws.once('close', (code, reason) => {
        signal.removeEventListener('abort', onAbort);
        if (opened) return;
        if (signal.aborted) reject(signal.reason);
        else reject(handshakeError(url, status, lastError, code, reason.toString()));
      });
    });
}

function handshakeError(
  url: string,
  status: { code: number; text: string } | undefined,
  cause: Error | undefined,
  code: number,
  reason: string,
): RoomrunnerError {
  if (status) {
    const why = REFUSED_STATUSES.get(status.code);
    const message = `websocket connect to ${url} failed with status ${status.code}${status.text ? `: ${status.text}` : ''}${why ? ` (${why})` : ''}`;
    return new RoomrunnerError(why ? 'RR_ROOM_HANDSHAKE_REFUSED' : 'RR_ROOM_NOT_READY', message, {
      data: { status: status.code, statusText: status.text, retryable: why === undefined },
    });
  }
  return new RoomrunnerError('RR_ROOM_NOT_READY', `websocket connect to ${url} failed: ${cause?.message || reason || `close ${code}`}`, {
    ...(cause ? { cause } : {}),
    data: { closeCode: code, retryable: true },
  });
}

/** Ping every interval; a socket whose pong has not come back by the next tick is dropped (close 1006). */
export function startHeartbeat(ws: WebSocket, intervalMs: number, timers: Timers): void {
  if (intervalMs <= 0) return;
  let alive = true;
  let handle: unknown;
  ws.on('pong', () => (alive = true));
  const tick = (): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (!alive) {
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
    handle = timers.setTimeout(tick, intervalMs);
  };
  handle = timers.setTimeout(tick, intervalMs);
  ws.once('close', () => timers.clearTimeout(handle));
}

/**
 * Start `inner` now and hold its frames (and a close) until the outer transport is started: the handshake
 * messages may arrive before the Session is built (ws delivers the socket's first bytes on the next tick).
 */
export function bufferUntilStarted(inner: Transport): Transport {
  let handlers: TransportHandlers | undefined;
  const frames: Uint8Array[] = [];
  let closed: CloseInfo | undefined;
  inner.start({
    onFrame: (frame) => {
      if (handlers) handlers.onFrame(frame);
      else frames.push(frame);
    },
    onClose: (code, reason) => {
      if (handlers) handlers.onClose(code, reason);
      else closed = { code, reason };
    },
  });
  return {
    start(h) {
      if (handlers) throw new Error('transport already started');
      handlers = h;
      for (const frame of frames.splice(0)) h.onFrame(frame);
      if (closed) h.onClose(closed.code, closed.reason);
    },
    sendFrames: (f) => inner.sendFrames(f),
    close: (code, reason) => inner.close(code, reason),
    get isOpen() {
      return inner.isOpen;
    },
  };
}
