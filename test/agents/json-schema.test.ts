/**
 * The schemas agents register survive MeshAgent's strict-schema treatment unchanged (the LLM schema rule), and
 * the null-means-absent half of the rule holds on real calls.
 */
import path from 'node:path';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { defineAgent } from '../../src/agents/define-agent.js';
import { discoverAgents } from '../../src/agents/discover.js';
import { toolkitRegistration } from '../../src/agents/host.js';
import { registeredJsonSchema, zodJsonSchema } from '../../src/agents/json-schema.js';
import { createAgentHarness } from '../../src/agents/testing.js';
import { ensureStrictJsonSchema } from '../support/strict-schema.js';

const SAMPLE_AGENTS = path.resolve(import.meta.dirname, '../../agents');

/** Keywords of the structured-outputs subset; anything else in a registered input schema is a bug. */
const SUBSET = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'anyOf',
  'enum',
  'const',
  'description',
  'title',
  '$defs',
  '$ref',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
]);

/** Every keyword used anywhere in a schema (property names and $defs names are not keywords). */
function keywords(schema: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) for (const entry of schema) keywords(entry, found);
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return found;
  for (const [key, value] of Object.entries(schema)) {
    found.add(key);
    if (key === 'properties' || key === '$defs') for (const entry of Object.values(value as object)) keywords(entry, found);
    else if (key !== 'enum' && key !== 'const' && key !== 'required') keywords(value, found);
  }
  return found;
}

/** Every `$ref` that has other keywords next to it (which the strict treatment would inline). */
function refsWithSiblings(schema: unknown): number {
  if (Array.isArray(schema)) return schema.reduce((n: number, entry) => n + refsWithSiblings(entry), 0);
  if (typeof schema !== 'object' || schema === null) return 0;
  const own = '$ref' in schema && Object.keys(schema).length > 1 ? 1 : 0;
  return own + Object.values(schema).reduce((n: number, value) => n + refsWithSiblings(value), 0);
}

const Node: z.ZodType = z.lazy(() => z.object({ value: z.int(), children: z.array(Node) }));
const Shared = z.object({ street: z.string() }).meta({ id: 'Address' });

/** Schemas agents are likely to use, each a shape the conversion must handle. */
const SHAPES: Record<string, z.ZodType> = {
  'required fields': z.strictObject({ a: z.int(), b: z.number(), c: z.string(), d: z.boolean() }),
  'optional fields': z.object({ name: z.string().optional(), count: z.int().optional() }),
  'nullable and optional': z.object({ note: z.string().nullable().optional(), tag: z.string().nullable() }),
  'a default': z.object({ limit: z.int().min(1).max(100).default(10).describe('how many') }),
  'nested objects and arrays': z.object({
    items: z
      .array(z.object({ id: z.string().uuid(), qty: z.int().optional() }))
      .min(1)
      .max(10),
  }),
  'enums and literals': z.object({ mode: z.enum(['fast', 'slow']), kind: z.literal('x'), maybe: z.enum(['a', 'b']).optional() }),
  'a union': z.object({ id: z.union([z.string(), z.int()]) }),
  'a discriminated union': z.object({
    shape: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('circle'), r: z.number() }),
      z.object({ kind: z.literal('square'), side: z.number().optional() }),
    ]),
  }),
  'a recursive tree': z.object({ root: Node }),
  'a shared schema with a description on one use': z.object({ home: Shared, work: Shared.describe('the office').optional() }),
  'string constraints outside the subset': z.object({ code: z.string().min(2).max(8), email: z.email(), site: z.url() }),
  'an intersection': z.intersection(z.object({ a: z.string() }), z.object({ b: z.string().optional() })),
  'no fields': z.object({}),
};

describe('registered schemas and the strict-schema treatment', () => {
  it('leaves every schema the sample agents register unchanged, input and output', async () => {
    const found = await discoverAgents(SAMPLE_AGENTS);
    expect(found.map((agent) => agent.toolkit.name).sort()).toEqual(['samples.adder', 'samples.counter', 'samples.summer', 'samples.tally']);
    for (const { toolkit } of found) {
      for (const tool of Object.values(toolkitRegistration(toolkit).tools)) {
        const specs = [
          (tool as Record<string, { schema: Record<string, unknown> }>)['input_spec'],
          (tool as Record<string, { schema: Record<string, unknown> }>)['output_spec'],
        ];
        for (const spec of specs) {
          const schema = spec?.schema as Record<string, unknown>;
          expect(ensureStrictJsonSchema(schema)).toStrictEqual(schema);
          expect([...keywords(schema)].filter((key) => !SUBSET.has(key))).toEqual([]);
          expect(schema).not.toHaveProperty('$schema');
        }
      }
    }
  });

  it.each(Object.entries(SHAPES))('leaves %s unchanged, with subset keywords only and no $ref beside other keywords', (_label, schema) => {
    for (const side of ['input', 'output'] as const) {
      const registered = registeredJsonSchema(schema, side, 'test');
      expect(ensureStrictJsonSchema(registered)).toStrictEqual(registered);
      expect([...keywords(registered)].filter((key) => !SUBSET.has(key))).toEqual([]);
      expect(refsWithSiblings(registered)).toBe(0);
    }
  });

  it('changes zod’s own schema of an optional field, which is why the conversion exists', () => {
    const raw = zodJsonSchema(z.object({ a: z.string(), b: z.string().optional() }), 'input', 'test');
    expect(ensureStrictJsonSchema(raw)).not.toStrictEqual(raw);
    expect(ensureStrictJsonSchema(raw)['required']).toEqual(['a', 'b']);
  });

  it('emits an optional field as required and nullable, and a default in the description', () => {
    expect(registeredJsonSchema(z.object({ name: z.string().optional(), limit: z.int().default(10).describe('how many') }), 'input', 'test')).toStrictEqual({
      type: 'object',
      properties: {
        name: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        limit: {
          anyOf: [
            { type: 'integer', minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, description: 'how many Default: 10.' },
            { type: 'null' },
          ],
        },
      },
      required: ['name', 'limit'],
      additionalProperties: false,
    });
  });

  it.each([
    ['open-ended keys', z.object({ tags: z.record(z.string(), z.string()) }), 'input.tags', /z\.record/],
    ['extra keys', z.looseObject({ a: z.string() }), 'input', /z\.record or z\.looseObject/],
    ['any value', z.object({ blob: z.unknown() }), 'input.blob', /accepts any value/],
    ['a tuple', z.object({ pair: z.tuple([z.string(), z.int()]) }), 'input.pair', /tuple/],
    ['an input that is not an object', z.string(), 'input', /must be a JSON object/],
  ])('refuses an input with %s at definition time, naming the field', (_label, input, where, why) => {
    let thrown: unknown;
    try {
      defineAgent({ name: 'samples.bad', input, output: z.object({}), run: () => ({}) });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'RR_AGENT_DEFINITION_INVALID', data: { side: 'input', path: where } });
    expect((thrown as Error).message).toMatch(why);
    expect((thrown as Error).message).toContain('samples.bad');
  });

  it('accepts open outputs, which no model writes', () => {
    const agent = defineAgent({
      name: 'samples.open',
      input: z.object({}),
      output: z.object({ extra: z.record(z.string(), z.int()), any: z.unknown() }),
      run: () => ({ extra: {}, any: 1 }),
    });
    const output = agent.tools.ask.outputJsonSchema;
    expect(ensureStrictJsonSchema(output)).toStrictEqual(output);
  });
});

describe('null means absent', () => {
  const seen: unknown[] = [];
  const agent = defineAgent({
    name: 'samples.optional',
    input: z.strictObject({
      name: z.string().optional(),
      limit: z.int().default(10),
      note: z.string().nullable().optional(),
      items: z.array(z.strictObject({ id: z.string(), qty: z.int().optional() })).optional(),
    }),
    output: z.strictObject({ greeting: z.string(), detail: z.string().optional() }),
    run: (args) => {
      seen.push(args);
      return args.name === undefined ? { greeting: 'hello' } : { greeting: `hello ${args.name}`, detail: 'named' };
    },
  });
  const room = createAgentHarness([agent]);

  it('treats null for an optional field as absent, applying its default', async () => {
    seen.length = 0;
    await room.call('samples.optional', { name: null, limit: null, note: null, items: [{ id: 'a', qty: null }] });
    expect(seen).toStrictEqual([{ limit: 10, note: null, items: [{ id: 'a' }] }]);
  });

  it('still takes arguments that leave optional fields out, and refuses null for a required one', async () => {
    seen.length = 0;
    await room.call('samples.optional', {});
    expect(seen).toStrictEqual([{ limit: 10 }]);
    const { content } = await room.invoke('samples.optional', 'ask', { type: 'json', json: { items: [{ id: null }] } });
    expect(content).toMatchObject({ type: 'error', code: 1002 });
  });

  it('sends an absent optional output field as null, as the output schema promises', async () => {
    await expect(room.call('samples.optional', {})).resolves.toStrictEqual({ greeting: 'hello', detail: null });
    await expect(room.call('samples.optional', { name: 'ada' })).resolves.toStrictEqual({ greeting: 'hello ada', detail: 'named' });
  });
});
