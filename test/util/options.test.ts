import { describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { fraction, nonNegativeMs, positiveMs, wholeNumber } from '../../src/util/options.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('option checks', () => {
  it('return the value they accept, so a constructor checks and stores in one step', () => {
    expect(nonNegativeMs('graceMs', 0)).toBe(0);
    expect(positiveMs('timeoutMs', 0.5)).toBe(0.5);
    expect(wholeNumber('retries', 3)).toBe(3);
    expect(wholeNumber('capacity', 1, 1)).toBe(1);
    expect(fraction('jitter', 1)).toBe(1);
  });

  it.each([
    ['a negative timeout', () => nonNegativeMs('graceMs', -1), 'graceMs must be a finite number of milliseconds >= 0, got -1'],
    ['an infinite timeout', () => nonNegativeMs('graceMs', Number.POSITIVE_INFINITY), 'graceMs must be a finite number of milliseconds >= 0, got Infinity'],
    ['a zero bound where one is needed', () => positiveMs('timeoutMs', 0), 'timeoutMs must be a finite number of milliseconds > 0, got 0'],
    ['a fractional count', () => wholeNumber('retries', 1.5), 'retries must be an integer >= 0, got 1.5'],
    ['a count under its minimum', () => wholeNumber('capacity', 0, 1), 'capacity must be an integer >= 1, got 0'],
    ['a string where a number goes', () => nonNegativeMs('graceMs', '5' as unknown as number), 'graceMs must be a finite number of milliseconds >= 0, got "5"'],
    ['a fraction above 1', () => fraction('jitter', 1.01), 'jitter must be a fraction in [0, 1], got 1.01'],
    ['NaN as a fraction', () => fraction('jitter', Number.NaN), 'jitter must be a fraction in [0, 1], got NaN'],
  ])('reject %s with RR_OPTION_INVALID naming the option', (_, fn, message) => {
    const error = thrown(fn);
    expect(isRoomrunnerError(error, 'RR_OPTION_INVALID')).toBe(true);
    expect((error as Error).message).toBe(message);
  });

  it('keep a code a part has already shipped', () => {
    expect(
      isRoomrunnerError(
        thrown(() => wholeNumber('limit', -1, 0, 'RR_STORE_OPTION_INVALID')),
        'RR_STORE_OPTION_INVALID',
      ),
    ).toBe(true);
  });
});
