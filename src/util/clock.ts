/**
 * Time, injected (docs/architecture.md §Style 2): every part whose behaviour depends on time takes a `Clock`
 * (wall time for records, timers for bounds, backoff and leases), so tests drive it with fake time instead of
 * waiting. `SYSTEM_CLOCK` is Node's own. Timer handles are opaque: pass back what `setTimeout` returned.
 */
export interface Clock {
  /** Milliseconds since the epoch (`Date.now`). */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Resolves after `ms` on `clock`, or rejects with the signal's reason once it aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `clock.setTimeout` for background work (heartbeats, sweeps, waits a close cuts short): the timer does not keep
 * the process alive (Node's `unref`, where the handle has one; a fake clock's handle needs none).
 */
export function setBackgroundTimeout(clock: Clock, callback: () => void, ms: number): unknown {
  const handle = clock.setTimeout(callback, ms);
  (handle as { unref?: () => void } | null | undefined)?.unref?.();
  return handle;
}

/** `clock` with background timers ({@link setBackgroundTimeout}): for waits that must not keep the process alive. */
export function inBackground(clock: Clock): Clock {
  return {
    now: () => clock.now(),
    setTimeout: (callback, ms) => setBackgroundTimeout(clock, callback, ms),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}

/**
 * Runs `callback` every `ms` on `clock`, as `setInterval` does (the next run is scheduled as this one starts),
 * on background timers ({@link setBackgroundTimeout}). Returns the function that stops it.
 */
export function every(clock: Clock, ms: number, callback: () => void): () => void {
  let stopped = false;
  let handle: unknown;
  const tick = (): void => {
    if (stopped) return;
    handle = setBackgroundTimeout(clock, tick, ms);
    callback();
  };
  handle = setBackgroundTimeout(clock, tick, ms);
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
