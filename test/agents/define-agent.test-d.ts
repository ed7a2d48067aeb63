import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { defineAgent, defineTool, defineToolkit, type AgentContext } from '../../src/index.js';

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

  it('keeps the literal name on the agent and toolkit values, for calls typed by name', () => {
    expectTypeOf(defineAgent({ name: 'samples.x', input: z.object({}), output: z.object({}), run: () => ({}) }).name).toEqualTypeOf<'samples.x'>();
    const tool = defineTool({ input: z.object({}), output: z.number(), run: () => 1 });
    const kit = defineToolkit({ name: 'samples.kit', tools: { one: tool } });
    expectTypeOf(kit.name).toEqualTypeOf<'samples.kit'>();
    expectTypeOf(kit.tools.one).toEqualTypeOf(tool);
  });

  it('keeps the schemas on the agent value', () => {
    const agent = defineAgent({ name: 'x', input: z.object({ a: z.string() }), output: z.string(), run: ({ a }) => a });
    expectTypeOf(agent.tools.ask.input).toEqualTypeOf<z.ZodObject<{ a: z.ZodString }, z.core.$strip>>();
  });
});

describe('streaming agent type inference', () => {
  it('types yields from the chunk schema and the return from the output schema', () => {
    const agent = defineAgent({
      name: 'x',
      input: z.object({ to: z.int() }),
      chunk: z.object({ n: z.number() }),
      output: z.object({ total: z.number() }),
      async *run(args) {
        expectTypeOf(args).toEqualTypeOf<{ to: number }>();
        yield { n: 1 };
        return { total: args.to };
      },
    });
    expectTypeOf(agent.tools.ask.chunk).toEqualTypeOf<z.ZodObject<{ n: z.ZodNumber }, z.core.$strip>>();
    expectTypeOf(agent.tools.ask.streamInput).toEqualTypeOf<false>();
  });

  it('refuses a yield that does not match the chunk schema', () => {
    defineAgent({
      name: 'x',
      input: z.object({}),
      chunk: z.object({ n: z.number() }),
      output: z.object({}),
      // @ts-expect-error a chunk needs n: number
      async *run() {
        yield { n: 'one' };
        return {};
      },
    });
  });

  it('refuses a streaming run that returns the wrong final value', () => {
    defineAgent({
      name: 'x',
      input: z.object({}),
      chunk: z.object({}),
      output: z.object({ total: z.number() }),
      // @ts-expect-error the final value needs total: number
      async *run() {
        yield {};
        return { total: 'all' };
      },
    });
  });

  it('hands streamed input to run as an async iterable of parsed items', () => {
    const tool = defineTool({
      input: z.object({ n: z.int(), tags: z.array(z.string()).default([]) }),
      streamInput: true,
      output: z.object({ total: z.number() }),
      async run(items) {
        expectTypeOf(items).toEqualTypeOf<AsyncIterable<{ n: number; tags: string[] }>>();
        let total = 0;
        for await (const { n } of items) total += n;
        return { total };
      },
    });
    expectTypeOf(tool.streamInput).toEqualTypeOf<true>();
    defineToolkit({ name: 'kit', tools: { tool } });
  });

  it('refuses a single-answer run that is a generator', () => {
    defineAgent({
      name: 'x',
      input: z.object({}),
      output: z.object({}),
      // @ts-expect-error without a chunk schema, run returns the output itself
      async *run() {
        yield {};
        return {};
      },
    });
  });

  it('types ctx.callStream as an async iterable', () => {
    defineAgent({
      name: 'x',
      input: z.object({}),
      output: z.object({}),
      async run(_args, ctx) {
        expectTypeOf(ctx.callStream('a', 'b', { k: 1 })).toEqualTypeOf<AsyncIterable<unknown>>();
        return {};
      },
    });
  });
});
