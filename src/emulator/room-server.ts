/**
 * A local MeshAgent room server (docs/protocol.md §H.1): websocket endpoints at `/rooms/<name>` that the
 * official `RoomClient` and our own room client can join, register and call toolkits on, and message through.
 *
 * It never listens itself: an http server passes its `upgrade` events to {@link RoomServer.handleUpgrade}. A
 * refused token is accepted and then closed with 1008 and a reason, never answered with an HTTP 4xx, because
 * npm 0.39.9 crashes the process on a refused upgrade (§G). The one exception is a disabled room: its upgrades
 * answer HTTP 423 as the real server's do, a status the current SDKs treat as final. Everything that happens is recorded in
 * {@link RoomServer.events} so tests await what they need instead of sleeping.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { RoomrunnerError, isRoomrunnerError } from '../errors.js';
import { silentLogger, withBindings, type Logger } from '../logger.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/frame-reader.js';
import { Session } from '../room/session.js';
import { WebSocketTransport } from '../room/transport.js';
import { Participant } from './participant.js';
import { authenticateParticipant, closeReason, selectTokenSubprotocol, tokenFromRequest } from './room-auth.js';
import { EmulatorEventLog, type EmulatorEvent, type EmulatorEventListener, type WaitForEventOptions } from './room-events.js';
import { ROOM_DISABLED_REASON, Room, type RoomInfo, type RoomServerHooks } from './room.js';
import { nonNegativeMs, wholeNumber } from '../util/options.js';

export type { RoomInfo, RoomServerHooks, RoomCallRequest } from './room.js';
export type { ParticipantInfo } from './participant.js';
export type { ToolkitInfo } from './room-toolkits.js';
export type { EmulatorEvent, EmulatorEventKind, EmulatorEventListener, WaitForEventOptions } from './room-events.js';

/** A participant that stays in a room with no user for this long ends the session (§H.1 item 10). */
export const DEFAULT_IDLE_GRACE_MS = 5_000;
/** Websocket ping period; a peer that misses two pongs in a row is dropped (§G keepalive). */
export const DEFAULT_PING_INTERVAL_MS = 30_000;
/** Pings a peer may leave unanswered before it is terminated. */
export const MAX_MISSED_PONGS = 2;
/** How long {@link RoomServer.close} waits for close handshakes before dropping the sockets. */
const CLOSE_GRACE_MS = 2_000;
/** Slack over `maxMessageBytes` for one websocket frame: the frame prefix and the message type. */
const FRAME_OVERHEAD_BYTES = 4_096;

const ROOM_PATH = /^\/rooms\/([^/]+)\/?$/;

export interface RoomServerOptions {
  /** Verify participant tokens (HS256) with this secret; without one tokens are decoded, not verified. */
  secret?: string;
  /** Base websocket URL clients reach this server at, e.g. `ws://127.0.0.1:PORT`. */
  publicUrl: () => string;
  /** Grace period before a room with only agents left ends its session. Default {@link DEFAULT_IDLE_GRACE_MS}. */
  idleGraceMs?: number;
  /** Largest message a participant may send. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Websocket ping period; 0 disables pings. Default {@link DEFAULT_PING_INTERVAL_MS}. */
  pingIntervalMs?: number;
  hooks?: RoomServerHooks;
  logger?: Logger;
  /** Number of events kept in {@link RoomServer.events}. Default 10 000. */
  eventCapacity?: number;
  /** Clock in ms since the epoch (token `exp`, event times). Default `Date.now`. */
  now?: () => number;
  /** Participant, session and registration ids. Default `crypto.randomUUID`. */
  createId?: () => string;
}

export class RoomServer {
  readonly #options: RoomServerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #createId: () => string;
  readonly #maxMessageBytes: number;
  readonly #idleGraceMs: number;
  readonly #rooms = new Map<string, Room>();
  readonly #events: EmulatorEventLog;
  readonly #wss: WebSocketServer;
  readonly #pingTimer: NodeJS.Timeout | undefined;
  readonly #unsubscribers = new Map<EmulatorEventListener, () => void>();
  #closing: Promise<void> | undefined;

  constructor(options: RoomServerOptions) {
    if (typeof options.publicUrl !== 'function') {
      throw new RoomrunnerError('RR_OPTION_INVALID', 'RoomServer publicUrl must be a function returning the ws:// base URL', { data: { option: 'publicUrl' } });
    }
    this.#options = options;
    this.#log = options.logger ?? silentLogger();
    this.#now = options.now ?? Date.now;
    this.#createId = options.createId ?? randomUUID;
    this.#maxMessageBytes = wholeNumber('RoomServer maxMessageBytes', options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 1);
    this.#idleGraceMs = nonNegativeMs('RoomServer idleGraceMs', options.idleGraceMs ?? DEFAULT_IDLE_GRACE_MS);
    const pingIntervalMs = nonNegativeMs('RoomServer pingIntervalMs', options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
    this.#events = new EmulatorEventLog({ now: this.#now, ...(options.eventCapacity === undefined ? {} : { capacity: options.eventCapacity }) });
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#maxMessageBytes + FRAME_OVERHEAD_BYTES,
      perMessageDeflate: false,
      // Browsers send the token as a `meshagent-room.<jwt>` subprotocol and need it echoed (§C).
      handleProtocols: (protocols) => selectTokenSubprotocol(protocols),
    });
    if (pingIntervalMs > 0) {
      this.#pingTimer = setInterval(() => this.#ping(), pingIntervalMs);
      this.#pingTimer.unref();
    }
  }

  /** What happened, oldest first (a bounded record; a copy). */
  get events(): EmulatorEvent[] {
    return this.#events.snapshot();
  }

  /** Listen to every event as it is recorded. */
  on(event: 'event', listener: EmulatorEventListener): this {
    if (event !== 'event') throw new TypeError(`RoomServer emits only 'event', not ${String(event)}`);
    if (!this.#unsubscribers.has(listener)) this.#unsubscribers.set(listener, this.#events.subscribe(listener));
    return this;
  }

  /** Stop listening. */
  off(event: 'event', listener: EmulatorEventListener): this {
    if (event !== 'event') return this;
    this.#unsubscribers.get(listener)?.();
    this.#unsubscribers.delete(listener);
    return this;
  }

  /** Resolves with the first event (from now on, or also past ones) matching `predicate`. */
  waitForEvent(predicate: (event: EmulatorEvent) => boolean, options?: WaitForEventOptions): Promise<EmulatorEvent> {
    return this.#events.waitFor(predicate, options);
  }

  /**
   * Handle an http server `upgrade` for `/rooms/<name>`. Returns false (and leaves the socket alone) for any
   * other path.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const name = roomNameFromUrl(req.url);
    if (name === undefined) return false;
    if (this.#closing) {
      socket.destroy();
      return true;
    }
    if (this.#rooms.get(name)?.disabled === true) {
      refuseDisabled(socket);
      this.#log.info({ room: name }, 'upgrade to a disabled room refused');
      this.#events.record({ room: name, kind: 'refused', code: 423, reason: ROOM_DISABLED_REASON, type: 'RR_EMULATOR_ROOM_DISABLED' });
      return true;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, tokenFromRequest(req)?.token, name));
    return true;
  }

  /**
   * Play the room server on a socket the emulator dialed to a service (the websocket handoff, docs/protocol.md
   * §A.3): the service is the protocol's client, joining `room` as the participant `token` names.
   */
  acceptHandoff(ws: WebSocket, room: string, token: string): void {
    this.#accept(ws, token, room);
  }

  listRooms(): RoomInfo[] {
    return [...this.#rooms.values()].map((room) => room.info());
  }

  /** The room named `name`, created (without a session) if needed. */
  ensureRoom(name: string): RoomInfo {
    return this.#room(name).info();
  }

  /**
   * Start a session in `name` (creating the room). Idempotent: fires onSessionStarted once per session.
   * @throws RoomrunnerError `RR_EMULATOR_ROOM_DISABLED` when the room is disabled.
   */
  startSession(name: string): RoomInfo {
    const room = this.#room(name);
    if (room.disabled) throw disabledError(name);
    room.startSession();
    return room.info();
  }

  /**
   * Disable `name` (creating the room): its session ends, every connection closes with 1000, and upgrades
   * answer HTTP 423 until {@link enableRoom}. Idempotent.
   */
  disableRoom(name: string): RoomInfo {
    const room = this.#room(name);
    room.disable();
    return room.info();
  }

  /** Enable a disabled room again (creating the room). Idempotent. */
  enableRoom(name: string): RoomInfo {
    const room = this.#room(name);
    room.enable();
    return room.info();
  }

  /** End the session of `name`: every connection closes with 1000 and onSessionEnded fires. */
  endSession(name: string): boolean {
    return this.#rooms.get(name)?.endSession() ?? false;
  }

  /** Test hook: close one connection. 1000 is final for npm clients; 1011 (or any other code) makes them reconnect (§G). */
  closeParticipant(room: string, participantId: string, code: number, reason = ''): boolean {
    const participant = this.#rooms.get(room)?.participant(participantId);
    if (!participant) return false;
    participant.close(code, reason);
    return true;
  }

  /** Test hook: drop the TCP socket with no close frame. */
  terminateParticipant(room: string, participantId: string): boolean {
    const participant = this.#rooms.get(room)?.participant(participantId);
    if (!participant) return false;
    participant.terminate();
    return true;
  }

  /** Push `room.status` to one participant, or to every participant of the room when `participantId` is undefined. */
  pushStatus(room: string, participantId: string | undefined, status: string, message?: string): void {
    this.#rooms.get(room)?.pushStatus(participantId, status, message);
  }

  /** Push `messaging.send {type: 'dismiss'}` to a participant, asking it to leave (§A.6). */
  dismiss(room: string, participantId: string): boolean {
    return this.#rooms.get(room)?.dismiss(participantId) ?? false;
  }

  /** End every session and close every connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    const closed = Promise.all([...this.#rooms.values()].map((room) => room.shutdown('the room server is shutting down')));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS);
      timer.unref();
    });
    if ((await Promise.race([closed, late])) === 'late') {
      for (const room of this.#rooms.values()) for (const participant of room.participants()) participant.terminate();
      await closed;
    }
    clearTimeout(timer);
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #room(name: string): Room {
    if (typeof name !== 'string' || name === '' || name.includes('/')) {
      throw new RoomrunnerError('RR_EMULATOR_BAD_REQUEST', `invalid room name ${JSON.stringify(name)}: a non-empty name without '/' is required`);
    }
    let room = this.#rooms.get(name);
    if (!room) {
      room = new Room({
        name,
        url: () => `${this.#options.publicUrl().replace(/\/+$/, '')}/rooms/${name}`,
        idleGraceMs: this.#idleGraceMs,
        hooks: this.#options.hooks ?? {},
        log: withBindings(this.#log, { room: name }),
        events: this.#events,
        now: this.#now,
        createId: this.#createId,
      });
      this.#rooms.set(name, room);
      this.#events.record({ room: name, kind: 'room.created' });
    }
    return room;
  }

  #accept(ws: WebSocket, token: string | undefined, name: string): void {
    // ws emits 'error' before 'close'; without a listener an error would crash the process.
    ws.on('error', () => undefined);
    if (this.#closing) {
      ws.terminate();
      return;
    }
    let claims: ReturnType<typeof authenticateParticipant>;
    try {
      claims = authenticateParticipant(token, name, {
        secret: this.#options.secret,
        nowSeconds: Math.floor(this.#now() / 1000),
      });
    } catch (error) {
      const err = isRoomrunnerError(error) ? error : new RoomrunnerError('RR_TOKEN_MALFORMED', String(error), { cause: error });
      // Accept, then close: an HTTP 4xx makes npm 0.39.9 crash its process (§G).
      const reason = closeReason(`participant token refused: ${err.message}`);
      this.#log.info({ room: name, code: err.code }, 'participant token refused');
      this.#events.record({ room: name, kind: 'refused', code: err.closeCode, reason, type: err.code });
      ws.close(err.closeCode, reason);
      return;
    }

    const room = this.#room(name);
    if (room.disabled) {
      // Disabled between the upgrade check and now: as final for the client as the 423 would have been.
      ws.close(1000, ROOM_DISABLED_REASON);
      return;
    }
    const transport = new WebSocketTransport(ws);
    let participant: Participant | undefined;
    const session = new Session(transport, {
      maxMessageBytes: this.#maxMessageBytes,
      firstId: 0,
      // The server never waits on a client's answer through Session.request.
      requestTimeoutMs: 0,
      onError: (error, context) => {
        if (participant) room.onFrameError(participant, error, context);
      },
    });
    const joined = new Participant({
      id: this.#createId(),
      name: claims.name,
      role: claims.role,
      api: claims.api,
      session,
      transport,
      connectedAt: this.#now(),
      log: withBindings(this.#log, { room: name }),
    });
    participant = joined;
    ws.on('pong', () => {
      joined.missedPongs = 0;
    });
    room.join(joined);
    session.closed
      .then(({ code, reason }) => room.leave(joined, code, reason))
      .catch((error: unknown) => this.#log.error({ room: name, participantId: joined.id, err: error }, 'participant cleanup failed'));
  }

  #ping(): void {
    for (const room of this.#rooms.values()) {
      for (const participant of room.participants()) {
        if (participant.missedPongs >= MAX_MISSED_PONGS) {
          this.#log.info({ room: room.name, participantId: participant.id }, 'participant missed pongs; dropping it');
          participant.terminate();
          continue;
        }
        participant.missedPongs += 1;
        try {
          participant.socket.ping();
        } catch {
          // The socket is closing; its close event will remove the participant.
        }
      }
    }
  }
}

/** The room name of a `/rooms/<name>` request URL, or undefined for any other path. */
export function roomNameFromUrl(url: string | undefined): string | undefined {
  const pathname = new URL(url ?? '/', 'http://localhost').pathname;
  const match = ROOM_PATH.exec(pathname);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

/** Answer an upgrade with HTTP 423 and the platform's JSON error body (the Python client reads `error.message`). */
function refuseDisabled(socket: Duplex): void {
  const body = JSON.stringify({ error: { code: 'RR_EMULATOR_ROOM_DISABLED', message: ROOM_DISABLED_REASON } });
  socket.end(`HTTP/1.1 423 Locked\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function disabledError(room: string): RoomrunnerError {
  return new RoomrunnerError('RR_EMULATOR_ROOM_DISABLED', `room ${JSON.stringify(room)} is disabled: ${ROOM_DISABLED_REASON}`, { data: { room } });
}
