/**
 * The agents as MCP tools without HTTP: names, listings and results, with the SDK's in-memory transport pair.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { counter } from '../../agents/counter.js';
import { tally } from '../../agents/tally.js';
import { CallLimiter } from '../../src/agents/run-call.js';
import { defineAgent, defineTool, defineToolkit } from '../../src/index.js';
import { silentLogger } from '../../src/logger.js';
import { mcpEntries, mcpToolListing, type McpEntry } from '../../src/mcp/mcp-entries.js';
import { createMcpToolServer } from '../../src/mcp/mcp-tools.js';
import type { Toolkit } from '../../src/agents/define-agent.js';

const math = defineToolkit({
  name: 'math',
  tools: {
    add: defineTool({ input: z.strictObject({ a: z.int(), b: z.int() }), output: z.int(), run: ({ a, b }) => a + b }),
    negate: defineTool({ input: z.strictObject({ a: z.int() }), output: z.strictObject({ a: z.int() }), run: ({ a }) => ({ a: -a }) }),
  },
});

async function connected(toolkits: readonly Toolkit[]): Promise<Client> {
  const server = createMcpToolServer({ entries: mcpEntries(toolkits), limiter: new CallLimiter(), logger: silentLogger(), name: 'test', version: '1.0.0' });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

describe('MCP tool names', () => {
  it('names an agent by its toolkit and any other tool <toolkit>.<tool>', () => {
    expect([...mcpEntries([adder, math]).keys()]).toEqual(['samples.adder', 'math.add', 'math.negate']);
  });

  it('leaves out tools that read streamed input: an MCP call carries one arguments object', () => {
    expect([...mcpEntries([tally, counter]).keys()]).toEqual(['samples.counter']);
  });

  it('refuses two tools that would get one MCP name', () => {
    const clash = defineAgent({ name: 'math.add', input: z.strictObject({}), output: z.strictObject({}), run: () => ({}) });
    expect(() => mcpEntries([math, clash])).toThrow(/MCP tool name "math.add" is taken by both math\/add and math.add\/ask/);
  });
});

describe('MCP listings and results', () => {
  it('gives an output schema only to tools whose output is an object and that do not stream', () => {
    const listed = (entry: McpEntry | undefined) => (entry ? mcpToolListing(entry) : undefined);
    const entries = mcpEntries([math, counter]);
    expect(listed(entries.get('math.negate'))?.outputSchema).toMatchObject({ type: 'object' });
    expect(listed(entries.get('math.add'))).not.toHaveProperty('outputSchema');
    expect(listed(entries.get('samples.counter'))).not.toHaveProperty('outputSchema');
  });

  it('answers a non-object output as text and a streaming agent with its final value', async () => {
    const client = await connected([math, counter]);
    expect(await client.callTool({ name: 'math.add', arguments: { a: 1, b: 2 } })).toEqual({ content: [{ type: 'text', text: '3' }] });
    expect(await client.callTool({ name: 'samples.counter', arguments: { to: 3 } })).toEqual({ content: [{ type: 'text', text: '{"total":6}' }] });
  });

  it('passes a thrown message back as isError, as a room caller reads it', async () => {
    const failing = defineAgent({
      name: 'samples.failing',
      input: z.strictObject({}),
      output: z.strictObject({}),
      run: () => {
        throw new Error('the disk is full');
      },
    });
    const client = await connected([failing]);
    expect(await client.callTool({ name: 'samples.failing', arguments: {} })).toEqual({ isError: true, content: [{ type: 'text', text: 'the disk is full' }] });
  });

  it('answers an unknown tool with a protocol error that lists the tools', async () => {
    const client = await connected([adder]);
    await expect(client.callTool({ name: 'samples.nope', arguments: {} })).rejects.toThrow(/no tool "samples.nope" \(tools: samples.adder\)/);
  });
});
