/**
 * Checks of library options, written once so a bad option gets the same catalogued error and the same wording
 * from every constructor (docs/architecture.md §Style 3). Each returns the value it checked, so a constructor
 * reads `this.#ms = nonNegativeMs('drainTimeoutMs', options.drainTimeoutMs ?? 10_000)`. `code` lets a part
 * keep a code it has already shipped (the stores' `RR_STORE_OPTION_INVALID`).
 */
import { RoomrunnerError, type ErrorCode } from '../errors.js';

function invalid(code: ErrorCode, name: string, rule: string, value: unknown): RoomrunnerError {
  return new RoomrunnerError(code, `${name} must be ${rule}, got ${describe(value)}`, { data: { option: name } });
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A finite number of milliseconds, at least 0 (0 usually disables). */
export function nonNegativeMs(name: string, value: number, code: ErrorCode = 'RR_OPTION_INVALID'): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalid(code, name, 'a finite number of milliseconds >= 0', value);
  return value;
}

/** A finite number of milliseconds, more than 0. */
export function positiveMs(name: string, value: number, code: ErrorCode = 'RR_OPTION_INVALID'): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(code, name, 'a finite number of milliseconds > 0', value);
  return value;
}

/** An integer, at least `min` (0 by default: capacities, limits, retries). */
export function wholeNumber(name: string, value: number, min = 0, code: ErrorCode = 'RR_OPTION_INVALID'): number {
  if (!Number.isSafeInteger(value) || value < min) throw invalid(code, name, `an integer >= ${min}`, value);
  return value;
}

/** A fraction in [0, 1]. */
export function fraction(name: string, value: number, code: ErrorCode = 'RR_OPTION_INVALID'): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw invalid(code, name, 'a fraction in [0, 1]', value);
  return value;
}
