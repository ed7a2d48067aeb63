import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { counter } from '../../agents/counter.js';
import { summer } from '../../agents/summer.js';
import { tally } from '../../agents/tally.js';
import { RoomrunnerError } from '../../src/errors.js';
import { createAgentHarness, defineAgent, defineTool, defineToolkit } from '../../src/index.js';
import type { Content } from '../../src/protocol/content.js';
import { CallLimiter, runCall } from '../../src/agents/run-call.js';
import { silentLogger } from '../../src/logger.js';
import { ManualClock } from '../support/manual-clock.js';

const harness = createAgentHarness([adder, summer]);

describe('running an agent call', () => {
  it('answers the Adder with { result: 3 }', async () => {
    await expect(harness.call('samples.adder', { a: 1, b: 2 })).resolves.toEqual({ result: 3 });
  });

  it('refuses a string where an integer belongs with 1002, naming the field', async () => {
    const { content, outcome } = await harness.invoke('samples.adder', 'ask', { type: 'json', json: { a: 'x', b: 2 } });
    expect(outcome).toBe('invalid_input');
    expect(content).toEqual({
      type: 'error',
      code: 1002,
      text: 'Invalid arguments for agent samples.adder: a: Invalid input: expected number, received string',
    });
  });

  it('refuses a missing field with 1002', async () => {
    // @ts-expect-error a typed call needs b too; the runner refuses it the same way at run time
    await expect(harness.call('samples.adder', { a: 1 })).rejects.toMatchObject({ contentCode: 1002, message: expect.stringContaining('b: Invalid input') });
  });

  it('refuses an extra key with 1002', async () => {
    // @ts-expect-error the input schema names no c
    await expect(harness.call('samples.adder', { a: 1, b: 2, c: 3 })).rejects.toMatchObject({
      contentCode: 1002,
      message: expect.stringContaining('Unrecognized key: "c"'),
    });
  });

  it('treats an empty content as an empty object, as npm hosts do', async () => {
    const { content } = await harness.invoke('samples.adder', 'ask', { type: 'empty' });
    expect(content).toMatchObject({ type: 'error', code: 1002 });
  });

  it('refuses a non-JSON argument content with 1002', async () => {
    const { content } = await harness.invoke('samples.adder', 'ask', { type: 'text', text: '1+2' });
    expect(content).toMatchObject({ type: 'error', code: 1002, text: expect.stringContaining('requires JSON object input') });
  });

  it('answers 1003 for a tool the toolkit does not have', async () => {
    const { content } = await harness.invoke('samples.adder', 'nope', { type: 'json', json: {} });
    expect(content).toMatchObject({ type: 'error', code: 1003 });
  });

  it('gives a thrown error to the caller with its message and no stack, code 1008', async () => {
    const thrower = defineAgent({
      name: 't.thrower',
      input: z.object({}),
      output: z.object({}),
      run: () => {
        throw new Error('boom');
      },
    });
    const { content, outcome } = await createAgentHarness([thrower]).invoke('t.thrower', 'ask', { type: 'json', json: {} });
    expect(outcome).toBe('failed');
    expect(content).toEqual({ type: 'error', text: 'boom', code: 1008 });
  });

  it('refuses output that does not match the output schema with 1008', async () => {
    const wrong = defineAgent({ name: 't.wrong', input: z.object({}), output: z.object({ n: z.int() }), run: () => ({ n: 'x' }) as unknown as { n: number } });
    const { content, outcome } = await createAgentHarness([wrong]).invoke('t.wrong', 'ask', { type: 'json', json: {} });
    expect(outcome).toBe('invalid_output');
    expect(content).toMatchObject({ type: 'error', code: 1008, text: expect.stringContaining('does not match its output schema: n:') });
  });

  it('answers 1009 past the deadline and aborts ctx.signal', async () => {
    let aborted: unknown;
    const slow = defineAgent({
      name: 't.slow',
      input: z.object({}),
      output: z.object({}),
      timeoutMs: 30,
      run: (_args, ctx) =>
        new Promise<Record<string, never>>((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
            reject(new Error('late rejection must not leak'));
          });
        }),
    });
    const { content, outcome } = await createAgentHarness([slow]).invoke('t.slow', 'ask', { type: 'json', json: {} });
    expect(outcome).toBe('timeout');
    expect(content).toEqual({ type: 'error', code: 1009, text: 'agent t.slow did not answer within 30 ms' });
    expect(aborted).toMatchObject({ code: 'RR_AGENT_TIMEOUT' });
  });

  it('queues calls past the concurrency limit and answers busy only when the queue is full too', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let running = 0;
    let most = 0;
    const single = defineAgent({
      name: 't.single',
      input: z.object({}),
      output: z.object({ ok: z.boolean() }),
      concurrency: 1,
      maxQueue: 1,
      run: async () => {
        most = Math.max(most, ++running);
        await gate;
        running -= 1;
        return { ok: true };
      },
    });
    const h = createAgentHarness([single]);
    const first = h.invoke('t.single', 'ask', { type: 'json', json: {} });
    const queued = h.invoke('t.single', 'ask', { type: 'json', json: {} });
    const third = await h.invoke('t.single', 'ask', { type: 'json', json: {} });
    expect(third).toMatchObject({ outcome: 'busy', content: { code: 1006, text: expect.stringContaining('is busy: 1 calls running and 1 waiting') } });
    release();
    await expect(first).resolves.toMatchObject({ outcome: 'ok' });
    await expect(queued).resolves.toMatchObject({ outcome: 'ok' });
    expect(most).toBe(1);
  });

  it('counts time spent waiting for a slot against the deadline', async () => {
    const stuck = defineAgent({
      name: 't.stuck',
      input: z.object({}),
      output: z.object({}),
      concurrency: 1,
      timeoutMs: 40,
      run: () => new Promise<Record<string, never>>(() => undefined),
    });
    const h = createAgentHarness([stuck]);
    const [a, b] = await Promise.all([h.invoke('t.stuck', 'ask', { type: 'json', json: {} }), h.invoke('t.stuck', 'ask', { type: 'json', json: {} })]);
    expect([a.outcome, b.outcome]).toEqual(['timeout', 'timeout']);
  });

  it('aborts a call when the outside signal fires and says why', async () => {
    const hang = defineAgent({ name: 't.hang', input: z.object({}), output: z.object({}), run: () => new Promise<Record<string, never>>(() => undefined) });
    const controller = new AbortController();
    const pending = createAgentHarness([hang]).invoke('t.hang', 'ask', { type: 'json', json: {} }, { signal: controller.signal });
    controller.abort(new Error('room ended'));
    await expect(pending).resolves.toMatchObject({ outcome: 'aborted', content: { code: 1006, text: 'call to agent t.hang was aborted: room ended' } });
  });

  it('lets an agent call another toolkit in the room through ctx', async () => {
    await expect(harness.call('samples.summer', { numbers: [1, 2, 3, 4] })).resolves.toEqual({ total: 10, calls: 3 });
  });

  it('passes a downstream error code through ctx.call', async () => {
    const lonely = createAgentHarness([summer]);
    await expect(lonely.call('samples.summer', { numbers: [1, 2] })).rejects.toMatchObject({ contentCode: 1003 });
  });

  it('groups several tools in one toolkit', async () => {
    const math = defineToolkit({
      name: 'samples.math',
      tools: {
        add: defineTool({ input: z.object({ a: z.number(), b: z.number() }), output: z.number(), run: ({ a, b }) => a + b }),
        negate: defineTool({ input: z.object({ x: z.number() }), output: z.number(), run: ({ x }) => -x }),
      },
    });
    const h = createAgentHarness([math]);
    await expect(h.call('samples.math', { a: 2, b: 5 }, { tool: 'add' })).resolves.toBe(7);
    await expect(h.call('samples.math', { x: 2 }, { tool: 'negate' })).resolves.toBe(-2);
  });
});

describe('running a streaming call (docs/protocol.md §E.5)', () => {
  const streams = createAgentHarness([counter, tally]);
  const json = (value: unknown): Content => ({ type: 'json', json: value });
  const close = { type: 'control', method: 'close', statusCode: 1000 };
  async function* items(...values: unknown[]): AsyncGenerator<Content> {
    for (const value of values) yield json(value);
  }
  async function read(stream: AsyncIterable<unknown>): Promise<{ got: unknown[]; error?: RoomrunnerError }> {
    const got: unknown[] = [];
    try {
      for await (const value of stream) got.push(value);
      return { got };
    } catch (error) {
      if (error instanceof RoomrunnerError) return { got, error };
      throw error;
    }
  }

  it('sends each chunk the counter yields, then its final value, then a normal close', async () => {
    const { chunks, content, outcome } = await streams.invoke('samples.counter', 'ask', json({ to: 3 }));
    expect(chunks).toEqual([json({ n: 1 }), json({ n: 2 }), json({ n: 3 }), json({ total: 6 })]);
    expect([content, outcome]).toEqual([close, 'ok']);
  });

  it('gives ctx.call and harness.call the final value of a stream', async () => {
    await expect(streams.call('samples.counter', { to: 4 })).resolves.toEqual({ total: 10 });
  });

  it('ends the stream with 1007 and a readable reason when a chunk does not match the chunk schema', async () => {
    const sloppy = defineAgent({
      name: 'sloppy',
      input: z.object({}),
      chunk: z.object({ n: z.int() }),
      output: z.object({}),
      async *run() {
        yield { n: 1 };
        yield { n: 'two' } as unknown as { n: number };
        return {};
      },
    });
    const { chunks, content, outcome } = await createAgentHarness([sloppy]).invoke('sloppy', 'ask', json({}));
    expect(chunks).toEqual([json({ n: 1 })]);
    expect(outcome).toBe('invalid_output');
    expect(content).toEqual({
      type: 'control',
      method: 'close',
      statusCode: 1007,
      message: 'agent sloppy yielded chunk 1 that does not match its chunk schema: n: Invalid input: expected number, received string',
    });
  });

  it('ends the stream with 1007 when the final value does not match the output schema', async () => {
    const wrong = defineAgent({
      name: 'wrong',
      input: z.object({}),
      chunk: z.object({}),
      output: z.object({ total: z.int() }),
      // biome-ignore lint/correctness/useYield: a stream that ends at once with a wrong final value
      async *run() {
        return { total: 0.5 };
      },
    });
    const { content } = await createAgentHarness([wrong]).invoke('wrong', 'ask', json({}));
    expect(content).toMatchObject({
      type: 'control',
      statusCode: 1007,
      message: expect.stringMatching(/^agent wrong returned a final value that does not match its output schema: total: /),
    });
  });

  it('sends an error chunk and then a normal close when a streaming agent throws (the SDKs do the same)', async () => {
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
    const h = createAgentHarness([flaky]);
    const { chunks, content, outcome } = await h.invoke('flaky', 'ask', json({}));
    expect([chunks, content, outcome]).toEqual([[json({ n: 1 })], { type: 'error', text: 'lost the thread', code: 1008 }, 'failed']);
    expect(await read(h.stream('flaky', 'ask', json({})))).toEqual({ got: [json({ n: 1 }), { type: 'error', text: 'lost the thread', code: 1008 }] });
  });

  it('reads streamed input as validated items, for a single answer and for a stream', async () => {
    async function* numbers(): AsyncGenerator<{ n: number }> {
      yield* [{ n: 1 }, { n: 2 }, { n: 3 }];
    }
    await expect(streams.call('samples.tally', numbers(), { tool: 'sum' })).resolves.toEqual({ total: 6 });
    expect(await read(streams.stream('samples.tally', 'running', items({ n: 1 }, { n: 2 })))).toEqual({
      got: [json({ total: 1 }), json({ total: 3 }), json({ total: 3 })],
    });
  });

  it('ends a streamed answer with 1007 when an input chunk does not match the input schema', async () => {
    const { chunks, content, outcome } = await streams.invoke('samples.tally', 'running', items({ n: 1 }, { n: 'x' }, { n: 3 }));
    expect(chunks).toEqual([json({ total: 1 })]);
    expect(outcome).toBe('invalid_input');
    expect(content).toEqual({
      type: 'control',
      method: 'close',
      statusCode: 1007,
      message: 'input chunk 1 of agent samples.tally does not match its input schema: n: Invalid input: expected number, received string',
    });
    const { error } = await read(streams.stream('samples.tally', 'running', items({ n: 'x' })));
    expect([error?.code, error?.data['statusCode']]).toEqual(['RR_ROOM_STREAM_CLOSED', 1007]);
  });

  it('answers a single-answer tool with 1002 when an input chunk is invalid, even if the handler swallowed it', async () => {
    const forgiving = defineToolkit({
      name: 'forgiving',
      tools: {
        count: defineTool({
          input: z.object({ n: z.int() }),
          streamInput: true,
          output: z.object({ seen: z.int() }),
          async run(input) {
            let seen = 0;
            try {
              for await (const _ of input) seen += 1;
            } catch {
              // a handler that hides the failure must not turn bad input into a good answer
            }
            return { seen };
          },
        }),
      },
    });
    const { content, outcome } = await createAgentHarness([forgiving]).invoke('forgiving', 'count', items({ n: 1 }, 'no'));
    expect(outcome).toBe('invalid_input');
    expect(content).toMatchObject({
      type: 'error',
      code: 1002,
      text: expect.stringContaining('input chunk 1 of agent forgiving does not match its input schema'),
    });
  });

  it('refuses a single argument for a streamed-input tool, and a stream for a tool that takes one value', async () => {
    const single = await streams.invoke('samples.tally', 'sum', json({ n: 1 }));
    expect(single.content).toMatchObject({
      type: 'error',
      code: 1002,
      text: 'tool "sum" of toolkit samples.tally takes streamed input: send its arguments as a stream of json chunks',
    });
    const streamed = await streams.invoke('samples.counter', 'ask', items({ to: 1 }));
    expect(streamed.content).toMatchObject({
      type: 'error',
      code: 1002,
      text: 'tool "ask" of toolkit samples.counter does not take streamed input: send one json object',
    });
  });

  it("lets an agent read another agent's stream with ctx.callStream", async () => {
    const relay = defineAgent({
      name: 'relay',
      input: z.object({ to: z.int() }),
      output: z.object({ seen: z.array(z.unknown()) }),
      async run({ to }, ctx) {
        const seen: unknown[] = [];
        for await (const value of ctx.callStream('samples.counter', 'ask', { to })) seen.push(value);
        return { seen };
      },
    });
    await expect(createAgentHarness([relay, counter]).call('relay', { to: 2 })).resolves.toEqual({ seen: [{ n: 1 }, { n: 2 }, { total: 3 }] });
  });

  it('aborts a stream past its deadline with an error chunk 1009 and stops the generator', async () => {
    vi.useFakeTimers();
    try {
      let stopped = false;
      const slow = defineAgent({
        name: 'slow',
        input: z.object({}),
        chunk: z.object({ n: z.int() }),
        output: z.object({}),
        timeoutMs: 1_000,
        async *run(_args, ctx) {
          try {
            yield { n: 1 };
            await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
            return {};
          } finally {
            stopped = true;
          }
        },
      });
      const pending = createAgentHarness([slow]).invoke('slow', 'ask', json({}));
      await vi.advanceTimersByTimeAsync(1_000);
      const { chunks, content, outcome } = await pending;
      expect([chunks, outcome]).toEqual([[json({ n: 1 })], 'timeout']);
      expect(content).toMatchObject({ type: 'error', code: 1009 });
      await vi.advanceTimersByTimeAsync(0);
      expect(stopped).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('runCall on an injected clock', () => {
  it('answers 1009 exactly when the clock reaches the deadline, not a millisecond before', async () => {
    const clock = new ManualClock();
    const slow = defineAgent({
      name: 't.clocked',
      input: z.object({}),
      output: z.object({}),
      timeoutMs: 5_000,
      run: (_args, ctx) => new Promise<Record<string, never>>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    });
    const roomApi = {
      invokeTool: () => Promise.reject(new Error('no room')),
      invokeStream: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('no room')) }) }),
      listToolkits: () => Promise.resolve({}),
    };
    let settled = false;
    const running = runCall({
      toolkit: slow,
      tool: 'ask',
      arguments: { type: 'json', json: {} },
      room: 'r',
      logger: silentLogger(),
      roomApi,
      limiter: new CallLimiter(),
      clock,
    }).finally(() => (settled = true));
    await clock.advance(4_999);
    expect(settled).toBe(false);
    await clock.advance(1);
    const { content, outcome } = await running;
    expect(outcome).toBe('timeout');
    expect(content).toEqual({ type: 'error', code: 1009, text: 'agent t.clocked did not answer within 5000 ms' });
    expect(clock.pending).toBe(0);
  });
});
