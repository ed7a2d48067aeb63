/**
 * Child process for bench/call-path.ts: the far end of both paths. It hosts the Adder in a room on the emulator
 * (joinRoom, as the orchestrator does) and, for the baseline, a websocket echo server that sends every message
 * back as it came.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { adder } from '../../agents/adder.js';
import { joinRoom, type JoinedRoom } from '../../src/agents/host.js';
import { silentLogger } from '../../src/logger.js';
import { mintParticipantToken } from '../../src/auth/token.js';
import { serve } from './child-rpc.js';

let joined: JoinedRoom | undefined;
let server: Server | undefined;
let echo: WebSocketServer | undefined;

const handlers = {
  cpu: () => process.cpuUsage(),

  async join(args: { url: string; room: string; secret: string }) {
    joined = await joinRoom({
      url: args.url,
      room: args.room,
      toolkits: [adder],
      token: () => mintParticipantToken({ name: 'roomrunner', room: args.room, role: 'agent', secret: args.secret }),
      logger: silentLogger(),
    });
    return { participantId: joined.connection.participantId ?? null };
  },

  async startEcho() {
    server = createServer();
    echo = new WebSocketServer({ server, perMessageDeflate: false });
    echo.on('connection', (socket) => {
      socket.on('message', (data: Buffer, binary) => socket.send(data, { binary }));
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
  },
};

serve(handlers, async () => {
  await joined?.leave({ reason: 'bench done' });
  for (const client of echo?.clients ?? []) client.terminate();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});
