/**
 * `/mcp` end to end: the OFFICIAL MCP client (@modelcontextprotocol/sdk, streamable HTTP) against a listening
 * RemoteTaskRunnerServer that hosts the Adder.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { loadConfig, type ConfigOverrides } from '../../src/config.js';
import { defineAgent } from '../../src/index.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import type { Toolkit } from '../../src/agents/define-agent.js';

const TOKEN = 'mcp-test-token';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function roomrunner(overrides: ConfigOverrides = {}, agents: readonly Toolkit[] = [adder]): Promise<string> {
  const config = loadConfig(
    { secret: 's', webhookSecrets: ['w'], port: 0, host: '127.0.0.1', logLevel: 'silent', reconcileIntervalMs: 0, mcp: true, mcpToken: TOKEN, ...overrides },
    {},
  );
  const server = new RemoteTaskRunnerServer({ agents, config, defaultMetrics: false });
  const address = await server.start();
  cleanups.push(() => server.close());
  return address.url;
}

async function mcpClient(base: string, token: string | undefined = TOKEN): Promise<Client> {
  const client = new Client({ name: 'roomrunner-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(
    new URL('/mcp', base),
    token === undefined ? {} : { requestInit: { headers: { authorization: `Bearer ${token}` } } },
  );
  await client.connect(transport);
  cleanups.push(() => client.close());
  return client;
}

describe('the MCP endpoint', () => {
  it('lists the Adder under its toolkit name with the input and output schemas it registers in rooms', async () => {
    const client = await mcpClient(await roomrunner());
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['samples.adder']);
    expect(tools[0]).toMatchObject({
      name: 'samples.adder',
      title: 'sample adder',
      description: 'an agent that adds two numbers',
      inputSchema: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'], additionalProperties: false },
      outputSchema: { type: 'object', properties: { result: { type: 'integer' } }, required: ['result'] },
    });
    expect(tools[0]?.inputSchema).toEqual(adder.tools['ask']?.inputJsonSchema);
  });

  it('adds: the result comes back as structured content and as the same JSON in text', async () => {
    const client = await mcpClient(await roomrunner());
    const result = await client.callTool({ name: 'samples.adder', arguments: { a: 2, b: 3 } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ result: 5 });
    expect(result.content).toEqual([{ type: 'text', text: '{"result":5}' }]);
  });

  it('answers wrong arguments with isError and the message a room caller gets with 1002', async () => {
    const client = await mcpClient(await roomrunner());
    const result = await client.callTool({ name: 'samples.adder', arguments: { a: 'x', b: 2 } });
    expect(result).toMatchObject({
      isError: true,
      content: [{ type: 'text', text: 'Invalid arguments for agent samples.adder: a: Invalid input: expected number, received string' }],
    });
  });

  it('tells an agent that calls another toolkit that an MCP call has no room', async () => {
    const relay = defineAgent({
      name: 'samples.relay',
      input: z.strictObject({ a: z.int() }),
      output: z.strictObject({ result: z.int() }),
      run: async ({ a }, ctx) => (await ctx.call('samples.adder', 'ask', { a, b: 1 })) as { result: number },
    });
    const client = await mcpClient(await roomrunner({}, [adder, relay]));
    const result = await client.callTool({ name: 'samples.relay', arguments: { a: 1 } });
    expect(result.isError).toBe(true);
    expect(result.content).toEqual([{ type: 'text', text: expect.stringContaining('this call came over MCP, outside any room') }]);
  });

  it('refuses a missing or wrong token with 401 in the error envelope', async () => {
    const base = await roomrunner();
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer not-the-token' }];
    for (const headers of attempts) {
      const response = await fetch(new URL('/mcp', base), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ ok: false, error: { code: 'RR_MCP_UNAUTHORIZED' } });
    }
    await expect(mcpClient(base, 'not-the-token')).rejects.toThrow(/RR_MCP_UNAUTHORIZED/);
  });

  it('answers GET and DELETE /mcp with 405: the endpoint is stateless', async () => {
    const base = await roomrunner();
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(new URL('/mcp', base), { method, headers: { authorization: `Bearer ${TOKEN}` } });
      expect(response.status).toBe(405);
      expect(await response.json()).toMatchObject({ ok: false, error: { code: 'RR_MCP_METHOD_NOT_ALLOWED' } });
    }
  });

  it('is not there when MCP is off: 404', async () => {
    const base = await roomrunner({ mcp: false });
    const response = await fetch(new URL('/mcp', base), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ ok: false, error: { code: 'RR_HTTP_NOT_FOUND' } });
  });

  it('refuses to start with MCP on and no token, unless insecure', async () => {
    const config = loadConfig({ secret: 's', webhookSecrets: ['w'], logLevel: 'silent', mcp: true }, {});
    expect(() => new RemoteTaskRunnerServer({ agents: [adder], config, defaultMetrics: false })).toThrow(/ROOMRUNNER_MCP_TOKEN/);
    const client = await mcpClient(await roomrunner({ mcpToken: undefined, insecure: true }), undefined);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['samples.adder']);
  });
  it('aborts the call (ctx.signal) when the client goes away before the answer', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let aborted!: (reason: unknown) => void;
    const sawAbort = new Promise<unknown>((resolve) => (aborted = resolve));
    const waiter = defineAgent({
      name: 'samples.waiter',
      input: z.strictObject({}),
      output: z.strictObject({}),
      run: (_args, ctx) =>
        new Promise<Record<string, never>>(() => {
          ctx.signal.addEventListener('abort', () => aborted(ctx.signal.reason), { once: true });
          started();
        }),
    });
    const base = await roomrunner({}, [waiter]);
    const gone = new AbortController();
    const call = fetch(new URL('/mcp', base), {
      method: 'POST',
      signal: gone.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'samples.waiter', arguments: {} } }),
    });
    await running;
    gone.abort();
    await expect(call).rejects.toThrow();
    expect(await sawAbort).toBeDefined();
  });
  it('refuses a body over the limit with 413 and runs nothing', async () => {
    const base = await roomrunner({ bodyLimitBytes: 1024 });
    const response = await fetch(new URL('/mcp', base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'samples.adder', arguments: { a: 1, b: 2, pad: 'x'.repeat(2048) } },
      }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ ok: false, error: { code: 'RR_WEBHOOK_BODY_TOO_LARGE' } });
  });
});
