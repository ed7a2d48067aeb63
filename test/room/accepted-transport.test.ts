/**
 * A RoomConnection over a socket it did not dial: the platform's side sends room_ready and connected at once
 * (before the connection exists), and closes the socket; the connection never dials again.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { encodeFrames } from '../../src/protocol/frames.js';
import { packMessage } from '../../src/protocol/packing.js';
import { acceptedSocketDialer } from '../../src/room/accepted-transport.js';
import { RoomConnection } from '../../src/room/connection.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A listening "service" that hands each accepted socket to `onSocket`, and a "platform" socket dialed to it. */
async function socketPair(): Promise<{ service: WebSocket; platform: WebSocket }> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  cleanups.push(
    () => new Promise((resolve) => http.close(resolve)),
    () => wss.close(),
  );
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const platform = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/webhook`);
  platform.on('error', () => undefined);
  await once(platform, 'open');
  const [service] = await accepted;
  cleanups.push(() => platform.terminate());
  return { service, platform };
}

function send(ws: WebSocket, id: number, type: string, header: Record<string, unknown>): void {
  for (const frame of encodeFrames(id, type, packMessage(header))) ws.send(frame);
}

describe('acceptedSocketDialer', () => {
  it('runs the ordinary handshake on the accepted socket, even when room_ready arrived before the connection started', async () => {
    const { service, platform } = await socketPair();
    const dial = acceptedSocketDialer(service, { pingIntervalMs: 0 });
    // Both messages (a header frame and a data frame each) reach the socket before the connection exists.
    let frames = 0;
    const arrived = new Promise<void>((resolve) => service.on('message', () => ++frames === 4 && resolve()));
    send(platform, 1, 'room_ready', { room_name: 'r', room_url: 'ws://platform/rooms/r', session_id: 's1' });
    send(platform, 2, 'connected', { type: 'init', participantId: 'p1', attributes: {} });
    await arrived;

    const connection = new RoomConnection({ url: 'ws://platform/rooms/r', token: 'payload-token', dial, reconnect: false });
    await connection.start();
    expect({ state: connection.state, room: connection.roomName, session: connection.sessionId, participant: connection.participantId }).toEqual({
      state: 'ready',
      room: 'r',
      session: 's1',
      participant: 'p1',
    });

    platform.close(1011, 'platform restart');
    expect(await connection.closed).toMatchObject({ code: 1011 });
    expect(connection.state).toBe('closed');
  });

  it('refuses a second dial as final: a handoff socket is used once', async () => {
    const { service } = await socketPair();
    const dial = acceptedSocketDialer(service, { pingIntervalMs: 0 });
    const signal = new AbortController().signal;
    await dial({ url: 'ws://platform/rooms/r', token: 't', signal });
    await expect(dial({ url: 'ws://platform/rooms/r', token: 't', signal })).rejects.toMatchObject({
      code: 'RR_ROOM_HANDOFF_SOCKET_USED',
      data: { retryable: false },
    });
  });
});
