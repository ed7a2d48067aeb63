/**
 * The websocket handoff of `room.call` (docs/protocol.md §A.3): the platform dials `GET <webhook path>` with
 * `Upgrade: websocket`, the envelope as a JSON string in `Meshagent-Webhook` (a GET has no body) and the
 * signature in `Meshagent-Signature`, then plays the room server on that same socket.
 *
 * Everything is checked before upgrading, on the http server's `upgrade` event (fastify routes never see an
 * upgrade): draining → 503, a bad or missing signature → 401 (the POST rules: the header value's raw bytes
 * first, then the Python-compatible re-serialisation, §A.4), a malformed envelope → 400, an event other than
 * `room.call` → 400. Refusals are plain HTTP answers with the same `{ok:false,error}` body as a POST's, and
 * the socket is never upgraded. Only a verified `room.call` is upgraded and handed to `onHandoff`.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { errorResponse } from '../http/error-response.js';
import type { Metrics, WebhookAckResult } from '../http/metrics.js';
import { acceptedSocketDialer } from '../room/accepted-transport.js';
import type { Dialer } from '../room/ws-dialer.js';
import { CallEvent, ROOM_CALL } from './events.js';
import { parseWebhookBody, type WebhookVerifier } from './receive.js';

/** The header that carries the envelope of a websocket handoff. */
export const HANDOFF_ENVELOPE_HEADER = 'meshagent-webhook';

/** A verified, upgraded handoff. */
export interface Handoff {
  readonly event: CallEvent;
  /** Yields the upgraded socket once (frames are buffered from the upgrade on): give it to a RoomConnection. */
  readonly dial: Dialer;
  /** The upgraded socket, to close it when the handoff is not taken. */
  readonly socket: WebSocket;
  /** The verified delivery's dedupe key (the digest of the envelope). */
  readonly deliveryKey: string;
}

export interface HandoffOptions {
  /** The webhook path; upgrades on other paths get 404. */
  readonly path: string;
  readonly verifier: WebhookVerifier;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** False while draining: handoffs get 503. */
  readonly accepting: () => boolean;
  /** Milliseconds since the epoch (Standard Webhooks tolerance); default `Date.now`. */
  readonly now?: () => number;
  /** Ping interval on the upgraded socket (default that of every room connection, 30 s). */
  readonly pingIntervalMs?: number;
  /** Runs once per upgraded handoff. Must not throw (report failures inside). */
  readonly onHandoff: (handoff: Handoff) => void;
}

/**
 * Listen for handoff upgrades on `server`. Returns a function that stops listening and terminates sockets
 * still being upgraded.
 */
export function listenForHandoffs(server: Server, options: HandoffOptions): () => void {
  const now = options.now ?? Date.now;
  const log = options.logger;
  // No permessage-deflate: the room protocol's frames are binary and small; compression only costs CPU.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    let event: CallEvent;
    let deliveryKey: string;
    try {
      ({ event, deliveryKey } = verifyHandoff(req, options, now));
    } catch (err) {
      const response = refuse(socket, err);
      options.metrics?.webhookAnswered(undefined, ackResultOf(response.status));
      if (response.status >= 500 && response.code === 'RR_HTTP_INTERNAL') log.error({ err }, 'webhook handoff failed');
      else log.warn({ code: response.code, status: response.status }, 'webhook handoff refused');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      options.metrics?.webhookAnswered(ROOM_CALL, 'accepted');
      log.info({ room: event.roomName, key: deliveryKey }, 'webhook handoff accepted');
      const dial = acceptedSocketDialer(ws, options.pingIntervalMs === undefined ? {} : { pingIntervalMs: options.pingIntervalMs });
      options.onHandoff({ event, dial, socket: ws, deliveryKey });
    });
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    wss.close();
  };
}

/** Path, draining, signature, envelope, event: in that order, every failure a RoomrunnerError with its status. */
function verifyHandoff(req: IncomingMessage, options: HandoffOptions, now: () => number): { event: CallEvent; deliveryKey: string } {
  const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (pathname !== options.path) throw new RoomrunnerError('RR_HTTP_NOT_FOUND', `no websocket endpoint at ${pathname}: the handoff path is ${options.path}`);
  if (!options.accepting()) throw new RoomrunnerError('RR_WEBHOOK_DRAINING', 'draining for shutdown: retry later');
  const header = req.headers[HANDOFF_ENVELOPE_HEADER];
  const value = Array.isArray(header) ? header.join(', ') : header;
  // Node decodes header bytes as latin1: turning the string back into latin1 bytes gives exactly what was sent.
  const raw = Buffer.from(value ?? '', 'latin1');
  const { dedupeKey } = options.verifier.authenticate(raw, req.headers, Math.floor(now() / 1000));
  if (value === undefined || value === '') {
    throw new RoomrunnerError('RR_WEBHOOK_ENVELOPE_INVALID', 'a websocket handoff carries its envelope in the Meshagent-Webhook header, and there is none');
  }
  const event = parseWebhookBody(raw);
  if (!(event instanceof CallEvent)) {
    throw new RoomrunnerError('RR_WEBHOOK_HANDOFF_NOT_CALL', `only room.call can be handed off over a websocket, not ${event.event}`, {
      data: { event: event.event },
    });
  }
  return { event, deliveryKey: dedupeKey };
}

/** Answer the upgrade request with a plain HTTP error (the same body as a POST's) and close the socket. */
function refuse(socket: Duplex, err: unknown): { status: number; code: string } {
  const response = errorResponse(err);
  const body = JSON.stringify({ ok: false, error: { code: response.code, message: response.message } });
  const head = [
    `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(response.status === 503 ? ['Retry-After: 5'] : []),
  ];
  if (socket.writable) socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  else socket.destroy();
  return response;
}

function ackResultOf(status: number): WebhookAckResult {
  if (status === 401) return 'unauthorized';
  return status >= 500 ? 'unavailable' : 'bad_request';
}
