/**
 * A single-consumer async queue: the producer pushes as messages arrive, the consumer pulls with `for await`.
 * Both directions of a streamed tool call use it (response chunks at the caller, request chunks at the host),
 * so a chunk that arrives before anyone reads is kept, and a failure reaches the reader after the chunks that
 * came before it (docs/protocol.md §E.5).
 */
import { RoomrunnerError } from '../errors.js';

type Waiter<T> = { resolve(result: IteratorResult<T, undefined>): void; reject(error: unknown): void };

export class ChunkQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #waiter: Waiter<T> | undefined;
  #ended = false;
  #error: { error: unknown } | undefined;
  #iterated = false;
  #onDone: (() => void) | undefined;

  /**
   * @param onDone called once when the queue ends: {@link end}, {@link fail}, or the reader stopping early
   *   (break, return), so the producer can forget it.
   */
  constructor(onDone?: () => void) {
    this.#onDone = onDone;
  }

  /** True once {@link end} or {@link fail} was called. */
  get ended(): boolean {
    return this.#ended;
  }

  #done(): void {
    const onDone = this.#onDone;
    this.#onDone = undefined;
    onDone?.();
  }

  push(item: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve({ done: false, value: item });
    } else {
      this.#items.push(item);
    }
  }

  /** No more items: the reader finishes after the ones already queued. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve({ done: true, value: undefined });
    this.#done();
  }

  /** End with an error: the reader gets the queued items, then `error` is thrown. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = { error };
    this.#ended = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
    this.#done();
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    if (this.#iterated) throw new RoomrunnerError('RR_ROOM_STREAM_READ_TWICE', 'a chunk stream can be read only once: keep what you need while reading it');
    this.#iterated = true;
    return {
      next: () => {
        if (this.#items.length > 0) return Promise.resolve({ done: false, value: this.#items.shift() as T });
        if (this.#error) return Promise.reject(this.#error.error);
        if (this.#ended) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve, reject) => {
          this.#waiter = { resolve, reject };
        });
      },
      return: () => {
        this.#items.length = 0;
        if (!this.#ended) {
          this.#ended = true;
          this.#done();
        }
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

/** True for anything `for await` can read: how a streamed argument is told from a single one. */
export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
