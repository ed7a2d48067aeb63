/**
 * A transport only moves frames (docs/architecture.md §Style 1): one websocket binary message is one frame (§D.1). The
 * session above it owns ids, requests and routing. Two implementations: {@link WebSocketTransport} over `ws`,
 * and {@link createMemoryTransportPair}, a linked pair for tests that need no socket.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { RoomrunnerError } from '../errors.js';

export interface TransportHandlers {
  onFrame(frame: Uint8Array): void;
  onClose(code: number, reason: string): void;
}

export interface Transport {
  /** Begin delivering frames. Called once. */
  start(handlers: TransportHandlers): void;
  /**
   * Send every frame of one message. Implementations hand all frames to the socket synchronously, in order,
   * so messages never interleave (§D.1); the promise settles when the socket has written them.
   */
  sendFrames(frames: readonly Uint8Array[]): Promise<void>;
  /** Close with a websocket close code. Idempotent. */
  close(code?: number, reason?: string): void;
  readonly isOpen: boolean;
}

/** `ws` close codes 1005/1006 mean "no status"/"abnormal": report them as they are. */
export class WebSocketTransport implements Transport {
  readonly #ws: WebSocket;
  #handlers: TransportHandlers | undefined;
  #closed = false;

  constructor(ws: WebSocket) {
    this.#ws = ws;
  }

  get socket(): WebSocket {
    return this.#ws;
  }

  get isOpen(): boolean {
    return !this.#closed && this.#ws.readyState === this.#ws.OPEN;
  }

  start(handlers: TransportHandlers): void {
    if (this.#handlers) throw new Error('transport already started');
    this.#handlers = handlers;
    this.#ws.binaryType = 'nodebuffer';
    this.#ws.on('message', (data, isBinary) => {
      // npm clients turn text frames into UTF-8 bytes and parse them as binary (§D.1); we do the same.
      const frame = toBytes(data, isBinary);
      if (frame) handlers.onFrame(frame);
    });
    this.#ws.on('close', (code, reason) => this.#finish(code, reason.toString()));
    // 'error' is always followed by 'close' in ws; listening keeps an error from crashing the process.
    this.#ws.on('error', () => undefined);
    if (this.#ws.readyState === this.#ws.CLOSED) this.#finish(1006, 'socket already closed');
  }

  sendFrames(frames: readonly Uint8Array[]): Promise<void> {
    if (!this.isOpen) return Promise.reject(new RoomrunnerError('RR_ROOM_CLOSED', 'the websocket is not open: nothing was sent'));
    const last = frames.length - 1;
    // Cork the socket around the frames: a message (header frame + data frames) goes out in one write instead
    // of one per frame, and messages sent in the same tick share it. Uncorked on the next tick, once per cork.
    const socket = (this.#ws as unknown as { _socket?: Socket })._socket;
    const corked = socket !== undefined && !socket.destroyed;
    if (corked) {
      socket.cork();
      process.nextTick(uncork, socket);
    }
    return new Promise((resolve, reject) => {
      for (let i = 0; i <= last; i++) {
        this.#ws.send(frames[i] as Uint8Array, { binary: true }, i === last ? (err) => (err ? reject(err) : resolve()) : undefined);
      }
    });
  }

  close(code = 1000, reason = ''): void {
    if (this.#ws.readyState === this.#ws.CLOSED || this.#ws.readyState === this.#ws.CLOSING) return;
    // ws refuses close codes outside 1000 and 3000–4999 (and reserved ones); fall back to terminate.
    try {
      this.#ws.close(code, reason.slice(0, 120));
    } catch {
      this.#ws.terminate();
    }
  }

  /** Drop the socket without a close handshake, as a crash or network loss would. */
  terminate(): void {
    this.#ws.terminate();
  }

  #finish(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers?.onClose(code, reason);
  }
}

function uncork(socket: Socket): void {
  socket.uncork();
}

function toBytes(data: unknown, isBinary: boolean): Uint8Array | undefined {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (!isBinary && typeof data === 'string') return Buffer.from(data, 'utf8');
  return undefined;
}

/**
 * Two linked transports: frames sent on one arrive on the other (on a later microtask, as a socket would
 * deliver them). Closing one closes both with the same code.
 */
export function createMemoryTransportPair(): [Transport, Transport] {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryTransport implements Transport {
  peer: MemoryTransport | undefined;
  #handlers: TransportHandlers | undefined;
  #closed = false;
  #backlog: Uint8Array[] = [];

  get isOpen(): boolean {
    return !this.#closed;
  }

  start(handlers: TransportHandlers): void {
    this.#handlers = handlers;
    for (const frame of this.#backlog.splice(0)) handlers.onFrame(frame);
  }

  sendFrames(frames: readonly Uint8Array[]): Promise<void> {
    if (this.#closed) return Promise.reject(new RoomrunnerError('RR_ROOM_CLOSED', 'the transport is closed: nothing was sent'));
    const copies = frames.map((f) => Uint8Array.prototype.slice.call(f));
    queueMicrotask(() => this.peer?.deliver(copies));
    return Promise.resolve();
  }

  deliver(frames: Uint8Array[]): void {
    if (this.#closed) return;
    if (!this.#handlers) {
      this.#backlog.push(...frames);
      return;
    }
    for (const frame of frames) this.#handlers.onFrame(frame);
  }

  close(code = 1000, reason = ''): void {
    if (this.#closed) return;
    this.#closed = true;
    queueMicrotask(() => {
      this.#handlers?.onClose(code, reason);
      this.peer?.close(code, reason);
    });
  }
}
