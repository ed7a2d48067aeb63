import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import { retryWhileStoreDown } from '../../src/store/retry.js';

const down = () => new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the store is unavailable');

describe('retryWhileStoreDown', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('writes again through an outage until the store is back, warning once', async () => {
    let calls = 0;
    const warn = vi.fn();
    const write = retryWhileStoreDown(
      async () => {
        calls += 1;
        if (calls < 4) throw down();
        return 'written';
      },
      { log: { warn } as never },
    );
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(write).resolves.toBe('written');
    expect(calls).toBe(4);
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]?.[0]).toEqual({ err: expect.objectContaining({ code: 'RR_STORE_UNAVAILABLE' }) });
  });

  it('gives up after its time bound with the outage error', async () => {
    const startedAt: number[] = [];
    const write = retryWhileStoreDown(
      async () => {
        startedAt.push(Date.now());
        throw down();
      },
      { maxMs: 5_000 },
    );
    const settled = expect(write).rejects.toThrow('the store is unavailable');
    await vi.advanceTimersByTimeAsync(60_000);
    await settled;
    // Waits of 50–100, 100–200, … up to 1–2 s each: a handful of attempts fit in 5 s, never one after it.
    expect(startedAt.length).toBeGreaterThan(3);
    expect(Math.max(...startedAt)).toBeLessThanOrEqual(5_000);
  });

  it('does not retry a failure that is not an outage (a constraint, a bug)', async () => {
    let calls = 0;
    const failure = new Error('duplicate key');
    await expect(
      retryWhileStoreDown(async () => {
        calls += 1;
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(calls).toBe(1);
  });

  it('stops retrying when the server closes (its signal aborts)', async () => {
    const controller = new AbortController();
    let calls = 0;
    const write = retryWhileStoreDown(
      async () => {
        calls += 1;
        throw down();
      },
      { signal: controller.signal },
    );
    const settled = expect(write).rejects.toThrow('closing');
    await vi.advanceTimersByTimeAsync(30);
    controller.abort(new Error('closing'));
    await settled;
    expect(calls).toBe(1);
  });
});
