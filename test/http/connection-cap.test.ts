/**
 * ConnectionCap on a plain node http server: which connection makes room for a new one.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionCap } from '../../src/http/connection-cap.js';

const WAIT_BOUND_MS = 10_000;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Harness {
  readonly port: number;
  readonly cap: ConnectionCap;
  /** Requests to /hold that are waiting for an answer. */
  readonly held: ServerResponse[];
  /** The URL of every request the server saw. */
  readonly urls: string[];
  readonly server: Server;
}

async function harness(max: number): Promise<Harness> {
  const held: ServerResponse[] = [];
  const urls: string[] = [];
  const server = createServer((request, response) => {
    urls.push(request.url ?? '');
    if (request.url === '/hold') {
      held.push(response);
      return;
    }
    request.resume();
    request.on('end', () => response.end('ok'));
  });
  const cap = new ConnectionCap(server, max);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, cap, held, urls, server };
}

interface Client {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

async function client(port: number, send?: string): Promise<Client> {
  const socket = connect(port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  socket.on('error', () => undefined);
  socket.resume();
  let closed = false;
  const closedPromise = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  if (send !== undefined) socket.write(send);
  return { socket, closed: closedPromise, isClosed: () => closed };
}

/** Until `condition` holds, a bound on waiting (never a timing assertion). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_BOUND_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_BOUND_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const HOLD = 'GET /hold HTTP/1.1\r\nHost: x\r\n\r\n';
const PARTIAL_BODY = 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc';

describe('ConnectionCap', () => {
  it('closes the longest idle connection first to admit a new one', async () => {
    const h = await harness(3);
    const first = await client(h.port);
    const second = await client(h.port);
    await client(h.port);
    await until(() => h.cap.stats.open === 3, 'three connections admitted');

    await client(h.port);
    await first.closed;
    expect(second.isClosed()).toBe(false);
    expect(h.cap.stats).toMatchObject({ open: 3, evicted: 1, refused: 0 });
  });

  it('closes a connection that is still sending its body before any being answered', async () => {
    const h = await harness(2);
    await client(h.port, HOLD);
    const slow = await client(h.port, PARTIAL_BODY);
    await until(() => h.held.length === 1 && h.urls.includes('/slow'), 'both requests arrived');

    const newcomer = await client(h.port);
    await slow.closed;
    expect(newcomer.isClosed()).toBe(false);
    expect(h.cap.stats).toMatchObject({ open: 2, evicted: 1 });
  });

  it('moves a connection to the back of the queue when its answer is sent', async () => {
    const h = await harness(2);
    const older = await client(h.port);
    const younger = await client(h.port);
    await until(() => h.cap.stats.open === 2, 'two connections admitted');
    // The older connection asks something and is answered: now it is the one idle for the shortest time.
    older.socket.write('GET /quick HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => older.socket.once('data', () => resolve()));

    await client(h.port);
    await younger.closed;
    expect(older.isClosed()).toBe(false);
  });

  it('refuses a new connection when every open one is being answered', async () => {
    const h = await harness(2);
    const a = await client(h.port, HOLD);
    const b = await client(h.port, HOLD);
    await until(() => h.held.length === 2, 'both held requests arrived');

    const refused = await client(h.port);
    await refused.closed;
    expect(a.isClosed() || b.isClosed()).toBe(false);
    expect(h.cap.stats).toMatchObject({ open: 2, refused: 1, evicted: 0 });
  });

  it('never closes a connection upgraded by another upgrade listener', async () => {
    const h = await harness(1);
    const upgraded: Socket[] = [];
    h.server.on('upgrade', (_request, socket: Socket) => {
      upgraded.push(socket);
      cleanups.push(() => socket.destroy());
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
    });
    const a = await client(h.port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
    await until(() => upgraded.length === 1, 'the upgrade arrived');

    const refused = await client(h.port);
    await refused.closed;
    expect(a.isClosed()).toBe(false);
    expect(h.cap.stats).toMatchObject({ refused: 1, evicted: 0 });
  });
});
