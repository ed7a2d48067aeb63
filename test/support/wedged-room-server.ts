/**
 * A room server that misbehaves on purpose, for join-bound and refusal tests: it accepts the TCP connection and
 * then never answers the upgrade, upgrades and never sends `room_ready`, refuses the upgrade with an HTTP status,
 * or upgrades and closes with a code at once. It counts the upgrade requests it saw.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';

export type WedgedBehaviour =
  | { readonly kind: 'never-upgrade' }
  | { readonly kind: 'never-ready' }
  | { readonly kind: 'refuse'; readonly status: number }
  | { readonly kind: 'close'; readonly code: number; readonly reason: string };

export interface WedgedRoomServer {
  /** Base URL: rooms are at `<url>/rooms/<name>`. */
  readonly url: string;
  roomUrl(room: string): string;
  /** Upgrade requests seen so far, by path. */
  readonly upgrades: string[];
  close(): Promise<void>;
}

export async function startWedgedRoomServer(behaviour: WedgedBehaviour): Promise<WedgedRoomServer> {
  const sockets = new Set<Socket>();
  const upgrades: string[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer((_request, response) => response.writeHead(404).end());
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(request.url?.split('?')[0] ?? '');
    socket.on('error', () => undefined);
    switch (behaviour.kind) {
      case 'never-upgrade':
        return; // hold the socket, say nothing
      case 'refuse':
        socket.end(`HTTP/1.1 ${behaviour.status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        return;
      case 'never-ready':
        wss.handleUpgrade(request, socket, head, () => undefined);
        return;
      case 'close':
        wss.handleUpgrade(request, socket, head, (ws) => ws.close(behaviour.code, behaviour.reason));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no address from listen(0)');
  const url = `ws://127.0.0.1:${address.port}`;
  return {
    url,
    roomUrl: (room) => `${url}/rooms/${room}`,
    upgrades,
    async close() {
      for (const client of wss.clients) client.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
