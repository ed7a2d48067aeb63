import { describe, expect, it } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import { errorMessage } from '../../src/util/error-message.js';

describe('errorMessage', () => {
  it('gives the message of an Error, catalogued or not', () => {
    expect(errorMessage(new TypeError('bad'))).toBe('bad');
    expect(errorMessage(new RoomrunnerError('RR_ROOM_CLOSED', 'the room closed'))).toBe('the room closed');
  });

  it('gives a thrown string as it is, and anything else as String() makes it', () => {
    expect(errorMessage('plain words')).toBe('plain words');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage({ toString: () => 'custom' })).toBe('custom');
  });
});
