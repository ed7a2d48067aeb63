/**
 * Where a token must never go: a TCP listener on 127.0.0.1 that records every connection and every byte sent to
 * it and never answers, so a test can assert that nothing (no upgrade, no token) reached it. Plus a signed
 * webhook POST, to send it a `room_url`.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';

export interface RecordingHost {
  readonly port: number;
  readonly connections: readonly Socket[];
  /** Everything received, as latin1 text (an HTTP upgrade shows its `?token=` and Authorization header). */
  bytes(): string;
  close(): Promise<void>;
}

/** Starts one; `cleanups` (a test file's list of things to undo) gets its close. */
export async function recordingHost(cleanups: Array<() => unknown>): Promise<RecordingHost> {
  const connections: Socket[] = [];
  let received = '';
  const server = createServer((socket) => {
    connections.push(socket);
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const host: RecordingHost = {
    port: (server.address() as AddressInfo).port,
    connections,
    bytes: () => received,
    close: () => {
      for (const socket of connections) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(() => host.close());
  return host;
}

/** POSTs `{event, data}` to `<base>/webhook` signed with the meshagent scheme; throws unless it is answered 200. */
export async function postSignedWebhook(base: string, secret: string, event: string, data: Record<string, unknown>): Promise<void> {
  const body = pythonDumps({ event, data });
  const headers = signWebhook('meshagent', { body, secret });
  const response = await fetch(`${base}/webhook`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
  const answer = await response.text();
  if (response.status !== 200) throw new Error(`${event} answered ${String(response.status)}: ${answer}`);
}
