import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { withBindings } from '../src/logger.js';

describe('withBindings', () => {
  it('returns the logger itself when the fields are already bound with the same values', () => {
    const root = pino({ level: 'silent' });
    const roomLog = root.child({ room: 'r-1' });
    expect(withBindings(roomLog, { room: 'r-1' })).toBe(roomLog);
    expect(withBindings(roomLog, { room: undefined })).toBe(roomLog);
  });

  it('binds only the fields missing or different', () => {
    const roomLog = pino({ level: 'silent' }).child({ room: 'r-1' });
    const agentLog = withBindings(roomLog, { room: 'r-1', agent: 'adder' });
    expect(agentLog).not.toBe(roomLog);
    expect(agentLog.bindings()).toEqual({ room: 'r-1', agent: 'adder' });
    expect(withBindings(pino({ level: 'silent' }), { room: 'r-2' }).bindings()).toEqual({ room: 'r-2' });
  });
});
