/**
 * Reconnect timing as a pure function of the attempt number and one random draw (docs/architecture.md §Style 2, the
 * p-retry/ky shape), so tests inject `random` and read the delay instead of waiting for it.
 *
 * The ceiling follows MeshAgent's clients (docs/protocol.md §G): min(30 s, 0.5 s × 2^attempt), the first
 * retry after about 500 ms.
 *
 * Jitter: "subtractive proportional jitter". A fraction `jitter` of the ceiling is random and taken off it:
 * `delay = ceiling × (1 − jitter × random())`. The default 0.2 keeps the first retry in [400, 500] ms, close to
 * the 500 ms MeshAgent uses, never waits longer than MeshAgent would, and still spreads runners that lost the
 * same room server at the same instant (a deploy) over a window of a fifth of the delay (6 s at the 30 s
 * ceiling). `jitter: 1` is AWS "full jitter", `jitter: 0.5` "equal jitter", `jitter: 0` none.
 *
 * Reset: the attempt count starts again from 0 only once a connection has stayed up for `resetAfterMs`. A room
 * that accepts, registers and drops us at once (close 1011 right after registration) would otherwise be
 * redialed every half second forever; with the reset tied to uptime its retries back off like any other failure.
 */

import { RoomrunnerError } from '../errors.js';
import { fraction, nonNegativeMs, wholeNumber } from './options.js';

export const DEFAULT_BACKOFF_INITIAL_MS = 500;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;
export const DEFAULT_BACKOFF_JITTER = 0.2;
/** A connection that stayed up this long counts as healthy: its next drop retries from the first delay again. */
export const DEFAULT_BACKOFF_RESET_AFTER_MS = 30_000;

export interface BackoffOptions {
  /** Ceiling of the first retry (attempt 0), in ms. Default 500. */
  initialMs?: number;
  /** Largest delay, in ms. Default 30 000. */
  maxMs?: number;
  /** Fraction of the delay, in [0, 1], that is random (subtracted). Default 0.2. */
  jitter?: number;
  /** Uptime after which a dropped connection retries from attempt 0 again, in ms. Default 30 000. */
  resetAfterMs?: number;
}

/**
 * Delay before retry number `attempt` (0 = the first retry), in whole ms. `random` is a `Math.random`-like
 * source of values in [0, 1). A bad option or argument is `RR_OPTION_INVALID`, naming it.
 */
export function backoffDelayMs(attempt: number, random: () => number, options: BackoffOptions = {}): number {
  const { initialMs, maxMs, jitter } = resolveBackoffOptions(options);
  wholeNumber('attempt', attempt);
  const draw = fraction('random()', random());
  // 2 ** attempt overflows to Infinity for huge attempts; Math.min still yields maxMs.
  const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
  return Math.round(ceiling * (1 - jitter * draw));
}

/** Fill in defaults and validate, with messages that say what to pass. */
export function resolveBackoffOptions(options: BackoffOptions = {}): Required<BackoffOptions> {
  const initialMs = nonNegativeMs('backoff initialMs', options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS);
  const maxMs = nonNegativeMs('backoff maxMs', options.maxMs ?? DEFAULT_BACKOFF_MAX_MS);
  if (maxMs < initialMs) {
    throw new RoomrunnerError('RR_OPTION_INVALID', `backoff maxMs must be >= initialMs (${initialMs}), got ${maxMs}`, { data: { option: 'backoff maxMs' } });
  }
  // 0.5 = equal jitter, 1 = full jitter.
  const jitter = fraction('backoff jitter', options.jitter ?? DEFAULT_BACKOFF_JITTER);
  const resetAfterMs = nonNegativeMs('backoff resetAfterMs', options.resetAfterMs ?? DEFAULT_BACKOFF_RESET_AFTER_MS);
  return { initialMs, maxMs, jitter, resetAfterMs };
}

/**
 * The retry number to use after a connection that was up for `uptimeMs` dropped: 0 when it stayed up for
 * `resetAfterMs`, else `attempt` unchanged, so a room that keeps dropping us soon after the handshake backs off.
 */
export function attemptAfterDrop(attempt: number, uptimeMs: number, options: BackoffOptions = {}): number {
  const { resetAfterMs } = resolveBackoffOptions(options);
  return uptimeMs >= resetAfterMs ? 0 : attempt;
}
