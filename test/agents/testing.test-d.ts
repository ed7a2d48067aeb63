import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { counter } from '../../agents/counter.js';
import { summer } from '../../agents/summer.js';
import { tally } from '../../agents/tally.js';
import { createAgentHarness, defineAgent, TypedAgent, type AgentContext, type AgentHarness, type Content, type Toolkit } from '../../src/index.js';

const room = createAgentHarness([adder, summer, counter, tally]);

async function* numbers(): AsyncGenerator<{ n: number }> {
  yield { n: 1 };
}

describe('harness calls typed by agent name', () => {
  it('types the answer of a call from the agent output schema', () => {
    expectTypeOf(room.call('samples.adder', { a: 1, b: 2 })).toEqualTypeOf<Promise<{ result: number }>>();
    expectTypeOf(room.call('samples.summer', { numbers: [1, 2] })).toEqualTypeOf<Promise<{ total: number; calls: number }>>();
  });

  it('refuses a name that no agent of the harness has', () => {
    // @ts-expect-error no agent samples.nope in this harness
    void room.call('samples.nope', { a: 1, b: 2 });
  });

  it('refuses a wrong argument type, a missing field and an extra key', () => {
    // @ts-expect-error a is an integer, not a string
    void room.call('samples.adder', { a: '1', b: 2 });
    // @ts-expect-error b is missing
    void room.call('samples.adder', { a: 1 });
    // @ts-expect-error the input schema names no c
    void room.call('samples.adder', { a: 1, b: 2, c: 3 });
  });

  it('types the tool option by the tools of the toolkit', () => {
    expectTypeOf(room.call('samples.tally', numbers(), { tool: 'sum' })).toEqualTypeOf<Promise<{ total: number }>>();
    // @ts-expect-error samples.tally has no tool "total"
    void room.call('samples.tally', numbers(), { tool: 'total' });
    // @ts-expect-error samples.tally has no ask tool, so a call must name one
    void room.call('samples.tally', numbers());
  });

  it('asks for streamed input as an async iterable of items, and one value otherwise', () => {
    // @ts-expect-error sum takes its numbers as a stream
    void room.call('samples.tally', { n: 1 }, { tool: 'sum' });
    // @ts-expect-error the adder takes one object
    void room.call(
      'samples.adder',
      (async function* () {
        yield { a: 1, b: 2 };
      })(),
    );
  });

  it('gives a streaming agent its final value from call', () => {
    expectTypeOf(room.call('samples.counter', { to: 3 })).toEqualTypeOf<Promise<{ total: number }>>();
  });

  it('types the chunks and the final value of callStream', () => {
    expectTypeOf(room.callStream('samples.counter', { to: 3 })).toEqualTypeOf<AsyncIterable<{ n: number } | { total: number }>>();
    expectTypeOf(room.callStream('samples.tally', numbers(), { tool: 'running' })).toEqualTypeOf<AsyncIterable<{ total: number }>>();
    expectTypeOf(room.callStream('samples.adder', { a: 1, b: 2 })).toEqualTypeOf<AsyncIterable<{ result: number }>>();
    // @ts-expect-error to is an integer
    void room.callStream('samples.counter', { to: 'three' });
  });

  it('types a call that passes the agent value itself', () => {
    const other = defineAgent({ name: 'my.echo', input: z.object({ text: z.string() }), output: z.object({ text: z.string() }), run: (args) => args });
    expectTypeOf(room.call(other, { text: 'hi' })).toEqualTypeOf<Promise<{ text: string }>>();
    // @ts-expect-error text is a string
    void room.call(other, { text: 1 });
  });

  it('keeps invoke and stream untyped, to send what a typed call refuses', () => {
    expectTypeOf(room.invoke).parameter(0).toEqualTypeOf<string>();
    expectTypeOf(room.stream('anything', 'ask', { type: 'json', json: { a: 'x' } })).toEqualTypeOf<AsyncIterable<Content>>();
  });
});

describe('harness types of optional fields (null means absent)', () => {
  const optional = defineAgent({
    name: 'samples.optional',
    input: z.strictObject({
      name: z.string().optional(),
      limit: z.int().default(10),
      items: z.array(z.strictObject({ id: z.string(), qty: z.int().optional() })).optional(),
    }),
    output: z.strictObject({ greeting: z.string(), detail: z.string().optional(), at: z.strictObject({ x: z.number().optional() }) }),
    run: () => ({ greeting: 'hello', at: {} }),
  });
  const h = createAgentHarness([optional]);

  it('takes null or nothing for an optional field, defaults included, at any depth', () => {
    void h.call('samples.optional', {});
    void h.call('samples.optional', { name: null, limit: null, items: [{ id: 'a', qty: null }] });
    // @ts-expect-error id is required
    void h.call('samples.optional', { items: [{ id: null }] });
  });

  it('types an optional output field as always present and null when left out', () => {
    expectTypeOf(h.call('samples.optional', {})).toEqualTypeOf<Promise<{ greeting: string; detail: string | null; at: { x: number | null } }>>();
  });
});

describe('harnesses over toolkits known only as Toolkit', () => {
  it('takes any name and gives unknown answers when the names are not literal', () => {
    const discovered: Toolkit[] = [adder];
    const loose = createAgentHarness(discovered);
    expectTypeOf(loose).toEqualTypeOf<AgentHarness<Toolkit>>();
    expectTypeOf(loose.call('whatever', { any: 'thing' })).toEqualTypeOf<Promise<unknown>>();
  });

  it('still types the literal names when a loose toolkit is among them', () => {
    const loose: Toolkit = adder;
    const mixed = createAgentHarness([loose, counter]);
    expectTypeOf(mixed.call('samples.counter', { to: 1 })).toEqualTypeOf<Promise<{ total: number }>>();
    expectTypeOf(mixed.call('anything.else', {})).toEqualTypeOf<Promise<unknown>>();
  });

  it('types a class agent passed by value from its models', () => {
    const In = z.object({ x: z.number() });
    const Out = z.object({ y: z.number() });
    class Doubler extends TypedAgent<typeof In, typeof Out> {
      constructor() {
        super({ name: 'samples.doubler', inputModel: In, outputModel: Out });
      }
      ask(_ctx: AgentContext, { x }: { x: number }): { y: number } {
        return { y: 2 * x };
      }
    }
    const doubler = new Doubler();
    expectTypeOf(createAgentHarness([doubler]).call(doubler, { x: 2 })).toEqualTypeOf<Promise<{ y: number }>>();
  });
});
