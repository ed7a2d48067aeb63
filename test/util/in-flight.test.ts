import { describe, expect, it } from 'vitest';
import { InFlight } from '../../src/util/in-flight.js';

/** A promise settled from outside. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (reason: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('InFlight', () => {
  it('counts tracked work until it settles, and returns the work itself', async () => {
    const work = new InFlight();
    const a = deferred<number>();
    expect(work.track(a.promise)).toBe(a.promise);
    expect(work.size).toBe(1);
    a.resolve(7);
    await work.idle();
    expect(work.size).toBe(0);
  });

  it('resolves idle at once when nothing runs', async () => {
    await expect(new InFlight().idle()).resolves.toBeUndefined();
  });

  it('waits in idle for work tracked while it waits', async () => {
    const work = new InFlight();
    const first = deferred();
    const second = deferred();
    work.track(first.promise);
    let idle = false;
    const waiting = work.idle().then(() => {
      idle = true;
    });
    work.track(second.promise);
    first.resolve();
    await first.promise;
    await Promise.resolve();
    expect(idle).toBe(false);
    second.resolve();
    await waiting;
    expect(idle).toBe(true);
  });

  it('waits for rejected work without turning it into an unhandled rejection', async () => {
    const work = new InFlight();
    const failing = deferred();
    work.track(failing.promise);
    failing.reject(new Error('the hook failed'));
    await work.idle();
    expect(work.size).toBe(0);
    await expect(failing.promise).rejects.toThrow('the hook failed');
  });

  it('lists the keys of running work once each, until their last run settles', async () => {
    const work = new InFlight();
    const one = deferred();
    const two = deferred();
    const other = deferred();
    work.track(one.promise, 'delivery-1');
    work.track(two.promise, 'delivery-1');
    work.track(other.promise, 'delivery-2');
    work.track(Promise.resolve());
    expect(work.keys()).toEqual(['delivery-1', 'delivery-2']);
    one.resolve();
    other.resolve();
    await Promise.all([one.promise, other.promise]);
    await Promise.resolve();
    expect(work.keys()).toEqual(['delivery-1']);
    two.resolve();
    await work.idle();
    expect(work.keys()).toEqual([]);
  });
});
