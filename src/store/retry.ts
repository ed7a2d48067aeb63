/** Retrying a store write through a store outage, for work that has already been acknowledged. */
import { isRoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Clock } from '../util/clock.js';
import { retry, type RetryPolicy } from '../util/retry.js';

/** Bound on retrying a store write that must not be lost (a hook's outcome, markRoomStarted / markRoomEnded). */
export const DEFAULT_STORE_RETRY_MS = 60_000;

/** 100 ms doubling to 2 s, half of each wait random; bounded by time, not by count. */
const STORE_RETRY_POLICY: RetryPolicy = { retries: Number.POSITIVE_INFINITY, backoff: { initialMs: 100, maxMs: 2_000, jitter: 0.5 } };

/**
 * Runs a store write again while the store is unavailable (RR_STORE_UNAVAILABLE), with backoff, for at most
 * `maxMs` or until `signal` aborts. A webhook already answered 200 must not be lost to a store outage that
 * begins between recording the delivery and acting on it.
 */
export async function retryWhileStoreDown<T>(
  fn: () => Promise<T>,
  options: { signal?: AbortSignal; maxMs?: number; log?: Logger; clock?: Clock } = {},
): Promise<T> {
  return retry(
    fn,
    { ...STORE_RETRY_POLICY, maxElapsedMs: options.maxMs ?? DEFAULT_STORE_RETRY_MS },
    {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      shouldRetry: (error) => isRoomrunnerError(error, 'RR_STORE_UNAVAILABLE'),
      onFailedAttempt: ({ error, attempt }) => {
        if (attempt === 1 && isRoomrunnerError(error, 'RR_STORE_UNAVAILABLE')) options.log?.warn({ err: error }, 'store unavailable: retrying the write');
      },
    },
  );
}
