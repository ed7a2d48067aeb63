/**
 * The reference agent, as in MeshAgent's webhook guide: adds two integers.
 * Call it from any participant in the room:
 *   room.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 1, b: 2 } })  // → { result: 3 }
 */
import { z } from 'zod';
import { defineAgent } from '../src/index.js';

export const adder = defineAgent({
  name: 'samples.adder',
  title: 'sample adder',
  description: 'an agent that adds two numbers',
  // strictObject: extra keys are refused, like pydantic's extra="forbid" in the seed example.
  input: z.strictObject({ a: z.int(), b: z.int() }),
  output: z.strictObject({ result: z.int() }),
  run: ({ a, b }) => ({ result: a + b }),
});
