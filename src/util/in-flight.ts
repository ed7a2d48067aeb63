/**
 * Work running now, so that `drain()`, `close()` and tests can wait until none is: the webhook hooks of a
 * server, the emulator's deliveries and handoffs. The one implementation of "a set of promises and a loop that
 * waits for it to empty".
 */

/** Tracks promises until they settle, optionally under a key (e.g. the delivery a hook runs for). */
export class InFlight {
  readonly #pending = new Set<Promise<void>>();
  readonly #keys = new Map<string, number>();

  /**
   * Tracks `work` until it settles, under `key` if given, and returns `work` itself. A rejection is the
   * caller's to report: the tracker only waits for it, and never turns it into an unhandled rejection.
   */
  track<T>(work: Promise<T>, key?: string): Promise<T> {
    if (key !== undefined) this.#keys.set(key, (this.#keys.get(key) ?? 0) + 1);
    const settled: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.add(settled);
    void settled.then(() => {
      this.#pending.delete(settled);
      if (key === undefined) return;
      const left = (this.#keys.get(key) ?? 1) - 1;
      if (left > 0) this.#keys.set(key, left);
      else this.#keys.delete(key);
    });
    return work;
  }

  /** How many tracked promises have not settled. */
  get size(): number {
    return this.#pending.size;
  }

  /** The keys of work running now (once each, however many runs share a key). */
  keys(): string[] {
    return [...this.#keys.keys()];
  }

  /** Resolves when nothing tracked is running, including work tracked while it waits. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
