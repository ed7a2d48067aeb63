/**
 * Group commit without a timer: the first call finds nothing in flight and is written at once, alone; calls that
 * arrive while a write is in flight wait for it, then go together as the next batch (at most `maxBatch` at a
 * time). An idle server adds no latency; a busy one pays one round trip (one commit) per batch instead of per call.
 *
 * `flush` gets the items of one batch in arrival order and answers each one (same order). When it throws, every
 * call of that batch gets the error.
 */
import { wholeNumber } from '../util/options.js';

export type Settled<R> = { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: unknown };

interface Entry<T, R> {
  readonly item: T;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  readonly #flush: (items: readonly T[]) => Promise<Array<Settled<R>>>;
  readonly #maxBatch: number;
  #queue: Array<Entry<T, R>> = [];
  #running: Promise<void> | undefined;

  constructor(flush: (items: readonly T[]) => Promise<Array<Settled<R>>>, options: { readonly maxBatch: number }) {
    this.#flush = flush;
    this.#maxBatch = wholeNumber('maxBatch', options.maxBatch, 1, 'RR_STORE_OPTION_INVALID');
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      // Nothing in flight: start now (synchronously up to the first await), with just this call.
      this.#running ??= this.#drain();
    });
  }

  /** Resolves when nothing is queued or in flight (for close()). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        let settled: Array<Settled<R>>;
        try {
          settled = await this.#flush(batch.map((entry) => entry.item));
        } catch (error) {
          for (const entry of batch) entry.reject(error);
          continue;
        }
        batch.forEach((entry, i) => {
          const outcome = settled[i];
          if (outcome === undefined) entry.reject(new Error('group commit: the batch gave no answer for this call'));
          else if (outcome.ok) entry.resolve(outcome.value);
          else entry.reject(outcome.error);
        });
      }
    } finally {
      this.#running = undefined;
    }
  }
}
