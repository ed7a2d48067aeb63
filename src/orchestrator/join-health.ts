/**
 * Whether joins fail across the board, for readiness: a load balancer should stop sending rooms to a replica
 * whose every join fails (room server unreachable, wrong secret), but not to one where a few rooms are broken.
 *
 * Definition: at least `failures` join attempts failed within the last `windowMs` and none succeeded in it.
 * One success, or a window with fewer failures (nothing tried for a while), makes it pass again.
 */
import { positiveMs, wholeNumber } from '../util/options.js';
import { RoomrunnerError } from '../errors.js';
import { SYSTEM_CLOCK, type Clock } from '../util/clock.js';

/** Failed attempts (with no success) within the window that make readiness false. */
export const DEFAULT_JOIN_FAILURES_NOT_READY = 10;
export const DEFAULT_JOIN_HEALTH_WINDOW_MS = 60_000;

export interface JoinHealthOptions {
  /** Default {@link DEFAULT_JOIN_FAILURES_NOT_READY}. */
  failures?: number;
  /** Default {@link DEFAULT_JOIN_HEALTH_WINDOW_MS}. */
  windowMs?: number;
}

export class JoinHealth {
  readonly #failures: number;
  readonly #windowMs: number;
  readonly #clock: Pick<Clock, 'now'>;
  /** Times of the latest failed attempts, at most `#failures` of them. */
  readonly #recentFailures: number[] = [];
  #lastSuccessAt = Number.NEGATIVE_INFINITY;

  constructor(options: JoinHealthOptions = {}, clock: Pick<Clock, 'now'> = SYSTEM_CLOCK) {
    this.#failures = options.failures ?? DEFAULT_JOIN_FAILURES_NOT_READY;
    this.#windowMs = options.windowMs ?? DEFAULT_JOIN_HEALTH_WINDOW_MS;
    wholeNumber('joinHealth.failures', this.#failures, 1);
    positiveMs('joinHealth.windowMs', this.#windowMs);
    this.#clock = clock;
  }

  failed(): void {
    this.#recentFailures.push(this.#clock.now());
    if (this.#recentFailures.length > this.#failures) this.#recentFailures.shift();
  }

  succeeded(): void {
    this.#lastSuccessAt = this.#clock.now();
    this.#recentFailures.length = 0;
  }

  /** @throws RoomrunnerError `RR_JOINS_FAILING` when joins fail across the board. */
  check(): void {
    const since = this.#clock.now() - this.#windowMs;
    const failures = this.#recentFailures.filter((at) => at >= since).length;
    if (failures >= this.#failures && this.#lastSuccessAt < since) {
      throw new RoomrunnerError(
        'RR_JOINS_FAILING',
        `the last ${failures} join attempts failed and none succeeded in ${this.#windowMs} ms; GET /status shows each room's last error`,
        {
          data: { failures, windowMs: this.#windowMs },
        },
      );
    }
  }
}
