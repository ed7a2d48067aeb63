/** Retrying a store write through a store outage, for work that has already been acknowledged. */
import pRetry from 'p-retry';
import { isRoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Bound on retrying a store write that must not be lost (a hook's outcome, markRoomStarted / markRoomEnded). */
export const DEFAULT_STORE_RETRY_MS = 60_000;

/**
 * Runs a store write again while the store is unavailable (RR_STORE_UNAVAILABLE), with backoff, for at most
 * `maxMs` or until `signal` aborts. A webhook already answered 200 must not be lost to a store outage that
 * begins between recording the delivery and acting on it.
 */
export async function retryWhileStoreDown<T>(fn: () => Promise<T>, options: { signal?: AbortSignal; maxMs?: number; log?: Logger } = {}): Promise<T> {
  return pRetry(fn, {
    retries: 1_000,
    factor: 2,
    minTimeout: 100,
    maxTimeout: 2_000,
    randomize: true,
    maxRetryTime: options.maxMs ?? DEFAULT_STORE_RETRY_MS,
    ...(options.signal ? { signal: options.signal } : {}),
    shouldRetry: ({ error }) => isRoomrunnerError(error, 'RR_STORE_UNAVAILABLE'),
    onFailedAttempt: ({ error, attemptNumber }) => {
      if (attemptNumber === 1) options.log?.warn({ err: error.message }, 'store unavailable: retrying the write');
    },
  });
}
