/**
 * Recent latency for the dashboard's charts, from the same prom-client histograms `/metrics` exposes: every
 * interval it reads a histogram's cumulative buckets and keeps the difference from the last reading, so each
 * point says how many observations fell in that interval, their mean, and an upper bound on their 95th
 * percentile (the smallest bucket bound holding 95 % of them, as Prometheus' histogram_quantile would bound it).
 */
import type { Histogram } from 'prom-client';

/** One reading every 5 s … */
export const DEFAULT_LATENCY_INTERVAL_MS = 5_000;
/** … and the last 10 minutes kept. */
export const DEFAULT_LATENCY_POINTS = 120;

export interface LatencyPoint {
  /** End of the interval (epoch ms). */
  readonly at: number;
  readonly count: number;
  /** Mean in ms, null when nothing was observed. */
  readonly meanMs: number | null;
  /** Upper bound on the 95th percentile in ms (a bucket bound), null when nothing was observed. */
  readonly p95Ms: number | null;
}

interface Reading {
  readonly count: number;
  readonly sum: number;
  /** Cumulative counts per upper bound (seconds), sorted by bound. */
  readonly buckets: ReadonlyArray<readonly [number, number]>;
}

export interface LatencyHistoryOptions {
  readonly histograms: Readonly<Record<string, Histogram<string>>>;
  readonly intervalMs?: number;
  readonly points?: number;
  readonly now?: () => number;
}

export class LatencyHistory {
  readonly #histograms: Readonly<Record<string, Histogram<string>>>;
  readonly #intervalMs: number;
  readonly #points: number;
  readonly #now: () => number;
  readonly #last = new Map<string, Reading>();
  readonly #series = new Map<string, LatencyPoint[]>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LatencyHistoryOptions) {
    this.#histograms = options.histograms;
    this.#intervalMs = options.intervalMs ?? DEFAULT_LATENCY_INTERVAL_MS;
    this.#points = options.points ?? DEFAULT_LATENCY_POINTS;
    this.#now = options.now ?? Date.now;
    for (const name of Object.keys(this.#histograms)) this.#series.set(name, []);
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Starts sampling (the timer does not keep the process alive). Idempotent. */
  start(): void {
    if (this.#timer !== undefined) return;
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one reading of every histogram (the timer calls it; tests call it directly). */
  async sample(): Promise<void> {
    const at = this.#now();
    for (const [name, histogram] of Object.entries(this.#histograms)) {
      const reading = await read(histogram);
      const previous = this.#last.get(name);
      this.#last.set(name, reading);
      if (previous === undefined) continue;
      const series = this.#series.get(name) ?? [];
      series.push(delta(at, previous, reading));
      if (series.length > this.#points) series.splice(0, series.length - this.#points);
      this.#series.set(name, series);
    }
  }

  /** The series, oldest point first. */
  snapshot(): Record<string, LatencyPoint[]> {
    return Object.fromEntries([...this.#series].map(([name, points]) => [name, [...points]]));
  }
}

async function read(histogram: Histogram<string>): Promise<Reading> {
  const { values } = await histogram.get();
  let count = 0;
  let sum = 0;
  const buckets = new Map<number, number>();
  // Several label sets (e.g. per event): add them up.
  for (const value of values) {
    if (value.metricName?.endsWith('_count')) count += value.value;
    else if (value.metricName?.endsWith('_sum')) sum += value.value;
    else if (value.metricName?.endsWith('_bucket')) {
      const le = value.labels['le'];
      const bound = le === '+Inf' || le === undefined ? Number.POSITIVE_INFINITY : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + value.value);
    }
  }
  return { count, sum, buckets: [...buckets].sort((a, b) => a[0] - b[0]) };
}

function delta(at: number, before: Reading, after: Reading): LatencyPoint {
  const count = after.count - before.count;
  if (count <= 0) return { at, count: 0, meanMs: null, p95Ms: null };
  const earlier = new Map(before.buckets);
  const wanted = Math.ceil(count * 0.95);
  let p95: number | null = null;
  for (const [bound, cumulative] of after.buckets) {
    if (cumulative - (earlier.get(bound) ?? 0) >= wanted) {
      p95 = bound;
      break;
    }
  }
  return {
    at,
    count,
    meanMs: round(((after.sum - before.sum) / count) * 1000),
    p95Ms: p95 === null || !Number.isFinite(p95) ? null : round(p95 * 1000),
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
