/**
 * The one retry policy (docs/architecture.md §Style 2): p-retry runs the attempts, the waits come from
 * {@link backoffDelayMs} (a pure function of the retry number and one random draw) and are slept on an injected
 * {@link Clock}, so fake time drives every retry in tests and the same policy shape serves the joins, the store
 * writes that must outlive an outage and the emulator's webhook deliveries.
 *
 * p-retry's own timers and wall clock are not used (`minTimeout`/`maxTimeout` 0, no `maxRetryTime`); the time
 * bound is `maxElapsedMs`, read on the clock. As in p-retry, a `TypeError` that is not a network error is a bug
 * and is never retried.
 */
import pRetry from 'p-retry';
import { backoffDelayMs, resolveBackoffOptions, type BackoffOptions } from './backoff.js';
import { sleep as sleepOn, SYSTEM_CLOCK, type Clock } from './clock.js';
import { nonNegativeMs, wholeNumber } from './options.js';

export interface RetryPolicy {
  /** Attempts after the first; `Infinity` for no count bound (then set `maxElapsedMs`). */
  readonly retries: number;
  /** The waits between attempts; defaults as in {@link BackoffOptions}. */
  readonly backoff?: BackoffOptions;
  /** No attempt starts later than this after the first one began. Default: no time bound. */
  readonly maxElapsedMs?: number;
}

export interface FailedAttempt {
  readonly error: Error;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly retriesLeft: number;
}

export interface RetryRun {
  /** Stops the retries (and a wait in progress) with the signal's reason. */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
  /** `Math.random`-like, for the jitter. */
  readonly random?: () => number;
  /** Waits between attempts; default a sleep on `clock`. For callers that record or shape the waits. */
  readonly sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  /** False ends the retries with this error (a final failure). Default: every error is retried. */
  readonly shouldRetry?: (error: Error, attempt: number) => boolean;
  /** Called after every failed attempt, the last one included, before deciding whether to retry. */
  readonly onFailedAttempt?: (failure: FailedAttempt) => void;
  /** Called before each wait, with the retry number (0 for the first retry) and the wait. */
  readonly onRetry?: (retry: number, delayMs: number) => void;
}

/** Runs `fn` (given the attempt number, 1 first) until it resolves or the policy says stop; rejects with the last error. */
export function retry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, run: RetryRun = {}): Promise<T> {
  const retries = policy.retries === Number.POSITIVE_INFINITY ? policy.retries : wholeNumber('retries', policy.retries);
  const maxElapsedMs = policy.maxElapsedMs === undefined ? Number.POSITIVE_INFINITY : nonNegativeMs('maxElapsedMs', policy.maxElapsedMs);
  const backoff = resolveBackoffOptions(policy.backoff);
  const clock = run.clock ?? SYSTEM_CLOCK;
  const random = run.random ?? Math.random;
  const sleep = run.sleep ?? ((ms: number, signal: AbortSignal | undefined) => sleepOn(clock, ms, signal));
  const started = clock.now();
  // The first attempt runs bare: most calls succeed at once (a store write, a delivery), and p-retry's machinery
  // is paid for only once one has failed. That failure is handed to p-retry as its attempt 1, so what follows
  // (hooks, the decision to retry, the waits) is exactly as if p-retry had run it.
  const options: PRetryOptions = {
    retries,
    minTimeout: 0,
    maxTimeout: 0,
    ...(run.signal ? { signal: run.signal } : {}),
    onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
      if (!run.signal?.aborted) run.onFailedAttempt?.({ error, attempt: attemptNumber, retriesLeft });
    },
    shouldRetry: async ({ error, attemptNumber, retriesConsumed }) => {
      if (run.signal?.aborted) return false;
      if (run.shouldRetry && !run.shouldRetry(error, attemptNumber)) return false;
      const delayMs = backoffDelayMs(retriesConsumed, random, backoff);
      if (clock.now() + delayMs - started > maxElapsedMs) return false;
      run.onRetry?.(retriesConsumed, delayMs);
      await sleep(delayMs, run.signal);
      return true;
    },
  };
  return retryAfterFirst(fn, run.signal, options);
}

type PRetryOptions = NonNullable<Parameters<typeof pRetry>[1]>;

/** The first attempt bare, then (after a failure) p-retry from its attempt 1, which replays that failure. */
async function retryAfterFirst<T>(fn: (attempt: number) => Promise<T>, signal: AbortSignal | undefined, options: PRetryOptions): Promise<T> {
  signal?.throwIfAborted();
  let failure: { readonly error: unknown };
  try {
    return await fn(1);
  } catch (error) {
    failure = { error };
  }
  return pRetry((attempt) => (attempt === 1 ? Promise.reject(failure.error) : fn(attempt)), options);
}
