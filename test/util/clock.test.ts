import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { every, setBackgroundTimeout, sleep, SYSTEM_CLOCK } from '../../src/util/clock.js';
import { ManualClock } from '../support/manual-clock.js';

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

describe('background timers', () => {
  it('do not keep the process alive on the system clock', () => {
    const handle = setBackgroundTimeout(SYSTEM_CLOCK, () => undefined, 60_000) as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    SYSTEM_CLOCK.clearTimeout(handle);
  });

  it('run a callback every period on the clock given, until stopped', async () => {
    const clock = new ManualClock(0);
    const runs: number[] = [];
    const stop = every(clock, 1_000, () => runs.push(clock.now()));
    await clock.advance(999);
    expect(runs).toEqual([]);
    await clock.advance(2_001);
    expect(runs).toEqual([1_000, 2_000, 3_000]);
    stop();
    expect(clock.pending).toBe(0);
    await clock.advance(5_000);
    expect(runs).toHaveLength(3);
  });

  it('keep their period when a run throws, as setInterval does', async () => {
    const clock = new ManualClock(0);
    let runs = 0;
    const stop = every(clock, 10, () => {
      runs += 1;
      if (runs === 1) throw new Error('first run fails');
    });
    await expect(clock.advance(10)).rejects.toThrow('first run fails');
    await clock.advance(10);
    expect(runs).toBe(2);
    stop();
  });
});
