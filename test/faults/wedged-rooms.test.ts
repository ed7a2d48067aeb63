/**
 * `roomrunner serve` as a process, with 300 rooms on a room server that never answers: half of them never get an
 * answer to the websocket upgrade, half are upgraded and never get `room_ready`. A healthy room on the emulator
 * must still join, delayed by at most one attempt bound; /readyz says joins are failing meanwhile, and /status
 * names what never came and from where.
 *
 * The platform URL points at a front server of this test: `/rooms/healthy` is passed through to the emulator,
 * every other room hangs. So every room is on the configured platform origin, as a deployment has it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { startEmulator } from '../../src/emulator/index.js';
import { buildMeshagentDelivery } from '../../src/webhooks/signatures/meshagent.js';
import { freePort } from './support.js';

const BIN = path.join(import.meta.dirname, '../../bin/roomrunner.js');
const ROOM_SECRET = 'wedged-room-secret';
const WEBHOOK_SECRET = 'wedged-webhook-secret';
const WEDGED_ROOMS = 300;
/** The attempt bound given to serve: short, so the test is quick; every wait below is a bound, not a speed claim. */
const ATTEMPT_TIMEOUT_MS = 5_000;
/** The healthy room's own join (a few hundred ms even on a loaded machine) plus at most one attempt bound. */
const HEALTHY_JOIN_BOUND_MS = 2 * ATTEMPT_TIMEOUT_MS;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface FrontServer {
  readonly url: string;
  /** Upgrade requests for rooms other than `healthy`, which were left hanging. */
  hung: number;
}

/** Passes `/rooms/healthy` upgrades to `target` byte for byte; holds every other upgrade without an answer or after the 101. */
async function startFront(targetPort: number): Promise<FrontServer> {
  const sockets = new Set<Socket>();
  const wss = new WebSocketServer({ noServer: true });
  const server: Server = createServer((_request, response) => response.writeHead(404).end());
  const front: FrontServer = { url: '', hung: 0 };
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const room = /^\/rooms\/([^?]+)/.exec(request.url ?? '')?.[1] ?? '';
    if (room === 'healthy') {
      const upstream = connect(targetPort, '127.0.0.1');
      upstream.on('error', () => socket.destroy());
      sockets.add(upstream);
      const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`];
      for (let i = 0; i < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
      return;
    }
    front.hung += 1;
    if (room.startsWith('silent-')) return; // never answer the upgrade
    wss.handleUpgrade(request, socket, head, () => undefined); // upgraded, and then nothing: no room_ready
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no address from listen(0)');
  cleanups.push(async () => {
    for (const client of wss.clients) client.terminate();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return Object.assign(front, { url: `http://127.0.0.1:${address.port}` });
}

async function startServe(apiUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', 'memory://', '--max-rooms', '400'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/tmp',
      MESHAGENT_API_URL: apiUrl,
      MESHAGENT_SECRET: ROOM_SECRET,
      MESHAGENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      ROOMRUNNER_JOIN_ATTEMPT_TIMEOUT_MS: String(ATTEMPT_TIMEOUT_MS),
      ROOMRUNNER_LOG_PRETTY: '0',
      // A line per failed attempt of 300 rooms is a lot of work for nothing here.
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await vi.waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`serve exited ${String(child.exitCode)}: ${stderr}`);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    },
    // Start-up (tsx, the store) is slow on a loaded machine; this only bounds the wait.
    { timeout: 90_000, interval: 200 },
  );
  return { url, child };
}

async function sendStarted(serveUrl: string, room: string): Promise<number> {
  const delivery = buildMeshagentDelivery({ event: 'room.started', data: { room_name: room } }, WEBHOOK_SECRET);
  const response = await fetch(`${serveUrl}/webhook`, { method: 'POST', headers: delivery.headers, body: delivery.body });
  await response.arrayBuffer();
  return response.status;
}

describe('roomrunner serve with a room server that never answers', () => {
  it('joins a healthy room within one attempt bound while 300 rooms hang, and says joins are failing', async () => {
    const emulator = await startEmulator({ port: 0, secret: ROOM_SECRET, projectId: 'wedged-project', idleGraceMs: 600_000 });
    cleanups.push(() => emulator.close());
    const front = await startFront(Number(new URL(emulator.roomUrl('healthy')).port));
    const { url } = await startServe(front.url);

    const rooms = Array.from({ length: WEDGED_ROOMS }, (_, i) => (i % 2 === 0 ? `silent-${i}` : `stuck-${i}`));
    for (let i = 0; i < rooms.length; i += 50) {
      const statuses = await Promise.all(rooms.slice(i, i + 50).map((room) => sendStarted(url, room)));
      expect(new Set(statuses)).toEqual(new Set([200]));
    }
    // More hung attempts than the 256 join slots there are.
    await vi.waitFor(() => expect(front.hung).toBeGreaterThanOrEqual(260), { timeout: 30_000, interval: 100 });

    // Once the first attempts have hit their bound, readiness says why, and /status names what never came.
    await vi.waitFor(
      async () => {
        const response = await fetch(`${url}/readyz`);
        expect(response.status).toBe(503);
        expect(((await response.json()) as { reasons: string[] }).reasons).toContain('room joins unavailable');
      },
      { timeout: 3 * ATTEMPT_TIMEOUT_MS, interval: 250 },
    );
    const status = (await (await fetch(`${url}/status`)).json()) as { attachments: Array<{ room: string; lastError: string | null }> };
    // Which phase an attempt was in when its bound passed depends on how busy the machine is; that it says so does not.
    const errors = status.attachments.filter((a) => a.lastError !== null).map((a) => a.lastError ?? '');
    expect(errors.length).toBeGreaterThan(0);
    // When the connection does not let go within the give-up grace (a loaded machine), the bound's own message
    // stands alone; otherwise it names the phase and the URL.
    for (const error of errors) {
      expect(error).toMatch(
        new RegExp(`^join attempt did not finish within ${ATTEMPT_TIMEOUT_MS} ms($| \\(while .* ${front.url.replace('http', 'ws')}/rooms/)`),
      );
    }
    expect(errors.some((error) => error.includes(`${front.url.replace('http', 'ws')}/rooms/`))).toBe(true);

    emulator.roomServer.startSession('healthy');
    const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === 'healthy', { includePast: true });
    expect(await sendStarted(url, 'healthy')).toBe(200);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'bound passed'>((resolve) => (timer = setTimeout(() => resolve('bound passed'), HEALTHY_JOIN_BOUND_MS)));
    const outcome = await Promise.race([registered.then(() => 'registered' as const), bound]);
    clearTimeout(timer);
    expect(outcome).toBe('registered');

    // A join succeeded (once its answer is back): readiness no longer blames the joins, though the hung rooms still hang.
    await vi.waitFor(
      async () => {
        const ready = (await (await fetch(`${url}/readyz`)).json()) as { ready: boolean; reasons?: string[] };
        expect(ready.reasons ?? []).not.toContain('room joins unavailable');
      },
      { timeout: 10_000, interval: 200 },
    );
    expect(front.hung).toBeGreaterThanOrEqual(WEDGED_ROOMS);
  }, 300_000); // 300 signed webhooks into a process with the embedded store: minutes on a loaded machine
});
