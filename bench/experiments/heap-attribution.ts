/**
 * Experiment behind bench/findings.md: where a room's heap goes. Attaches N rooms (RemoteTaskRunnerServer,
 * MemoryStore, the Adder) to the emulator in another process, writes heap snapshots before and after, and
 * reports (1) the heap delta per room by object type and (2) what the instances of each main class retain
 * exclusively (everything unreachable from the GC roots once that class's instances are taken away).
 * `node --expose-gc --import tsx bench/experiments/heap-attribution.ts [rooms]`
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { startChild } from '../lib/child.js';

const N = Number(process.argv[2] ?? 1_000);
const CLASSES = ['Session', 'WebSocket', 'RoomConnection', 'AgentHost', 'Pino', 'Emitter', 'Receiver', 'Socket', 'RoomClient', 'FrameReader', 'Timeout'];
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

interface Graph {
  readonly count: number;
  type(i: number): string;
  name(i: number): string;
  self(i: number): number;
  reach(skip: (i: number) => boolean): Uint8Array;
}

function load(file: string): Graph {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; edge_fields: string[]; node_types: [string[]]; edge_types: [string[]] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const { meta } = snap.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const count = snap.nodes.length / nf;
  const first = new Int32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    first[i] = e;
    e += (snap.nodes[i * nf + 4] as number) * ef;
    first[i + 1] = e;
  }
  const skipEdge = new Set([meta.edge_types[0].indexOf('weak'), meta.edge_types[0].indexOf('shortcut')]);
  return {
    count,
    type: (i) => meta.node_types[0][snap.nodes[i * nf] as number] as string,
    name: (i) => snap.strings[snap.nodes[i * nf + 1] as number] as string,
    self: (i) => snap.nodes[i * nf + 3] as number,
    reach(skip) {
      const seen = new Uint8Array(count);
      const stack = [0];
      seen[0] = 1;
      while (stack.length > 0) {
        const n = stack.pop() as number;
        for (let e = first[n] as number; e < (first[n + 1] as number); e += ef) {
          if (skipEdge.has(snap.edges[e] as number)) continue;
          const to = (snap.edges[e + 2] as number) / nf;
          if (seen[to] || skip(to)) continue;
          seen[to] = 1;
          stack.push(to);
        }
      }
      return seen;
    },
  };
}

function byType(g: Graph): Map<string, number> {
  const live = g.reach(() => false);
  const m = new Map<string, number>();
  for (let i = 0; i < g.count; i++) {
    if (!live[i]) continue;
    const type = g.type(i);
    const key = type.includes('string')
      ? 'strings'
      : type === 'object' || type === 'closure'
        ? `${type} ${g.name(i) || '(anonymous)'}`
        : `${type} ${g.name(i)}`;
    m.set(key, (m.get(key) ?? 0) + g.self(i));
  }
  return m;
}

const dir = mkdtempSync(join(tmpdir(), 'rr-heap-'));
const emulator = await startChild('emulator-process.ts', { name: 'heap-emulator' });
try {
  const { url, wsUrl } = await emulator.call<{ url: string; wsUrl: string }>('start', { secret: 'heap', pingIntervalMs: 0, eventCapacity: 1_000 });
  const config = loadConfig(
    { secret: 'heap', apiUrl: url, webhookSecrets: ['unused'], logLevel: 'info', logPretty: false, maxRooms: N + 100, reconcileIntervalMs: 0 },
    {},
  );
  // Logs at info are written (to a discarded stdout when run from the bench); here they would flood the terminal.
  const server = new RemoteTaskRunnerServer({
    agents: [adder],
    config: { ...config, logLevel: 'warn' },
    store: new MemoryStore(),
    maxRooms: N + 100,
    defaultMetrics: false,
    connection: { pingIntervalMs: 1_000 },
  });
  const attach = async (prefix: string, n: number): Promise<void> => {
    const rooms = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    for (const room of rooms) server.attachments.attach({ room, url: `${wsUrl}/rooms/${room}`, trigger: 'manual' });
    await Promise.all(rooms.map((room) => server.attachments.settled(room)));
  };
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  await attach('warm', 50);
  await settle();
  const before = writeHeapSnapshot(join(dir, 'before.heapsnapshot'));
  await attach('room', N);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await settle();
  const after = writeHeapSnapshot(join(dir, 'after.heapsnapshot'));

  const a = byType(load(before));
  const g = load(after);
  const b = byType(g);
  const delta = [...b.entries()].map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const).sort((x, y) => y[1] - x[1]);
  const total = delta.reduce((s, [, v]) => s + v, 0);
  console.log(`heap delta: ${(total / N / 1024).toFixed(1)} KiB per room; largest by type:`);
  for (const [k, v] of delta.slice(0, 15)) console.log(`  ${(v / N).toFixed(0).padStart(6)} B/room  ${k}`);
  const live = g.reach(() => false);
  console.log('retained exclusively by the instances of each class (all rooms, per room):');
  for (const cls of CLASSES) {
    const isCls = (i: number): boolean => g.type(i) === 'object' && g.name(i) === cls;
    const without = g.reach(isCls);
    let lost = 0;
    let instances = 0;
    for (let i = 0; i < g.count; i++) {
      if (!live[i]) continue;
      if (isCls(i)) instances += 1;
      if (!without[i]) lost += g.self(i);
    }
    console.log(`  ${cls.padEnd(15)} ${String(instances).padStart(6)} instances  ${(lost / (N + 50) / 1024).toFixed(1).padStart(5)} KiB per room`);
  }
  await server.close();
} finally {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
