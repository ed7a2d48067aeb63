/**
 * Experiment behind bench/findings.md: memory per room with the same code run under tsx (as `roomrunner` runs
 * today) and prebuilt by esbuild without keepNames. `node --import tsx bench/experiments/density-prebuilt.ts [rooms]`
 */
import { startChild } from '../lib/child.js';
import type { MemorySample } from '../lib/density-process.js';
import { prebuild } from './build.js';

const COUNT = Number(process.argv[2] ?? 5_000);
const SECRET = 'exp-density';

const emulator = await startChild('emulator-process.ts', { name: 'exp-density-emulator' });
const { url, wsUrl } = await emulator.call<{ url: string; wsUrl: string }>('start', { secret: SECRET, pingIntervalMs: 0, eventCapacity: 1_000 });
const built = await prebuild('density-process.ts');
for (const [label, entry] of [
  ['tsx (keepNames)', undefined],
  ['prebuilt (esbuild, no keepNames)', built],
] as const) {
  const child = await startChild('density-process.ts', {
    name: 'exp-density',
    nodeArgs: ['--expose-gc', '--max-old-space-size=4096'],
    ...(entry ? { entry } : {}),
  });
  const before = await child.call<MemorySample>('measure');
  await child.call('rooms', { apiUrl: url, wsUrl: `${wsUrl}`, secret: SECRET, count: COUNT, batch: 500, pingIntervalMs: 1_000 }, 600_000);
  const after = await child.call<MemorySample>('measure');
  const kib = (k: keyof MemorySample): string => ((after[k] - before[k]) / COUNT / 1024).toFixed(1);
  console.log(`${label.padEnd(34)} ${COUNT} rooms: RSS ${kib('rss')} KiB/room, heap ${kib('heapUsed')} KiB/room`);
  await child.close(20_000);
  // Fresh room names for the next run: the emulator keeps the rooms.
  await emulator.call('stats');
}
await emulator.close();
process.exit(0);
