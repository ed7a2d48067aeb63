/**
 * Child process: the room-server emulator (the "platform"), kept out of the process under test so that its
 * CPU and memory are not counted there. It also hosts the baselines that need a far end: a websocket relay
 * (call path) and a bare websocket server (density). It keeps a compact per-room record of what it saw
 * (session started, toolkit registrations with their times) so the driver need not copy the whole event log.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startEmulator, type Emulator, type EmulatorEvent } from '../../src/emulator/index.js';
import type { SignatureScheme } from '../../src/webhooks/signatures/index.js';
import { serve } from './child-rpc.js';

export interface EmulatorStartArgs {
  readonly secret: string;
  /** When set, REST needs it in paths and reconciliation can list active rooms. */
  readonly projectId?: string;
  readonly idleGraceMs?: number;
  /** Server-side websocket pings; 0 disables. */
  readonly pingIntervalMs?: number;
  readonly eventCapacity?: number;
}

export interface RoomSeen {
  sessionStartedAt?: number;
  /** `at` of every `toolkit.registered` for the watched toolkit, in order. */
  registeredAt: number[];
  /** Distinct participants that registered it. */
  participants: string[];
  connected: number;
  disconnected: number;
  /** Participants with a live registration of the watched toolkit now. */
  live: string[];
  /** Times a registration was recorded while another participant's was still live (a double registration). */
  overlaps: number;
}

let emulator: Emulator | undefined;
let watched = 'samples.adder';
const rooms = new Map<string, RoomSeen>();
/** Participant id → name (the replica's identity), from `connected`. */
const names = new Map<string, string>();
const servers: Server[] = [];
const wss: WebSocketServer[] = [];
const upstreams = new Set<WebSocket>();

function seen(room: string): RoomSeen {
  let entry = rooms.get(room);
  if (!entry) {
    entry = { registeredAt: [], participants: [], connected: 0, disconnected: 0, live: [], overlaps: 0 };
    rooms.set(room, entry);
  }
  return entry;
}

function onEvent(event: EmulatorEvent): void {
  switch (event.kind) {
    case 'session.started':
      seen(event.room).sessionStartedAt ??= event.at;
      break;
    case 'toolkit.registered':
      if (event.toolkit === watched) {
        const entry = seen(event.room);
        entry.registeredAt.push(event.at);
        if (event.participantId !== undefined && !entry.participants.includes(event.participantId)) entry.participants.push(event.participantId);
        if (event.participantId !== undefined && !entry.live.includes(event.participantId)) {
          if (entry.live.length > 0) entry.overlaps += 1;
          entry.live.push(event.participantId);
        }
      }
      break;
    case 'toolkit.unregistered':
      if (event.toolkit === watched) {
        const entry = seen(event.room);
        entry.live = entry.live.filter((p) => p !== event.participantId);
      }
      break;
    case 'connected':
      seen(event.room).connected += 1;
      if (event.participantId !== undefined && event.participantName !== undefined) names.set(event.participantId, event.participantName);
      break;
    case 'disconnected': {
      const entry = seen(event.room);
      entry.disconnected += 1;
      entry.live = entry.live.filter((p) => p !== event.participantId);
      break;
    }
    default:
      break;
  }
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1', 1024);
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

const handlers = {
  async start(args: EmulatorStartArgs & { watch?: string }) {
    if (args.watch !== undefined) watched = args.watch;
    emulator = await startEmulator({
      port: 0,
      secret: args.secret,
      ...(args.projectId === undefined ? {} : { projectId: args.projectId }),
      idleGraceMs: args.idleGraceMs ?? 3_600_000,
      roomServer: { pingIntervalMs: args.pingIntervalMs ?? 30_000, eventCapacity: args.eventCapacity ?? 10_000 },
      webhookDelivery: { pingOnCreate: false },
    });
    emulator.roomServer.on('event', onEvent);
    return { url: emulator.url, wsUrl: emulator.wsUrl, port: emulator.port };
  },

  /** Starts a session in each room, `spreadMs` apart in total; returns when all are started. */
  async startSessions(args: { names: string[]; spreadMs?: number }) {
    const e = required();
    const spread = args.spreadMs ?? 0;
    const t0 = Date.now();
    for (let i = 0; i < args.names.length; i++) {
      const due = t0 + (spread * i) / args.names.length;
      const wait = due - Date.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      e.roomServer.startSession(args.names[i] as string);
    }
    return { startedAt: t0, endedAt: Date.now() };
  },

  /** A webhook subscription on the emulator's own sender (deliveries go one at a time per subscription). */
  subscribe(args: { url: string; secret: string; scheme?: SignatureScheme; events?: string[] }) {
    return required().webhooks.create({ url: args.url, secret: args.secret, scheme: args.scheme ?? 'meshagent', events: args.events ?? ['room.started'] }).id;
  },

  /** The delivery log: first attempt time and final time per room. */
  deliveries() {
    return required()
      .webhooks.deliveries()
      .map((d) => ({
        room: (JSON.parse(d.body) as { data?: { room_name?: string } }).data?.room_name ?? null,
        status: d.status,
        createdAt: d.createdAt,
        deliveredAt: d.deliveredAt,
        attempts: d.attempts.length,
      }));
  },

  /** What was seen for rooms whose names start with `prefix`. */
  seen(args: { prefix: string }) {
    const out: Record<string, RoomSeen> = {};
    for (const [room, entry] of rooms) if (room.startsWith(args.prefix)) out[room] = entry;
    return out;
  },

  /** Participant names by id, for the given ids. */
  names(args: { ids: string[] }) {
    return Object.fromEntries(args.ids.map((id) => [id, names.get(id) ?? null]));
  },

  /** How many rooms (with the prefix) have the watched toolkit registered at least once. */
  registeredCount(args: { prefix: string }) {
    let n = 0;
    for (const [room, entry] of rooms) if (room.startsWith(args.prefix) && entry.registeredAt.length > 0) n += 1;
    return n;
  },

  /**
   * A relay for the call-path baseline: each client connection opens one upstream connection to `target` and
   * every message is passed on as it came, both ways (client → relay → echo → relay → client).
   */
  async startRelay(args: { target: string }) {
    const server = createServer();
    const relay = new WebSocketServer({ server, perMessageDeflate: false });
    wss.push(relay);
    relay.on('connection', (client) => {
      const upstream = new WebSocket(args.target, { perMessageDeflate: false });
      upstreams.add(upstream);
      const queued: Array<{ data: Buffer; binary: boolean }> = [];
      client.on('message', (data: Buffer, binary) => {
        if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary });
        else queued.push({ data, binary });
      });
      upstream.on('open', () => {
        for (const m of queued.splice(0)) upstream.send(m.data, { binary: m.binary });
      });
      upstream.on('message', (data: Buffer, binary) => client.send(data, { binary }));
      const end = (): void => {
        client.close();
        upstream.close();
        upstreams.delete(upstream);
      };
      client.on('close', end);
      upstream.on('close', end);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    const port = await listen(server);
    return { url: `ws://127.0.0.1:${port}` };
  },

  /** A websocket server that accepts connections and does nothing else (ws answers pings by itself). */
  async startBareServer() {
    const server = createServer();
    const bare = new WebSocketServer({ server, perMessageDeflate: false });
    wss.push(bare);
    bare.on('connection', (socket) => socket.on('error', () => undefined));
    const port = await listen(server);
    return { url: `ws://127.0.0.1:${port}` };
  },

  cpu: () => process.cpuUsage(),

  stats() {
    return { memory: process.memoryUsage(), cpu: process.cpuUsage(), rooms: emulator?.roomServer.listRooms().length ?? 0 };
  },
};

function required(): Emulator {
  if (!emulator) throw new Error('emulator not started');
  return emulator;
}

serve(handlers, async () => {
  for (const socket of upstreams) socket.terminate();
  for (const s of wss) for (const client of s.clients) client.terminate();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  // Ending thousands of sessions sends nothing (no subscriptions left) but closes every socket: bound it.
  await Promise.race([emulator?.close(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
});
