/**
 * Counts the calls a store receives and the time they take (waiting included), by method, without changing
 * the store: its methods are wrapped on the instance. For RESULTS.md: "what the store was asked to do".
 */

export interface MethodStats {
  calls: number;
  totalMs: number;
  maxMs: number;
  /** Sum of array lengths returned (rows read), where the method returns an array. */
  rows: number;
}

export function instrumentStore<T extends object>(store: T): { store: T; stats: () => Record<string, MethodStats> } {
  const stats: Record<string, MethodStats> = {};
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(store) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name !== 'constructor') names.add(name);
  }
  for (const name of names) {
    const original = (store as Record<string, unknown>)[name];
    if (typeof original !== 'function' || name === 'close') continue;
    (store as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
      const t = performance.now();
      stats[name] ??= { calls: 0, totalMs: 0, maxMs: 0, rows: 0 };
      const s = stats[name];
      s.calls += 1;
      const result = (original as (...a: unknown[]) => unknown).apply(store, args);
      if (result instanceof Promise) {
        return result.then((value: unknown) => {
          const ms = performance.now() - t;
          s.totalMs += ms;
          s.maxMs = Math.max(s.maxMs, ms);
          if (Array.isArray(value)) s.rows += value.length;
          return value;
        });
      }
      return result;
    };
  }
  return { store, stats: () => stats };
}

/** One line per method, busiest first. */
export function statsText(stats: Record<string, MethodStats>): string {
  return Object.entries(stats)
    .sort((a, b) => b[1].totalMs - a[1].totalMs)
    .map(
      ([name, s]) => `\`${name}\` ×${s.calls}${s.rows > 0 ? ` (${s.rows} rows)` : ''}, ${(s.totalMs / 1000).toFixed(1)} s in all, max ${s.maxMs.toFixed(0)} ms`,
    )
    .join('; ');
}
