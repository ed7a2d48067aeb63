/**
 * The ready-to-paste `roomrunner call` line `roomrunner dev` prints: it names an agent that is really hosted (the
 * Adder when there is one, as in the README, else the first agent), its first tool, and arguments shaped like its
 * input schema (each required property with a placeholder of its type) so the line at least gets past validation
 * for simple agents.
 */
import type { Toolkit } from '../agents/define-agent.js';

const ADDER = 'samples.adder';

export interface ExampleCall {
  readonly agent: string;
  readonly tool: string;
  readonly arguments: Record<string, unknown>;
}

/** The call to suggest, or undefined when there is no agent. */
export function exampleCall(agents: readonly Toolkit[]): ExampleCall | undefined {
  const adder = agents.find((a) => a.name === ADDER && a.tools['ask'] !== undefined);
  if (adder) return { agent: ADDER, tool: 'ask', arguments: { a: 20, b: 22 } };
  const agent = agents[0];
  if (agent === undefined) return undefined;
  const [tool, spec] = Object.entries(agent.tools)[0] ?? [];
  if (tool === undefined || spec === undefined) return undefined;
  const example = exampleValue(spec.inputJsonSchema);
  return {
    agent: agent.name,
    tool,
    arguments: typeof example === 'object' && example !== null && !Array.isArray(example) ? (example as Record<string, unknown>) : {},
  };
}

/** A value of the schema's type: required properties filled, strings "text", numbers their minimum or 1. */
export function exampleValue(schema: unknown, depth = 0): unknown {
  if (typeof schema !== 'object' || schema === null || depth > 4) return null;
  const s = schema as Record<string, unknown>;
  if ('const' in s) return s['const'];
  if (Array.isArray(s['enum']) && s['enum'].length > 0) return s['enum'][0];
  if ('default' in s) return s['default'];
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const options = s[key];
    if (Array.isArray(options) && options.length > 0) return exampleValue(options[0], depth + 1);
  }
  const type = Array.isArray(s['type']) ? s['type'][0] : s['type'];
  switch (type) {
    case 'object': {
      const properties = (s['properties'] ?? {}) as Record<string, unknown>;
      const required = Array.isArray(s['required']) ? (s['required'] as string[]) : [];
      return Object.fromEntries(required.map((name) => [name, exampleValue(properties[name], depth + 1)]));
    }
    case 'array': {
      const min = typeof s['minItems'] === 'number' ? s['minItems'] : 0;
      return Array.from({ length: Math.min(min, 3) }, () => exampleValue(s['items'], depth + 1));
    }
    case 'string':
      return 'text';
    case 'integer':
    case 'number':
      return typeof s['minimum'] === 'number' ? s['minimum'] : 1;
    case 'boolean':
      return true;
    default:
      return null;
  }
}

/** Quote for a POSIX shell: single quotes, with embedded ones closed and escaped. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
