/**
 * Streamed input: a toolkit that reads numbers as they are sent. `sum` answers once with the total of all of
 * them; `running` answers with a stream of running totals and ends with the total. Callers stream their input,
 * e.g. `ctx.call('samples.tally', 'sum', numbers())` with `numbers` an async generator of `{ n }` objects.
 */
import { z } from 'zod';
import { defineTool, defineToolkit } from '../src/index.js';

const Item = z.strictObject({ n: z.int() });
const Total = z.strictObject({ total: z.int() });

export const tally = defineToolkit({
  name: 'samples.tally',
  title: 'sample tally',
  description: 'adds up numbers sent as a stream',
  tools: {
    sum: defineTool({
      title: 'sum',
      description: 'the total of every number sent',
      input: Item,
      streamInput: true,
      output: Total,
      async run(items) {
        let total = 0;
        for await (const { n } of items) total += n;
        return { total };
      },
    }),
    running: defineTool({
      title: 'running total',
      description: 'a running total after every number sent, then the total',
      input: Item,
      streamInput: true,
      chunk: Total,
      output: Total,
      async *run(items) {
        let total = 0;
        for await (const { n } of items) {
          total += n;
          yield { total };
        }
        return { total };
      },
    }),
  },
});
