import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { summer } from '../../agents/summer.js';
import { createAgentHarness, defineAgent, defineTool, defineToolkit } from '../../src/index.js';

const harness = createAgentHarness([adder, summer]);

describe('running an agent call', () => {
  it('answers the Adder with { result: 3 }', async () => {
    await expect(harness.call('samples.adder', { a: 1, b: 2 })).resolves.toEqual({ result: 3 });
  });

  it('refuses a string where an integer belongs with 1002, naming the field', async () => {
    const { content, outcome } = await harness.invoke('samples.adder', 'ask', { type: 'json', json: { a: 'x', b: 2 } });
    expect(outcome).toBe('invalid_input');
    expect(content).toEqual({ type: 'error', code: 1002, text: 'Invalid arguments for agent samples.adder: a: Invalid input: expected number, received string' });
  });

  it('refuses a missing field with 1002', async () => {
    await expect(harness.call('samples.adder', { a: 1 })).rejects.toMatchObject({ contentCode: 1002, message: expect.stringContaining('b: Invalid input') });
  });

  it('refuses an extra key with 1002', async () => {
    await expect(harness.call('samples.adder', { a: 1, b: 2, c: 3 })).rejects.toMatchObject({ contentCode: 1002, message: expect.stringContaining('Unrecognized key: "c"') });
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
    const thrower = defineAgent({ name: 't.thrower', input: z.object({}), output: z.object({}), run: () => { throw new Error('boom'); } });
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
    const stuck = defineAgent({ name: 't.stuck', input: z.object({}), output: z.object({}), concurrency: 1, timeoutMs: 40, run: () => new Promise<Record<string, never>>(() => undefined) });
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
