import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sleep, SYSTEM_CLOCK } from '../../src/util/clock.js';

describe('the system clock', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000 }));
  afterEach(() => vi.useRealTimers());

  it('reads wall time and runs timers through Node', () => {
    expect(SYSTEM_CLOCK.now()).toBe(1_000);
    const fired = vi.fn();
    const handle = SYSTEM_CLOCK.setTimeout(fired, 50);
    vi.advanceTimersByTime(49);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledOnce();
    SYSTEM_CLOCK.clearTimeout(handle);
  });

  it('sleeps for the time asked, and stops sleeping with the abort reason when the signal aborts', async () => {
    const slept = sleep(SYSTEM_CLOCK, 100);
    await vi.advanceTimersByTimeAsync(100);
    await expect(slept).resolves.toBeUndefined();
    const controller = new AbortController();
    const cut = sleep(SYSTEM_CLOCK, 100, controller.signal);
    controller.abort(new Error('closing'));
    await expect(cut).rejects.toThrow('closing');
    expect(vi.getTimerCount()).toBe(0);
    await expect(sleep(SYSTEM_CLOCK, 1, controller.signal)).rejects.toThrow('closing');
  });
});
