import { describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { JoinHealth } from '../../src/orchestrator/join-health.js';

function failing(health: JoinHealth): unknown {
  try {
    health.check();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('JoinHealth', () => {
  it('passes until enough attempts have failed within the window', () => {
    const health = new JoinHealth({ failures: 3, windowMs: 1_000 }, { now: () => 5_000 });
    health.failed();
    health.failed();
    expect(failing(health)).toBeUndefined();
    health.failed();
    expect(isRoomrunnerError(failing(health), 'RR_JOINS_FAILING')).toBe(true);
  });

  it('passes again at once after a success', () => {
    const health = new JoinHealth({ failures: 1, windowMs: 1_000 }, { now: () => 5_000 });
    health.failed();
    expect(failing(health)).toBeDefined();
    health.succeeded();
    expect(failing(health)).toBeUndefined();
  });

  it('does not fail while a success is inside the window, even after many failures', () => {
    let clock = 5_000;
    const health = new JoinHealth({ failures: 2, windowMs: 1_000 }, { now: () => clock });
    health.succeeded();
    clock += 100;
    health.failed();
    health.failed();
    expect(failing(health)).toBeUndefined();
    clock += 1_000;
    health.failed();
    health.failed();
    expect(failing(health)).toBeDefined();
  });

  it('passes again when the failures have aged out of the window', () => {
    let clock = 5_000;
    const health = new JoinHealth({ failures: 2, windowMs: 1_000 }, { now: () => clock });
    health.failed();
    health.failed();
    expect(failing(health)).toBeDefined();
    clock += 1_001;
    expect(failing(health)).toBeUndefined();
  });

  it('rejects options that are not positive with RR_OPTION_INVALID, naming the option', () => {
    expect(() => new JoinHealth({ failures: 0 })).toThrow(
      expect.objectContaining({ code: 'RR_OPTION_INVALID', message: expect.stringMatching(/joinHealth\.failures/) }),
    );
    expect(() => new JoinHealth({ windowMs: 0 })).toThrow(
      expect.objectContaining({ code: 'RR_OPTION_INVALID', message: expect.stringMatching(/joinHealth\.windowMs/) }),
    );
  });
});
