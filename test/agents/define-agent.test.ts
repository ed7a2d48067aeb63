import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { TypedAgent, createAgentHarness, defineAgent, isToolkit, type AgentContext } from '../../src/index.js';

const Input = z.strictObject({ a: z.int(), b: z.int() });
const Output = z.strictObject({ result: z.int() });

class ClassAdder extends TypedAgent<typeof Input, typeof Output> {
  constructor() {
    super({ name: 'samples.class-adder', title: 'class adder', description: 'adds', inputModel: Input, outputModel: Output });
  }

  ask(_context: AgentContext, args: z.output<typeof Input>): z.input<typeof Output> {
    return { result: args.a + args.b };
  }
}

describe('defining agents', () => {
  it('makes a toolkit named after the agent with one tool "ask"', () => {
    expect(adder.name).toBe('samples.adder');
    expect(Object.keys(adder.tools)).toEqual(['ask']);
    expect(adder.public).toBe(true);
    expect(isToolkit(adder)).toBe(true);
  });

  it('carries the JSON Schema zod generates for input and output', () => {
    expect(adder.tools.ask.inputJsonSchema).toMatchObject({
      type: 'object',
      required: ['a', 'b'],
      additionalProperties: false,
      properties: { a: { type: 'integer' } },
    });
    expect(adder.tools.ask.outputJsonSchema).toMatchObject({ type: 'object', required: ['result'] });
  });

  it('gives the class form the same shape and behaviour', async () => {
    const agent = new ClassAdder();
    expect(isToolkit(agent)).toBe(true);
    expect(agent.tools.ask.inputJsonSchema).toEqual(adder.tools.ask.inputJsonSchema);
    await expect(createAgentHarness([agent]).call(agent, { a: 2, b: 3 })).resolves.toEqual({ result: 5 });
  });

  it.each([
    ['an empty name', { name: '' }, /non-empty "name"/],
    ['an input that is not a zod schema', { input: { a: 1 } }, /"input" must be a zod schema/],
    ['a handler that is not a function', { run: 1 }, /"run" must be a function/],
    ['a zero deadline', { timeoutMs: 0 }, /"timeoutMs" must be a positive/],
    ['a fractional concurrency', { concurrency: 1.5 }, /"concurrency" must be a positive integer/],
  ])('refuses %s with RR_AGENT_DEFINITION_INVALID', (_name, override, message) => {
    const base = { name: 'x', input: z.object({}), output: z.object({}), run: () => ({}) };
    expect(() => defineAgent({ ...base, ...override } as never)).toThrow(
      expect.objectContaining({ code: 'RR_AGENT_DEFINITION_INVALID', message: expect.stringMatching(message) }),
    );
  });
});
