/**
 * Child process for bench/density.ts, started with --expose-gc: holds either N bare `ws` client connections
 * (the baseline) or N rooms attached by a RemoteTaskRunnerServer (the Adder in each), measures resident memory
 * before and after, then the event-loop delay while everything idles and pings.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { serve } from './child-rpc.js';

const gc = (globalThis as { gc?: () => void }).gc;

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  /** V8 heap reserved (committed) — part of RSS even where not in use. */
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

async function settle(): Promise<MemorySample> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

const sockets: WebSocket[] = [];
let server: RemoteTaskRunnerServer | undefined;

/** A bare client: open, and ping every interval like RoomConnection's heartbeat (terminate on a missed pong). */
function bareConnection(url: string, pingIntervalMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('error', () => undefined);
    ws.once('open', () => {
      sockets.push(ws);
      let alive = true;
      ws.on('pong', () => (alive = true));
      const tick = (): void => {
        if (ws.readyState !== ws.OPEN) return;
        if (!alive) return void ws.terminate();
        alive = false;
        ws.ping();
        timer = setTimeout(tick, pingIntervalMs);
      };
      let timer = setTimeout(tick, pingIntervalMs);
      ws.once('close', () => clearTimeout(timer));
      resolve();
    });
    ws.once('close', () => reject(new Error('closed before open')));
  });
}

const handlers = {
  measure: () => settle(),

  async bare(args: { url: string; count: number; batch: number; pingIntervalMs: number }) {
    let failed = 0;
    for (let i = 0; i < args.count; i += args.batch) {
      const n = Math.min(args.batch, args.count - i);
      const results = await Promise.allSettled(Array.from({ length: n }, () => bareConnection(args.url, args.pingIntervalMs)));
      failed += results.filter((r) => r.status === 'rejected').length;
    }
    return { open: sockets.filter((s) => s.readyState === s.OPEN).length, failed };
  },

  async rooms(args: { apiUrl: string; wsUrl: string; secret: string; count: number; batch: number; pingIntervalMs: number }) {
    const config = loadConfig(
      {
        secret: args.secret,
        apiUrl: args.apiUrl,
        webhookSecrets: ['unused-here'],
        logLevel: 'info',
        logPretty: false,
        maxRooms: args.count,
        reconcileIntervalMs: 0,
      },
      {},
    );
    server = new RemoteTaskRunnerServer({
      agents: [adder],
      config,
      store: new MemoryStore(),
      maxRooms: args.count,
      defaultMetrics: false,
      connection: { pingIntervalMs: args.pingIntervalMs },
    });
    const t0 = Date.now();
    for (let i = 0; i < args.count; i += args.batch) {
      const rooms = Array.from({ length: Math.min(args.batch, args.count - i) }, (_, j) => `density-${i + j}`);
      for (const room of rooms) server.attachments.attach({ room, url: `${args.wsUrl}/rooms/${room}`, trigger: 'manual' });
      await Promise.all(rooms.map((room) => server?.attachments.settled(room)));
    }
    const states: Record<string, number> = {};
    for (const s of server.attachments.status()) states[s.state] = (states[s.state] ?? 0) + 1;
    return { states, attachMs: Date.now() - t0 };
  },

  /** Event-loop delay over `seconds` of idling (resolution 1 ms; values include that 1 ms). */
  async idle(args: { seconds: number }) {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    await new Promise((resolve) => setTimeout(resolve, args.seconds * 1000));
    h.disable();
    const ms = (ns: number): number => ns / 1e6;
    const states: Record<string, number> = {};
    for (const s of server?.attachments.status() ?? []) states[s.state] = (states[s.state] ?? 0) + 1;
    return {
      p50: ms(h.percentile(50)),
      p99: ms(h.percentile(99)),
      max: ms(h.max),
      open: server ? (states['attached'] ?? 0) : sockets.filter((s) => s.readyState === s.OPEN).length,
      states,
    };
  },
};

serve(handlers, async () => {
  for (const s of sockets) s.terminate();
  // Closing 10,000 rooms politely takes a while and measures nothing: bound it.
  await Promise.race([server?.close(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
});
