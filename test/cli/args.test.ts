import { describe, expect, it } from 'vitest';
import { failureMessage, integerFlag, integerRule, parseFlags, UsageError, type FlagSpecs } from '../../src/cli/args.js';
import { RoomrunnerError } from '../../src/errors.js';

const SPECS = {
  json: { type: 'boolean', description: 'JSON out.' },
  room: { type: 'string', placeholder: '<name>', description: 'Room.' },
} as const satisfies FlagSpecs;

function usageMessage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error('expected a UsageError');
}

describe('number flags', () => {
  it('say the range in the same words for every bound, with the value given', () => {
    expect(usageMessage(() => integerFlag('port', 'abc', 0, { min: 0, max: 65_535 }))).toBe('--port must be an integer from 0 to 65535, got "abc"');
    expect(usageMessage(() => integerFlag('wait-ms', '-1', 0, { min: 0 }))).toBe('--wait-ms must be an integer of 0 or more, got "-1"');
    expect(usageMessage(() => integerFlag('n', '1.5', 0, { max: 10 }))).toBe('--n must be an integer of at most 10, got "1.5"');
    expect(usageMessage(() => integerFlag('n', '1e3', 0))).toBe('--n must be an integer, got "1e3"');
  });

  it('read an integer within the range, and the fallback when absent', () => {
    expect(integerFlag('port', ' 8080 ', 1, { min: 0, max: 65_535 })).toBe(8080);
    expect(integerFlag('port', undefined, 1, { min: 0 })).toBe(1);
  });

  it('word the rule once, for messages outside the flag parser', () => {
    expect([integerRule({ min: 1 }), integerRule({ min: 0, max: 9 }), integerRule()]).toEqual([
      'must be an integer of 1 or more',
      'must be an integer from 0 to 9',
      'must be an integer',
    ]);
  });
});

describe('switch flags', () => {
  it('say that a switch takes no value and how to turn it on or off', () => {
    expect(usageMessage(() => parseFlags(['--json=false'], SPECS))).toBe(
      'flag --json is a switch and takes no value: give --json to turn it on, leave it out for off',
    );
  });

  it('point at the switch when its meant value follows it as a separate word', () => {
    expect(usageMessage(() => parseFlags(['--json', 'yes'], SPECS))).toBe(
      'unexpected argument "yes": this command takes only flags (--json is a switch and takes no value: give it alone to turn it on)',
    );
    expect(usageMessage(() => parseFlags(['stray'], SPECS))).toBe('unexpected argument "stray": this command takes only flags');
  });
});

describe('failure messages of a room connect', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const notReady = new RoomrunnerError('RR_ROOM_NOT_READY', 'websocket connect to ws://127.0.0.1:1/rooms/r failed: connect ECONNREFUSED 127.0.0.1:1', {
    cause: refused,
  });
  const target = { url: 'ws://127.0.0.1:1/rooms/r', setting: '--api-url / MESHAGENT_API_URL' };

  it('name the URL, the cause, what to check and the setting the URL comes from', () => {
    expect(failureMessage(notReady, target)).toBe(
      'websocket connect to ws://127.0.0.1:1/rooms/r failed: connect ECONNREFUSED 127.0.0.1:1 (nothing is listening there: start the server, or check the host and port; the URL comes from --api-url / MESHAGENT_API_URL)',
    );
  });

  it('keep the message of any other failure', () => {
    const timeout = new RoomrunnerError('RR_ROOM_NOT_READY', 'room_ready and connected did not arrive within 15000 ms');
    expect(failureMessage(timeout, target)).toBe('room_ready and connected did not arrive within 15000 ms');
    expect(failureMessage(notReady)).toBe(notReady.message);
  });
});

describe('usage errors', () => {
  it('are catalogued RoomrunnerErrors (RR_CLI_USAGE) that exit 2', () => {
    const error = new UsageError('--port must be an integer');
    expect(error).toBeInstanceOf(RoomrunnerError);
    expect(error).toMatchObject({ code: 'RR_CLI_USAGE', exitCode: 2, message: '--port must be an integer' });
  });
});
