import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { counter } from '../../agents/counter.js';
import { tally } from '../../agents/tally.js';
import { RoomrunnerError } from '../../src/errors.js';
import { createAgentHarness, defineAgent } from '../../src/index.js';

const room = createAgentHarness([adder, counter, tally]);

async function collect<T>(values: AsyncIterable<T>): Promise<{ got: T[]; error?: RoomrunnerError }> {
  const got: T[] = [];
  try {
    for await (const value of values) got.push(value);
    return { got };
  } catch (error) {
    if (error instanceof RoomrunnerError) return { got, error };
    throw error;
  }
}

describe('reading a call as it arrives with callStream', () => {
  it('yields each chunk of the counter, then its final value', async () => {
    expect(await collect(room.callStream('samples.counter', { to: 3 }))).toEqual({ got: [{ n: 1 }, { n: 2 }, { n: 3 }, { total: 6 }] });
  });

  it('yields a single answer once', async () => {
    expect(await collect(room.callStream('samples.adder', { a: 1, b: 2 }))).toEqual({ got: [{ result: 3 }] });
  });

  it('sends streamed input and reads a streamed answer', async () => {
    async function* numbers(): AsyncGenerator<{ n: number }> {
      yield* [{ n: 1 }, { n: 2 }];
    }
    expect(await collect(room.callStream('samples.tally', numbers(), { tool: 'running' }))).toEqual({ got: [{ total: 1 }, { total: 3 }, { total: 3 }] });
  });

  it('fails with the code a room caller gets when the input is refused', async () => {
    // @ts-expect-error to is an integer; the runner refuses the string the same way at run time
    const { got, error } = await collect(room.callStream('samples.counter', { to: 'three' }));
    expect(got).toEqual([]);
    expect([error?.code, error?.contentCode]).toEqual(['RR_ROOM_SERVER_ERROR', 1002]);
  });

  it('fails after the chunks already sent when a streaming agent throws', async () => {
    const flaky = defineAgent({
      name: 'flaky',
      input: z.object({}),
      chunk: z.object({ n: z.int() }),
      output: z.object({}),
      async *run() {
        yield { n: 1 };
        throw new Error('lost the thread');
      },
    });
    const { got, error } = await collect(createAgentHarness([flaky]).callStream('flaky', {}));
    expect(got).toEqual([{ n: 1 }]);
    expect([error?.message, error?.contentCode]).toEqual(['lost the thread', 1008]);
  });

  it('fails with RR_ROOM_STREAM_CLOSED when a chunk breaks its schema', async () => {
    const sloppy = defineAgent({
      name: 'sloppy',
      input: z.object({}),
      chunk: z.object({ n: z.int() }),
      output: z.object({}),
      async *run() {
        yield { n: 'two' } as unknown as { n: number };
        return {};
      },
    });
    const { error } = await collect(createAgentHarness([sloppy]).callStream('sloppy', {}));
    expect([error?.code, error?.data['statusCode']]).toEqual(['RR_ROOM_STREAM_CLOSED', 1007]);
  });

  it('answers 1003 for a toolkit the harness does not have', async () => {
    const loose = createAgentHarness<typeof adder | typeof counter>([adder]);
    await expect(loose.call('samples.counter', { to: 1 })).rejects.toMatchObject({ contentCode: 1003 });
    const { error } = await collect(loose.callStream('samples.counter', { to: 1 }));
    expect(error?.contentCode).toBe(1003);
  });
});

describe('calling an agent by value', () => {
  it('adds an agent the harness lacks and answers through it', async () => {
    const echo = defineAgent({ name: 'my.echo', input: z.object({ text: z.string() }), output: z.object({ text: z.string() }), run: (args) => args });
    const h = createAgentHarness([adder]);
    await expect(h.call(echo, { text: 'hi' })).resolves.toEqual({ text: 'hi' });
    await expect(h.invoke('my.echo', 'ask', { type: 'json', json: { text: 'again' } })).resolves.toMatchObject({ outcome: 'ok' });
  });
});
