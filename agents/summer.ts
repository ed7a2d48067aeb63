/**
 * An agent that works with the room: it sums a list of integers by asking the Adder, wherever in the room the
 * Adder is hosted, for each step. It shows `ctx.call` (calling another toolkit), `ctx.signal` (stopping early
 * when the call is aborted) and `ctx.logger`.
 */
import { z } from 'zod';
import { defineAgent } from '../src/index.js';

export const summer = defineAgent({
  name: 'samples.summer',
  title: 'sum through the adder',
  description: 'sums a list of integers by calling samples.adder in the same room',
  input: z.strictObject({ numbers: z.array(z.int()).min(1).max(1000) }),
  output: z.strictObject({ total: z.int(), calls: z.int() }),
  async run({ numbers }, ctx) {
    let total = numbers[0] as number;
    let calls = 0;
    for (const n of numbers.slice(1)) {
      ctx.signal.throwIfAborted();
      const answer = (await ctx.call('samples.adder', 'ask', { a: total, b: n })) as { result: number };
      total = answer.result;
      calls += 1;
    }
    ctx.logger.debug({ calls }, 'summed through the adder');
    return { total, calls };
  },
});
