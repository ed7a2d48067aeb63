import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { defineAgent, type AgentContext } from '../../src/index.js';

describe('defineAgent type inference', () => {
  it('types run() arguments from the input schema and its return from the output schema', () => {
    defineAgent({
      name: 'x',
      input: z.object({ a: z.int(), tags: z.array(z.string()).default([]) }),
      output: z.object({ n: z.number() }),
      run(args, ctx) {
        expectTypeOf(args).toEqualTypeOf<{ a: number; tags: string[] }>();
        expectTypeOf(ctx).toEqualTypeOf<AgentContext>();
        return { n: args.a };
      },
    });
  });

  it('refuses a handler that returns the wrong shape', () => {
    defineAgent({
      name: 'x',
      input: z.object({}),
      output: z.object({ n: z.number() }),
      // @ts-expect-error the output needs n: number
      run: () => ({ n: 'not a number' }),
    });
  });

  it('keeps the schemas on the agent value', () => {
    const agent = defineAgent({ name: 'x', input: z.object({ a: z.string() }), output: z.string(), run: ({ a }) => a });
    expectTypeOf(agent.tools.ask.input).toEqualTypeOf<z.ZodObject<{ a: z.ZodString }, z.core.$strip>>();
  });
});
