/** Argument checks every store shares, so a bad option gets the same catalogued error from each engine. */
import { RoomrunnerError } from '../errors.js';

/** A finite number of milliseconds, at least 0 (leases, windows). */
export function nonNegative(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RoomrunnerError('RR_STORE_OPTION_INVALID', `${name} must be a finite number of milliseconds >= 0, got ${String(value)}`, {
      data: { option: name },
    });
  }
}

/** A whole number, at least 0 (capacities, limits). */
export function count(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RoomrunnerError('RR_STORE_OPTION_INVALID', `${name} must be an integer >= 0, got ${String(value)}`, { data: { option: name } });
  }
}
