import { describe, expect, it } from 'vitest';
import { InvokeToolSchema, ListToolkitsResponseSchema, RegisterToolkitSchema, parseHeader } from '../../src/protocol/messages.js';

describe('message schemas (§E)', () => {
  it('accepts the npm 0.39.9 register_toolkit header and keeps unknown keys', () => {
    const header = {
      name: 'simple-echo',
      title: 'simple-echo',
      description: '',
      public: true,
      tools: { echo: { title: 'Echo', description: 'echo', input_spec: { types: ['json'], stream: false, schema: { type: 'object' } } } },
      extra: 1,
    };
    expect(parseHeader(RegisterToolkitSchema, header, 'room.register_toolkit')).toMatchObject({ name: 'simple-echo', public: true, extra: 1 });
  });

  it('defaults public to false, as startHostedToolkit does', () => {
    expect(parseHeader(RegisterToolkitSchema, { name: 'x', tools: {} }, 'room.register_toolkit').public).toBe(false);
  });

  it('names the field and the problem when a header is malformed', () => {
    expect(() => parseHeader(InvokeToolSchema, { toolkit: 'a', arguments: { type: 'json' } }, 'room.invoke_tool')).toThrow(
      expect.objectContaining({ code: 'RR_MESSAGE_INVALID', message: expect.stringMatching(/^invalid room\.invoke_tool: tool: /) }),
    );
  });

  it('requires the toolkit map of list_toolkits to be an object, as npm does', () => {
    expect(ListToolkitsResponseSchema.safeParse({ tools: [] }).success).toBe(false);
    expect(ListToolkitsResponseSchema.safeParse({ tools: { a: { name: 'a', tools: {} } } }).success).toBe(true);
  });
});
