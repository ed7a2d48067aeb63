/**
 * A streaming agent: counts from 1 to `to`, sending each number as a chunk as soon as it has it, and returns the
 * total as its final value. Callers read it as a stream:
 *   roomrunner call --room <r> --agent samples.counter --args '{"to":3}'
 *   → {"n":1}  {"n":2}  {"n":3}  {"total":6}   (one JSON per line; the last line is the final value)
 */
import { z } from 'zod';
import { defineAgent } from '../src/index.js';

export const counter = defineAgent({
  name: 'samples.counter',
  title: 'sample counter',
  description: 'streams the numbers from 1 to `to`, then their total',
  input: z.strictObject({ to: z.int().min(1).max(10_000) }),
  chunk: z.strictObject({ n: z.int() }),
  output: z.strictObject({ total: z.int() }),
  async *run({ to }, ctx) {
    let total = 0;
    for (let n = 1; n <= to; n += 1) {
      ctx.signal.throwIfAborted();
      total += n;
      yield { n };
    }
    return { total };
  },
});
