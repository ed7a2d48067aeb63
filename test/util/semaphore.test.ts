import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedSemaphore, Semaphore, type Release } from '../../src/util/semaphore.js';

/** Lets every settled promise run its callbacks (the semaphore resolves waiters through promises). */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** Records how a pending acquire ended: a release, a refusal, or the rejection reason. */
function watch(acquired: Promise<Release | undefined>): { state: 'pending' | 'held' | 'refused' | 'rejected'; release?: Release; reason?: unknown } {
  const outcome: { state: 'pending' | 'held' | 'refused' | 'rejected'; release?: Release; reason?: unknown } = { state: 'pending' };
  acquired.then(
    (release) => {
      if (release === undefined) outcome.state = 'refused';
      else Object.assign(outcome, { state: 'held', release });
    },
    (reason: unknown) => Object.assign(outcome, { state: 'rejected', reason }),
  );
  return outcome;
}

describe('Semaphore', () => {
  it('grants up to its limit at once and queues the rest', async () => {
    const semaphore = new Semaphore(2);
    const calls = [watch(semaphore.acquire()), watch(semaphore.acquire()), watch(semaphore.acquire())];
    await flush();
    expect(calls.map((call) => call.state)).toEqual(['held', 'held', 'pending']);
    expect({ running: semaphore.running, waiting: semaphore.waiting }).toEqual({ running: 2, waiting: 1 });
  });

  it('hands a released slot to the longest waiter, in FIFO order', async () => {
    const semaphore = new Semaphore(1);
    const first = watch(semaphore.acquire());
    const order: string[] = [];
    const waiters = ['b', 'c', 'd'].map((name) =>
      semaphore.acquire().then((release) => {
        order.push(name);
        return release;
      }),
    );
    await flush();
    first.release?.();
    for (const waiter of waiters) (await waiter)?.();
    expect(order).toEqual(['b', 'c', 'd']);
    expect({ running: semaphore.running, waiting: semaphore.waiting }).toEqual({ running: 0, waiting: 0 });
  });

  it('never lets a new caller overtake one that waits', async () => {
    const semaphore = new Semaphore(1);
    const first = watch(semaphore.acquire());
    await flush();
    const waiting = watch(semaphore.acquire());
    first.release?.();
    const late = watch(semaphore.acquire());
    await flush();
    expect([waiting.state, late.state]).toEqual(['held', 'pending']);
  });

  it('refuses at once, resolving undefined, when maxQueue callers already wait', async () => {
    const semaphore = new Semaphore(1, 1);
    const calls = [watch(semaphore.acquire()), watch(semaphore.acquire()), watch(semaphore.acquire())];
    await flush();
    expect(calls.map((call) => call.state)).toEqual(['held', 'pending', 'refused']);
  });

  it('refuses every waiter with a queue bound of 0', async () => {
    const semaphore = new Semaphore(1, 0);
    const calls = [watch(semaphore.acquire()), watch(semaphore.acquire())];
    await flush();
    expect(calls.map((call) => call.state)).toEqual(['held', 'refused']);
  });

  it('rejects with the reason and leaves the line when the signal aborts while waiting', async () => {
    const semaphore = new Semaphore(1);
    const first = watch(semaphore.acquire());
    const controller = new AbortController();
    const aborted = watch(semaphore.acquire(controller.signal));
    const next = watch(semaphore.acquire());
    await flush();
    const reason = new Error('the room ended');
    controller.abort(reason);
    await flush();
    expect(aborted).toMatchObject({ state: 'rejected', reason });
    expect(semaphore.waiting).toBe(1);
    first.release?.();
    await flush();
    expect(next.state).toBe('held');
  });

  it('rejects an already aborted signal without taking a free slot', async () => {
    const semaphore = new Semaphore(1);
    const reason = new Error('stopping');
    const call = watch(semaphore.acquire(AbortSignal.abort(reason)));
    await flush();
    expect(call).toMatchObject({ state: 'rejected', reason });
    expect(semaphore.running).toBe(0);
  });

  it('turns away a waiter whose signal aborted before its abort listener ran', async () => {
    const semaphore = new Semaphore(1);
    const controller = new AbortController();
    const first = watch(semaphore.acquire());
    await flush();
    // Released from an abort listener registered before the semaphore's own: the waiter is still queued.
    controller.signal.addEventListener('abort', () => first.release?.());
    const waiter = watch(semaphore.acquire(controller.signal));
    controller.abort(new Error('gone'));
    await flush();
    expect(waiter.state).toBe('rejected');
    expect({ running: semaphore.running, waiting: semaphore.waiting }).toEqual({ running: 0, waiting: 0 });
  });

  it('counts a release only once', async () => {
    const semaphore = new Semaphore(1);
    const first = watch(semaphore.acquire());
    const second = watch(semaphore.acquire());
    const third = watch(semaphore.acquire());
    await flush();
    first.release?.();
    first.release?.();
    await flush();
    expect([second.state, third.state]).toEqual(['held', 'pending']);
    expect(semaphore.running).toBe(1);
  });

  it('refuses a limit that is not a positive integer and a bad queue bound, naming the value', () => {
    expect(() => new Semaphore(0)).toThrow('a semaphore limit must be a positive integer, got 0');
    expect(() => new Semaphore(1.5)).toThrow('got 1.5');
    expect(() => new Semaphore(Number.NaN)).toThrow('got NaN');
    expect(() => new Semaphore(1, -1)).toThrow('a semaphore queue bound must be an integer >= 0 or Infinity, got -1');
    expect(() => new Semaphore(1, 0.5)).toThrow('got 0.5');
  });

  it('behaves as a FIFO queue with a bounded line under any sequence of acquires, releases and aborts', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('acquire' as const), abortable: fc.boolean() }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(Number.POSITIVE_INFINITY)),
        fc.array(op, { maxLength: 40 }),
        async (limit, maxQueue, ops) => {
          const semaphore = new Semaphore(limit, maxQueue);
          type Call = ReturnType<typeof watch> & { readonly id: number; readonly abortable: boolean; readonly controller: AbortController };
          const calls: Call[] = [];
          // The model: who holds a slot, who waits (in order), who gave the slot back, was refused or aborted.
          const held: number[] = [];
          const queue: number[] = [];
          const released = new Set<number>();
          const refused = new Set<number>();
          const aborted = new Set<number>();
          const expected = (id: number): string =>
            held.includes(id) || released.has(id) ? 'held' : refused.has(id) ? 'refused' : aborted.has(id) ? 'rejected' : 'pending';
          for (const step of ops) {
            if (step.kind === 'acquire') {
              const controller = new AbortController();
              const id = calls.length;
              calls.push(
                Object.assign(watch(semaphore.acquire(step.abortable ? controller.signal : undefined)), { id, abortable: step.abortable, controller }),
              );
              if (held.length < limit && queue.length === 0) held.push(id);
              else if (queue.length >= maxQueue) refused.add(id);
              else queue.push(id);
            } else if (step.kind === 'release' && held.length > 0) {
              const [id] = held.splice(step.pick % held.length, 1);
              calls[id!]!.release?.();
              released.add(id!);
              while (held.length < limit && queue.length > 0) held.push(queue.shift()!);
            } else if (step.kind === 'abort') {
              const candidates = queue.filter((id) => calls[id]!.abortable);
              if (candidates.length > 0) {
                const id = candidates[step.pick % candidates.length]!;
                calls[id]!.controller.abort(new Error(`abort ${id}`));
                queue.splice(queue.indexOf(id), 1);
                aborted.add(id);
              }
            }
            await flush();
            expect({ running: semaphore.running, waiting: semaphore.waiting }).toEqual({ running: held.length, waiting: queue.length });
            expect(calls.map((call) => call.state)).toEqual(calls.map((call) => expected(call.id)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('KeyedSemaphore', () => {
  it('bounds each key on its own', async () => {
    const semaphore = new KeyedSemaphore();
    const calls = [watch(semaphore.acquire('a', 1)), watch(semaphore.acquire('a', 1)), watch(semaphore.acquire('b', 1))];
    await flush();
    expect(calls.map((call) => call.state)).toEqual(['held', 'pending', 'held']);
    expect([semaphore.running('a'), semaphore.waiting('a'), semaphore.running('b'), semaphore.waiting('b')]).toEqual([1, 1, 1, 0]);
  });

  it('forgets a key once nobody holds or waits for it, however its last caller left', async () => {
    const semaphore = new KeyedSemaphore();
    const held = watch(semaphore.acquire('released', 1));
    await flush();
    held.release?.();
    const controller = new AbortController();
    const blocker = watch(semaphore.acquire('aborted', 1));
    const waiter = watch(semaphore.acquire('aborted', 1, { signal: controller.signal }));
    await flush();
    blocker.release?.();
    await flush();
    waiter.release?.();
    await expect(semaphore.acquire('early', 1, { signal: AbortSignal.abort(new Error('no')) })).rejects.toThrow('no');
    expect(semaphore.size).toBe(0);
    expect(semaphore.running('released')).toBe(0);
  });

  it('applies the limit and queue bound each acquire is given', async () => {
    const semaphore = new KeyedSemaphore();
    const calls = [watch(semaphore.acquire('tool', 1)), watch(semaphore.acquire('tool', 2)), watch(semaphore.acquire('tool', 2, { maxQueue: 0 }))];
    await flush();
    expect(calls.map((call) => call.state)).toEqual(['held', 'held', 'refused']);
  });

  it('refuses a bad limit for a key before taking anything', () => {
    const semaphore = new KeyedSemaphore();
    expect(() => semaphore.acquire('tool', 0)).toThrow('a semaphore limit must be a positive integer, got 0');
    expect(semaphore.size).toBe(0);
  });
});
