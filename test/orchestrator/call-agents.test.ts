import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { isRoomrunnerError } from '../../src/errors.js';
import { defineAgent } from '../../src/index.js';
import { agentsForCall } from '../../src/orchestrator/call-agents.js';

const echo = defineAgent({ name: 't.echo', input: z.object({}), output: z.object({}), run: () => ({}) });
const ALL = [adder, echo];

function refusal(args: Record<string, unknown>): unknown {
  try {
    agentsForCall(ALL, args);
  } catch (err) {
    return isRoomrunnerError(err) ? { code: err.code, message: err.message } : err;
  }
  return undefined;
}

describe('agentsForCall', () => {
  it('hosts every agent when arguments.agents is absent or null', () => {
    expect(agentsForCall(ALL, null)).toEqual(ALL);
    expect(agentsForCall(ALL, { other: 1 })).toEqual(ALL);
    expect(agentsForCall(ALL, { agents: null })).toEqual(ALL);
  });

  it('hosts only the named agents, in the order named, each once', () => {
    expect(agentsForCall(ALL, { agents: ['t.echo'] })).toEqual([echo]);
    expect(agentsForCall(ALL, { agents: ['t.echo', 'samples.adder', 't.echo'] })).toEqual([echo, adder]);
    expect(agentsForCall(ALL, { agents: [] })).toEqual([]);
  });

  it('refuses a name it does not host, naming it and the known agents', () => {
    expect(refusal({ agents: ['samples.adder', 'nope'] })).toEqual({
      code: 'RR_CALL_AGENTS_UNKNOWN',
      message: 'room.call names agents roomrunner does not host: nope (known: samples.adder, t.echo)',
    });
  });

  it('refuses arguments.agents that is not a list of names', () => {
    expect(refusal({ agents: 'samples.adder' })).toMatchObject({ code: 'RR_CALL_AGENTS_UNKNOWN' });
    expect(refusal({ agents: [1] })).toMatchObject({ code: 'RR_CALL_AGENTS_UNKNOWN' });
  });
});
