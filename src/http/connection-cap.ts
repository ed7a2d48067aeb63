/**
 * A cap on open HTTP connections that keeps the server answering.
 *
 * Node's own `server.maxConnections` drops every new connection once the cap is reached, so a few thousand idle
 * clients would lock out the platform's webhooks and the load balancer's health checks. Here a new connection
 * over the cap closes the connection that matters least instead:
 *
 * 1. an idle one (connected but nothing sent yet, or between keep-alive requests), the longest idle first;
 * 2. else one still sending its request (headers or body unfinished), the one that started first;
 * 3. else (every connection is being answered, or was upgraded to a websocket) the new one is refused.
 *
 * A legitimate request is small and quick, so it is rarely the longest idle or slowest: a flood of idle or slow
 * clients pushes out its own members first. Tier 3 lasts at most until a request timeout ends a slow request.
 *
 * {@link ConnectionCap.closing} ends the idle and unfinished connections when the server closes: node stops
 * enforcing the header and request timeouts once `server.close()` is called, so a client that never sends a byte
 * would otherwise hold the close (and the process's drain) until the idle timeout. A request cut off then was
 * never acknowledged, so its sender retries it.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { silentLogger, type Logger } from '../logger.js';

/** At most one warning per this period while connections are being shed (a flood must not flood the logs). */
const SHED_LOG_INTERVAL_MS = 10_000;

type Activity = { readonly kind: 'idle' } | { readonly kind: 'request'; readonly request: IncomingMessage } | { readonly kind: 'upgraded' };

const IDLE: Activity = { kind: 'idle' };

/** What the cap has done, for tests and `/metrics`. */
export interface ConnectionCapStats {
  readonly open: number;
  /** Connections closed to make room for a new one. */
  readonly evicted: number;
  /** New connections closed at once because nothing could be evicted. */
  readonly refused: number;
}

/** Tracks the connections of one server and enforces the cap; see the module comment. */
export class ConnectionCap {
  readonly #max: number;
  readonly #log: Logger;
  /** Insertion order is the time of the last change of activity: the first entries have waited longest. */
  readonly #connections = new Map<Socket, Activity>();
  #evicted = 0;
  #refused = 0;
  #closing = false;
  #shedSinceLog = 0;
  #lastLogAt = Number.NEGATIVE_INFINITY;

  /**
   * @param maxConnections the cap, at least 1.
   */
  constructor(server: Server, maxConnections: number, logger: Logger = silentLogger()) {
    this.#max = Math.max(1, Math.floor(maxConnections));
    this.#log = logger;
    server.on('connection', (socket: Socket) => this.#admit(socket));
    server.on('request', (request: IncomingMessage, response: { once(event: 'close', listener: () => void): unknown }) => {
      const socket = request.socket;
      if (!this.#connections.has(socket)) return;
      this.#touch(socket, { kind: 'request', request });
      response.once('close', () => {
        if (!this.#connections.has(socket)) return;
        if (this.#closing) socket.destroy();
        else this.#touch(socket, IDLE);
      });
    });
    trackUpgrades(server, (socket) => {
      if (this.#connections.has(socket)) this.#touch(socket, { kind: 'upgraded' });
    });
  }

  get stats(): ConnectionCapStats {
    return { open: this.#connections.size, evicted: this.#evicted, refused: this.#refused };
  }

  /**
   * The server is closing: end every connection that is idle or still sending its request now, and each other one
   * once its answer is sent; refuse new ones. Connections upgraded to websockets are left to their owner.
   */
  closing(): void {
    this.#closing = true;
    for (const [socket, activity] of this.#connections) {
      if (activity.kind === 'idle' || (activity.kind === 'request' && !activity.request.complete)) socket.destroy();
    }
  }

  #admit(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (this.#connections.size >= this.#max) {
      const victim = this.#victim();
      if (victim === undefined) {
        this.#refused += 1;
        this.#shed();
        socket.destroy();
        return;
      }
      this.#evicted += 1;
      this.#connections.delete(victim);
      this.#shed();
      victim.destroy();
    }
    this.#connections.set(socket, IDLE);
    socket.once('close', () => this.#connections.delete(socket));
  }

  #victim(): Socket | undefined {
    let sending: Socket | undefined;
    for (const [socket, activity] of this.#connections) {
      if (activity.kind === 'idle') return socket;
      if (sending === undefined && activity.kind === 'request' && !activity.request.complete) sending = socket;
    }
    return sending;
  }

  #touch(socket: Socket, activity: Activity): void {
    this.#connections.delete(socket);
    this.#connections.set(socket, activity);
  }

  #shed(): void {
    this.#shedSinceLog += 1;
    const now = Date.now();
    if (now - this.#lastLogAt < SHED_LOG_INTERVAL_MS) return;
    this.#lastLogAt = now;
    this.#log.warn({ maxConnections: this.#max, shed: this.#shedSinceLog, ...this.stats }, 'connection cap reached: closing the idlest connections');
    this.#shedSinceLog = 0;
  }
}

/**
 * Calls `onUpgrade` for each socket handed to an `upgrade` listener. Node treats an upgrade request as a plain
 * request while the server has no `upgrade` listener, so ours is added only while someone else's is there.
 */
function trackUpgrades(server: Server, onUpgrade: (socket: Socket) => void): void {
  const listener = (_request: IncomingMessage, socket: Socket): void => onUpgrade(socket);
  let attached = false;
  server.on('newListener', (event: string | symbol) => {
    if (event !== 'upgrade' || attached) return;
    attached = true;
    server.prependListener('upgrade', listener);
  });
  server.on('removeListener', (event: string | symbol) => {
    if (event !== 'upgrade' || !attached) return;
    if (server.listeners('upgrade').every((other) => other === listener)) {
      attached = false;
      server.removeListener('upgrade', listener);
    }
  });
}
