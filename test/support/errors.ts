import { RoomrunnerError, type ErrorCode } from '../../src/errors.js';

/** The RoomrunnerError code `fn` throws, `'no error'`, or `'foreign error'` for anything else thrown. */
export function codeOf(fn: () => unknown): ErrorCode | 'no error' | 'foreign error' {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return err instanceof RoomrunnerError ? err.code : 'foreign error';
  }
}
