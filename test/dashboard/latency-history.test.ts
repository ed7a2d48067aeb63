import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LatencyHistory } from '../../src/dashboard/latency-history.js';

function histogram(): Histogram<string> {
  return new Histogram({ name: 'test_seconds', help: 'test', buckets: [0.005, 0.01, 0.05, 0.1, 1], labelNames: ['event'], registers: [new Registry()] });
}

describe('LatencyHistory', () => {
  it('turns cumulative histogram readings into per-interval count, mean and a p95 bound', async () => {
    const h = histogram();
    let now = 0;
    const history = new LatencyHistory({ histograms: { ack: h }, now: () => now, points: 3 });
    h.observe({ event: 'a' }, 0.5); // before the first reading: not charted
    await history.sample();
    for (let i = 0; i < 19; i++) h.observe({ event: 'a' }, 0.004);
    h.observe({ event: 'b' }, 0.08);
    now = 5_000;
    await history.sample();
    expect(history.snapshot()['ack']).toEqual([{ at: 5_000, count: 20, meanMs: 7.8, p95Ms: 5 }]);
    now = 10_000;
    await history.sample();
    expect(history.snapshot()['ack']?.[1]).toEqual({ at: 10_000, count: 0, meanMs: null, p95Ms: null });
  });

  it('keeps only the newest points', async () => {
    const h = histogram();
    const history = new LatencyHistory({ histograms: { ack: h }, points: 2 });
    for (let i = 0; i < 5; i++) {
      h.observe(0.02);
      await history.sample();
    }
    expect(history.snapshot()['ack']).toHaveLength(2);
  });
});
