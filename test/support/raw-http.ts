/**
 * Raw TCP clients for tests of the HTTP server's limits (slow, silent and unfinished requests), and a bound on
 * waiting for what they should see.
 */
import { connect, type Socket } from 'node:net';

/** A raw client socket that records what it received; `closed` resolves with it when the socket closes. */
export interface RawClient {
  readonly socket: Socket;
  readonly closed: Promise<string>;
}

/** Connects to 127.0.0.1:`port`, sends `send` if given, and hands the socket to `track` for clean-up. */
export async function openRaw(port: number, send: string | undefined, track: (socket: Socket) => void): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  track(socket);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (send !== undefined) socket.write(send);
  return { socket, closed };
}

/** `work`, or a rejection naming `what` after `boundMs`: a bound on waiting, never an assertion of speed. */
export async function within<T>(work: Promise<T>, what: string, boundMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${boundMs} ms`)), boundMs);
  });
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}
