import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import { SYSTEM_CLOCK } from '../../src/util/clock.js';
import { retry, type FailedAttempt } from '../../src/util/retry.js';

const NO_JITTER = { initialMs: 100, maxMs: 400, jitter: 0 };

/** A function that fails `times` times with `error`, then resolves with the attempt number. */
function failing(times: number, error: () => Error = () => new Error('down')) {
  const attempts: number[] = [];
  const fn = async (attempt: number) => {
    attempts.push(attempt);
    if (attempts.length <= times) throw error();
    return attempt;
  };
  return { fn, attempts };
}

describe('retry', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('waits the backoff between attempts, on the clock, and resolves with the first success', async () => {
    const { fn, attempts } = failing(3);
    const waits: number[] = [];
    const result = retry(fn, { retries: 5, backoff: NO_JITTER }, { onRetry: (_, ms) => waits.push(ms) });
    await vi.advanceTimersByTimeAsync(99);
    expect(attempts).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(200 + 400);
    await expect(result).resolves.toBe(4);
    expect(waits).toEqual([100, 200, 400]);
  });

  it('rejects with the last error once the retries are spent, having told of every failed attempt', async () => {
    const { fn } = failing(10);
    const failures: FailedAttempt[] = [];
    const result = retry(fn, { retries: 2, backoff: NO_JITTER }, { onFailedAttempt: (failure) => failures.push(failure) });
    const settled = expect(result).rejects.toThrow('down');
    await vi.advanceTimersByTimeAsync(1_000);
    await settled;
    expect(failures.map(({ attempt, retriesLeft }) => [attempt, retriesLeft])).toEqual([
      [1, 2],
      [2, 1],
      [3, 0],
    ]);
  });

  it('stops at once on an error the caller calls final', async () => {
    const final = new RoomrunnerError('RR_ROOM_HANDSHAKE_REFUSED', 'refused');
    const { fn, attempts } = failing(5, () => final);
    await expect(retry(fn, { retries: 5 }, { shouldRetry: (error) => error !== final })).rejects.toBe(final);
    expect(attempts).toEqual([1]);
  });

  it('starts no attempt after the time bound, read on the clock', async () => {
    const { fn, attempts } = failing(100);
    const result = retry(fn, { retries: Number.POSITIVE_INFINITY, backoff: NO_JITTER, maxElapsedMs: 1_000 });
    const settled = expect(result).rejects.toThrow('down');
    await vi.advanceTimersByTimeAsync(5_000);
    await settled;
    // Waits of 100, 200, 400 fit in 1 s; the next 400 would start at 1,100 ms.
    expect(attempts).toEqual([1, 2, 3, 4]);
  });

  it('ends a wait in progress when the signal aborts, with its reason, and tries no more', async () => {
    const { fn, attempts } = failing(100);
    const controller = new AbortController();
    const result = retry(fn, { retries: 10, backoff: NO_JITTER }, { signal: controller.signal });
    const settled = expect(result).rejects.toThrow('room ended');
    await vi.advanceTimersByTimeAsync(50);
    controller.abort(new Error('room ended'));
    await settled;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(attempts).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('takes its jitter from the random source it is given', async () => {
    const { fn } = failing(1);
    const waits: number[] = [];
    const result = retry(
      fn,
      { retries: 1, backoff: { initialMs: 100, jitter: 0.5 } },
      { random: () => 1, clock: SYSTEM_CLOCK, onRetry: (_, ms) => waits.push(ms) },
    );
    await vi.advanceTimersByTimeAsync(50);
    await expect(result).resolves.toBe(2);
    expect(waits).toEqual([50]);
  });

  it('rejects a policy out of range with RR_OPTION_INVALID', () => {
    expect(() => retry(async () => 1, { retries: -1 })).toThrow(expect.objectContaining({ code: 'RR_OPTION_INVALID' }));
    expect(() => retry(async () => 1, { retries: 1, backoff: { jitter: 3 } })).toThrow(expect.objectContaining({ code: 'RR_OPTION_INVALID' }));
  });
});
