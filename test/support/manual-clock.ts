/**
 * A {@link Clock} the test drives (docs/architecture.md §Style 2): time stands still until `advance`, which fires
 * the timers that fall due, in deadline order, with `now()` reading each one's deadline as it fires. Between
 * timers it lets promise chains and `setImmediate` callbacks (the memory store's notifications) run, so what a
 * timer starts has settled before the next one fires. Nothing here reads the real time.
 */
import type { Clock } from '../../src/util/clock.js';

interface Pending {
  readonly at: number;
  readonly order: number;
  readonly callback: () => void;
}

export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  readonly #pending = new Map<number, Pending>();

  constructor(start = Date.UTC(2026, 11, 2, 12)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.#order;
    this.#pending.set(id, { at: this.#now + Math.max(0, ms), order: id, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  /** Timers armed and not yet fired. */
  get pending(): number {
    return this.#pending.size;
  }

  /** How far ahead each armed timer fires, soonest first. */
  get dueIn(): number[] {
    return [...this.#pending.values()].map((timer) => timer.at - this.#now).sort((a, b) => a - b);
  }

  /** Moves time `ms` ahead, firing every timer due on the way (and those they arm within it). */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      await settle();
      const due = this.#next(until);
      if (due === undefined) break;
      this.#pending.delete(due[0]);
      this.#now = due[1].at;
      due[1].callback();
    }
    this.#now = until;
    await settle();
  }

  #next(until: number): [number, Pending] | undefined {
    let next: [number, Pending] | undefined;
    for (const entry of this.#pending) {
      const [, timer] = entry;
      if (timer.at > until) continue;
      if (next === undefined || timer.at < next[1].at || (timer.at === next[1].at && timer.order < next[1].order)) next = entry;
    }
    return next;
  }
}

/** Lets pending promise callbacks and `setImmediate` callbacks run (a few rounds: chains of them). */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
