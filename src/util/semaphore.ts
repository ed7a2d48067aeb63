/**
 * Counting semaphores, the one implementation of "at most N at once, the rest wait in line": agent calls per
 * agent and tool (`runCall`), room registrations (`RoomAttachments`), the emulator's deliveries per webhook.
 *
 * - **FIFO.** A free slot goes to the caller that has waited longest; a new caller never overtakes a waiting one.
 * - **Bounded queue.** With `maxQueue` callers already waiting, `acquire` resolves `undefined` at once: the
 *   caller is refused (busy) rather than queued.
 * - **Abortable.** A caller whose `signal` aborts leaves the line, and `acquire` rejects with `signal.reason`;
 *   an already aborted signal rejects before a slot is taken.
 * - **Release once.** The release function gives the slot back the first time it is called and does nothing
 *   after, so a `finally` and an error path may both call it.
 */
import { RoomrunnerError } from '../errors.js';

/** Gives a held slot back; only the first call counts. */
export type Release = () => void;

interface Waiter {
  readonly grant: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** One line of waiters and a count of held slots. Its limit may change between acquires (see KeyedSemaphore). */
class Slots {
  running = 0;
  readonly #waiting: Waiter[] = [];

  get waiting(): number {
    return this.#waiting.length;
  }

  /** A slot at once when one is free and nobody waits; undefined otherwise (nothing changes then). */
  tryAcquire(limit: number, onIdle: () => void): Release | undefined {
    if (this.running >= limit || this.#waiting.length > 0) return undefined;
    this.running += 1;
    return this.#release(limit, onIdle);
  }

  acquire(limit: number, maxQueue: number, signal: AbortSignal | undefined, onIdle: () => void): Promise<Release | undefined> {
    if (signal?.aborted) {
      if (this.running === 0 && this.#waiting.length === 0) onIdle();
      return Promise.reject(signal.reason);
    }
    if (this.running < limit && this.#waiting.length === 0) {
      this.running += 1;
      return Promise.resolve(this.#release(limit, onIdle));
    }
    if (this.#waiting.length >= maxQueue) return Promise.resolve(undefined);
    return new Promise<Release | undefined>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => resolve(this.#release(limit, onIdle)),
        reject,
        signal,
        onAbort: () => {
          const at = this.#waiting.indexOf(waiter);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(signal?.reason);
          if (this.running === 0 && this.#waiting.length === 0) onIdle();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #release(limit: number, onIdle: () => void): Release {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.running -= 1;
      this.#handOver(limit);
      if (this.running === 0 && this.#waiting.length === 0) onIdle();
    };
  }

  /** Free slots go to the longest waiters; one whose signal aborted meanwhile is turned away instead. */
  #handOver(limit: number): void {
    while (this.running < limit) {
      const next = this.#waiting.shift();
      if (next === undefined) return;
      next.signal?.removeEventListener('abort', next.onAbort);
      if (next.signal?.aborted) {
        next.reject(next.signal.reason);
        continue;
      }
      this.running += 1;
      next.grant();
    }
  }
}

/**
 * Checks the bounds once, with messages that name the value.
 * @throws RoomrunnerError `RR_OPTION_INVALID` for a limit that is not a positive integer, or a queue bound that is
 *   not an integer >= 0 or Infinity.
 */
function checkBounds(limit: number, maxQueue: number): void {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RoomrunnerError('RR_OPTION_INVALID', `a semaphore limit must be a positive integer, got ${String(limit)}`);
  if (!(maxQueue === Number.POSITIVE_INFINITY || (Number.isInteger(maxQueue) && maxQueue >= 0))) {
    throw new RoomrunnerError('RR_OPTION_INVALID', `a semaphore queue bound must be an integer >= 0 or Infinity, got ${String(maxQueue)}`);
  }
}

/** At most `limit` holders at once; up to `maxQueue` (default unbounded) more wait in FIFO order. */
export class Semaphore {
  readonly limit: number;
  readonly maxQueue: number;
  readonly #slots = new Slots();

  /** @throws RangeError for a bad limit or queue bound. */
  constructor(limit: number, maxQueue: number = Number.POSITIVE_INFINITY) {
    checkBounds(limit, maxQueue);
    this.limit = limit;
    this.maxQueue = maxQueue;
  }

  /** Slots held now. */
  get running(): number {
    return this.#slots.running;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#slots.waiting;
  }

  /**
   * Takes a slot: resolves with its release once one is free, or `undefined` at once when `maxQueue` callers
   * already wait (never with the default unbounded queue).
   * @throws (rejects with) `signal.reason` when `signal` aborts before a slot is free.
   */
  acquire(signal?: AbortSignal): Promise<Release | undefined> {
    return this.#slots.acquire(this.limit, this.maxQueue, signal, () => undefined);
  }
}

/**
 * One semaphore per key (e.g. per agent and tool), created on first use and dropped once nobody holds or
 * waits for it, so keys that come and go (rooms, webhooks) leave nothing behind. The limit and queue bound are
 * given on each acquire, so a key's bound may change while it is in use (an agent file reloaded with another
 * `concurrency`); each acquire and release applies the bound it was given.
 */
export class KeyedSemaphore<K = string> {
  readonly #keys = new Map<K, Slots>();

  /**
   * Takes a slot of `key`; see {@link Semaphore.acquire}.
   * @throws RangeError (synchronously) for a bad limit or queue bound.
   */
  acquire(key: K, limit: number, options: { readonly maxQueue?: number; readonly signal?: AbortSignal } = {}): Promise<Release | undefined> {
    const maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY;
    checkBounds(limit, maxQueue);
    let slots = this.#keys.get(key);
    if (slots === undefined) {
      slots = new Slots();
      this.#keys.set(key, slots);
    }
    const entry = slots;
    return entry.acquire(limit, maxQueue, options.signal, () => {
      if (this.#keys.get(key) === entry) this.#keys.delete(key);
    });
  }

  /**
   * Takes a slot of `key` at once when one is free and nobody waits for it, without a promise; `undefined`
   * otherwise (then {@link acquire} waits in line or refuses).
   * @throws RoomrunnerError `RR_OPTION_INVALID` (synchronously) for a bad limit.
   */
  tryAcquire(key: K, limit: number): Release | undefined {
    checkBounds(limit, Number.POSITIVE_INFINITY);
    let slots = this.#keys.get(key);
    if (slots === undefined) {
      slots = new Slots();
      this.#keys.set(key, slots);
    }
    const entry = slots;
    return entry.tryAcquire(limit, () => {
      if (this.#keys.get(key) === entry) this.#keys.delete(key);
    });
  }

  /** Slots of `key` held now. */
  running(key: K): number {
    return this.#keys.get(key)?.running ?? 0;
  }

  /** Callers waiting for a slot of `key`. */
  waiting(key: K): number {
    return this.#keys.get(key)?.waiting ?? 0;
  }

  /** Keys somebody holds or waits for. */
  get size(): number {
    return this.#keys.size;
  }
}
