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

/** A whole answer read from a raw connection: its status code and its body (after the blank line). */
export interface RawAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * Sends one request on a new connection with `Connection: close` and reads the answer until the server closes.
 * Unlike `fetch`, it never reuses a pooled keep-alive connection, which a connection cap may close at any moment.
 */
export async function requestRaw(
  port: number,
  request: { method: string; path: string; headers?: Record<string, string>; body?: string },
  track: (socket: Socket) => void,
): Promise<RawAnswer> {
  const body = request.body ?? '';
  const headers = { host: '127.0.0.1', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...request.headers };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const client = await openRaw(port, `${request.method} ${request.path} HTTP/1.1\r\n${head}\r\n${body}`, track);
  const text = Buffer.from(await client.closed, 'latin1').toString('utf8');
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  if (status === null) throw new Error(`no HTTP answer on a raw connection (received ${JSON.stringify(text.slice(0, 200))})`);
  const split = text.indexOf('\r\n\r\n');
  return { status: Number(status[1]), body: split < 0 ? '' : text.slice(split + 4) };
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
