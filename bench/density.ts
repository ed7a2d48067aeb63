/**
 * Density: 10,000 rooms attached in one process. Memory per room = (RSS after − RSS before) / rooms,
 * against a bare `ws` client connection measured the same way in the same run; and the event-loop delay p99
 * (perf_hooks.monitorEventLoopDelay) while everything idles and pings every second. The emulator (and, for
 * the baseline, a bare websocket server) runs in a separate process so its memory is not counted; each side
 * gets a fresh process started with --expose-gc, measured after three forced collections.
 */
import { join } from 'node:path';
import { BENCH_DIR, PROFILE_DIR, startChild, type Child } from './lib/child.js';
import type { MemorySample } from './lib/density-process.js';
import { clearProfiles, newestProfile, profileMarkdown, summarizeProfile } from './lib/profile.js';
import type { BenchOptions, BenchResult, Figure } from './lib/types.js';

const SECRET = 'bench-density-room-secret';
/** The child's file limit is the hard limit here (20,000): 10,000 sockets fit with room to spare. */
const COUNT = Number(process.env['BENCH_DENSITY_ROOMS'] ?? 10_000);
const BATCH = 500;
const PING_INTERVAL_MS = 1_000;
const IDLE_S = 10;
const MEMORY_RATIO_TARGET = 2;
const DELAY_P99_TARGET_MS = 20;

interface Side {
  readonly before: MemorySample;
  readonly after: MemorySample;
  readonly delay: { p50: number; p99: number; max: number; open: number };
  readonly detail: string;
}

const perItemKiB = (side: Side, key: keyof MemorySample): number => (side.after[key] - side.before[key]) / COUNT / 1024;

async function measureSide(name: string, connect: (child: Child) => Promise<string>, options: BenchOptions): Promise<Side> {
  if (options.profile) clearProfiles(join(PROFILE_DIR, name));
  const child = await startChild('density-process.ts', { name, nodeArgs: ['--expose-gc', '--max-old-space-size=4096'], profile: options.profile });
  try {
    const before = await child.call<MemorySample>('measure');
    const detail = await connect(child);
    const after = await child.call<MemorySample>('measure');
    const delay = await child.call<Side['delay']>('idle', { seconds: IDLE_S }, (IDLE_S + 30) * 1000);
    return { before, after, delay, detail };
  } finally {
    await child.close(20_000);
  }
}

export async function runDensity(options: BenchOptions): Promise<BenchResult> {
  const started = Date.now();
  const emulator = await startChild('emulator-process.ts', { name: 'density-emulator', nodeArgs: ['--max-old-space-size=4096'] });
  try {
    // No server-side pings: both sides ping from the client every PING_INTERVAL_MS, nothing else.
    const { url, wsUrl } = await emulator.call<{ url: string; wsUrl: string }>('start', { secret: SECRET, pingIntervalMs: 0, eventCapacity: 1_000 });
    const { url: bareUrl } = await emulator.call<{ url: string }>('startBareServer');

    const bare = await measureSide(
      'density-bare',
      async (child) => {
        const r = await child.call<{ open: number; failed: number }>(
          'bare',
          { url: bareUrl, count: COUNT, batch: BATCH, pingIntervalMs: PING_INTERVAL_MS },
          300_000,
        );
        return `${r.open} open, ${r.failed} failed`;
      },
      options,
    );
    options.log(`  bare: ${bare.detail}; ${perItemKiB(bare, 'rss').toFixed(1)} KiB RSS per connection; delay p99 ${bare.delay.p99.toFixed(1)} ms`);
    const rooms = await measureSide(
      'density-rooms',
      async (child) => {
        const r = await child.call<{ states: Record<string, number>; attachMs: number }>(
          'rooms',
          { apiUrl: url, wsUrl, secret: SECRET, count: COUNT, batch: BATCH, pingIntervalMs: PING_INTERVAL_MS },
          600_000,
        );
        return `states ${JSON.stringify(r.states)}, attached in ${(r.attachMs / 1000).toFixed(1)} s`;
      },
      options,
    );
    options.log(`  rooms: ${rooms.detail}; ${perItemKiB(rooms, 'rss').toFixed(1)} KiB RSS per room; delay p99 ${rooms.delay.p99.toFixed(1)} ms`);

    const figures: Figure[] = [
      {
        name: `memory per room, ${COUNT} rooms (RSS delta / rooms)`,
        value: perItemKiB(rooms, 'rss'),
        unit: 'KiB',
        baseline: perItemKiB(bare, 'rss'),
        baselineLabel: 'bare ws client connection',
        target: { kind: 'ratio-max', max: MEMORY_RATIO_TARGET },
        note: `JS heap used ${perItemKiB(rooms, 'heapUsed').toFixed(1)} KiB/room vs ${perItemKiB(bare, 'heapUsed').toFixed(1)} KiB/connection, heap committed ${perItemKiB(rooms, 'heapTotal').toFixed(1)} vs ${perItemKiB(bare, 'heapTotal').toFixed(1)} KiB; external ${perItemKiB(rooms, 'external').toFixed(1)} vs ${perItemKiB(bare, 'external').toFixed(1)} KiB; RSS ${(rooms.before.rss / 2 ** 20).toFixed(0)} → ${(rooms.after.rss / 2 ** 20).toFixed(0)} MiB (bare ${(bare.before.rss / 2 ** 20).toFixed(0)} → ${(bare.after.rss / 2 ** 20).toFixed(0)} MiB); ${rooms.detail}`,
      },
      {
        name: `event-loop delay p99, ${COUNT} rooms idle-pinging`,
        value: rooms.delay.p99,
        unit: 'ms',
        baseline: bare.delay.p99,
        baselineLabel: 'bare ws client connections',
        target: { kind: 'below', max: DELAY_P99_TARGET_MS },
        note: `${IDLE_S} s idle, pings every ${PING_INTERVAL_MS} ms; p50 ${rooms.delay.p50.toFixed(1)} ms, max ${rooms.delay.max.toFixed(1)} ms (bare p50 ${bare.delay.p50.toFixed(1)}, max ${bare.delay.max.toFixed(1)}); ${rooms.delay.open} rooms attached at the end (bare: ${bare.delay.open} open)`,
      },
    ];
    const notes = [
      `${COUNT} rooms attached by a RemoteTaskRunnerServer (MemoryStore, the Adder, logs at \`info\` discarded) through \`attachments.attach\`, ${BATCH} at a time, ` +
        `to the emulator in another process (server-side pings off). Baseline: ${COUNT} bare \`ws\` client connections to a do-nothing websocket server in that ` +
        `same other process, each pinging every ${PING_INTERVAL_MS} ms like RoomConnection's heartbeat. Each side runs in a fresh process (--expose-gc, ` +
        `--max-old-space-size=4096); memory is sampled after three forced GCs before connecting and after. The event-loop delay histogram has a 1 ms ` +
        `resolution, which its values include. The open-file limit here is 20,000 (hard), enough for ${COUNT} sockets per process.`,
    ];
    if (options.profile) {
      const file = newestProfile(join(PROFILE_DIR, 'density-rooms'));
      if (file)
        notes.push(profileMarkdown('CPU profile of the rooms process (attach + idle)', summarizeProfile(file, join(BENCH_DIR, '..')), join(BENCH_DIR, '..')));
    }
    return { id: 'density', title: 'Density', date: new Date(started).toISOString(), durationMs: Date.now() - started, status: 'ran', figures, notes };
  } finally {
    await emulator.close(30_000);
  }
}
