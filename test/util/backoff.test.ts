import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRoomrunnerError, type RoomrunnerError } from '../../src/errors.js';
import { attemptAfterDrop, backoffDelayMs, DEFAULT_BACKOFF_MAX_MS, DEFAULT_BACKOFF_RESET_AFTER_MS } from '../../src/util/backoff.js';

const noJitter = { jitter: 0 };

describe('backoffDelayMs', () => {
  it('doubles from 500 ms and caps at 30 s, as MeshAgent does (§G)', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 20].map((attempt) => backoffDelayMs(attempt, () => 0, noJitter));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('keeps the first retry between 400 and 500 ms with the default jitter', () => {
    expect(backoffDelayMs(0, () => 0)).toBe(500);
    expect(backoffDelayMs(0, () => 0.5)).toBe(450);
    expect(backoffDelayMs(0, () => 0.999999)).toBe(400);
  });

  it('subtracts the random fraction: jitter 1 is full jitter, 0.5 equal jitter', () => {
    expect(backoffDelayMs(3, () => 0.25, { jitter: 1 })).toBe(3000);
    expect(backoffDelayMs(3, () => 0.5, { jitter: 0.5 })).toBe(3000);
    expect(backoffDelayMs(3, () => 0, { jitter: 0.5 })).toBe(4000);
  });

  it('honours initialMs and maxMs', () => {
    expect(backoffDelayMs(0, () => 0, { initialMs: 5, ...noJitter })).toBe(5);
    expect(backoffDelayMs(4, () => 0, { initialMs: 5, maxMs: 40, ...noJitter })).toBe(40);
  });

  it('survives attempts large enough to overflow 2^attempt', () => {
    expect(backoffDelayMs(5000, () => 0, noJitter)).toBe(DEFAULT_BACKOFF_MAX_MS);
  });

  it('never exceeds the ceiling nor drops below (1 - jitter) of it', () => {
    fc.assert(
      fc.property(
        fc.nat(80),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, r, jitter) => {
          const ceiling = Math.min(30_000, 500 * 2 ** attempt);
          const delay = backoffDelayMs(attempt, () => r, { jitter });
          expect(delay).toBeLessThanOrEqual(ceiling);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling * (1 - jitter)));
        },
      ),
    );
  });

  it('rejects bad options with RR_OPTION_INVALID and a message that says what to pass', () => {
    const rejected = (fn: () => unknown): RoomrunnerError => {
      try {
        fn();
      } catch (error) {
        if (isRoomrunnerError(error, 'RR_OPTION_INVALID')) return error;
        throw error;
      }
      throw new Error('expected RR_OPTION_INVALID');
    };
    expect(rejected(() => backoffDelayMs(-1, Math.random)).message).toBe('attempt must be an integer >= 0, got -1');
    expect(rejected(() => backoffDelayMs(0, Math.random, { jitter: 2 })).message).toBe('backoff jitter must be a fraction in [0, 1], got 2');
    expect(rejected(() => backoffDelayMs(0, Math.random, { initialMs: 100, maxMs: 10 })).message).toBe('backoff maxMs must be >= initialMs (100), got 10');
    expect(rejected(() => backoffDelayMs(0, () => Number.NaN)).message).toBe('random() must be a fraction in [0, 1], got NaN');
    expect(rejected(() => backoffDelayMs(0, Math.random, { resetAfterMs: -1 })).data).toEqual({ option: 'backoff resetAfterMs' });
  });
});

describe('attemptAfterDrop', () => {
  it('keeps counting after a connection that dropped soon, so a flapping room backs off', () => {
    expect(attemptAfterDrop(3, 50)).toBe(3);
    expect(attemptAfterDrop(3, DEFAULT_BACKOFF_RESET_AFTER_MS - 1)).toBe(3);
  });

  it('starts from the first delay again after a connection that stayed up for resetAfterMs', () => {
    expect(attemptAfterDrop(3, DEFAULT_BACKOFF_RESET_AFTER_MS)).toBe(0);
    expect(attemptAfterDrop(5, 200, { resetAfterMs: 100 })).toBe(0);
  });
});
