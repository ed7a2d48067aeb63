/**
 * Hosting agents in a room, over real sockets: the emulator is the room server, our host registers the agents,
 * and the OFFICIAL @meshagent/meshagent client calls them.
 */
import { JsonContent, RoomClient, RoomServerException, WebSocketClientProtocol } from '@meshagent/meshagent';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { counter } from '../../agents/counter.js';
import { tally } from '../../agents/tally.js';
import { summer } from '../../agents/summer.js';
import { joinRoom, toolkitRegistration, type JoinedRoom } from '../../src/agents/host.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { defineAgent } from '../../src/index.js';
import { agentDefaultApiScope, mintParticipantToken } from '../../src/auth/token.js';

const SECRET = 'host-test-secret';
const ROOM = 'agents-room';

const thrower = defineAgent({
  name: 't.thrower',
  input: z.object({}),
  output: z.object({}),
  run: () => {
    throw new Error('boom');
  },
});
const wrongShape = defineAgent({ name: 't.wrong', input: z.object({}), output: z.object({ n: z.int() }), run: () => ({ n: 'x' }) as unknown as { n: number } });
const slow = defineAgent({
  name: 't.slow',
  input: z.object({}),
  output: z.object({}),
  timeoutMs: 50,
  run: (_a, ctx) => new Promise<Record<string, never>>((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
});

let emulator: Emulator;
const cleanups: Array<() => unknown> = [];
const savedApiKey = process.env['MESHAGENT_API_KEY'];

beforeAll(async () => {
  delete process.env['MESHAGENT_API_KEY'];
  emulator = await startEmulator({ port: 0, secret: SECRET, idleGraceMs: 60_000 });
  if (process.env['DBG']) emulator.roomServer.on('event', (e) => console.log('EVENT', e.kind, e.toolkit ?? '', e.reason ?? '', e.code ?? ''));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await emulator.close();
  if (savedApiKey !== undefined) process.env['MESHAGENT_API_KEY'] = savedApiKey;
});

async function host(toolkits = [adder, summer, thrower, wrongShape, slow], room = ROOM): Promise<JoinedRoom> {
  const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room && e.toolkit === toolkits.at(-1)?.name);
  const joined = await joinRoom({
    url: emulator.roomUrl(room),
    room,
    toolkits,
    token: () => mintParticipantToken({ name: 'roomrunner', room, role: 'agent', secret: SECRET }),
    backoff: { initialMs: 20 },
  });
  await registered;
  cleanups.push(() => joined.leave());
  return joined;
}

async function caller(room = ROOM): Promise<RoomClient> {
  const jwt = mintParticipantToken({ name: 'person', room, role: 'user', secret: SECRET, api: agentDefaultApiScope() });
  const client = new RoomClient({ protocolFactory: WebSocketClientProtocol.createFactory({ url: emulator.roomUrl(room), token: jwt }) });
  client.ready.catch(() => undefined);
  await client.start();
  cleanups.push(() => client.dispose());
  return client;
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: number | undefined; message: string }> {
  const error = await promise.then(
    () => expect.unreachable('the call should have failed'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RoomServerException);
  return { code: (error as RoomServerException).code, message: (error as Error).message };
}

describe('hosting agents in a room (official client as caller)', () => {
  it('registers each agent as a toolkit with one tool "ask" and its JSON Schemas', async () => {
    await host();
    const listed = (await (await caller()).agents.listToolkits()) as Array<{ name: string; tools: Array<{ name: string; inputSpec?: { schema?: unknown } }> }>;
    const names = listed.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['samples.adder', 'samples.summer']));
    expect(toolkitRegistration(adder).tools['ask']).toMatchObject({ input_spec: { types: ['json'], schema: { required: ['a', 'b'] } } });
  });

  it('registers streaming tools with stream set on their specs, and chunk-or-final as the output schema', () => {
    const ask = toolkitRegistration(counter).tools['ask'];
    expect(ask).toMatchObject({ input_spec: { stream: false }, output_spec: { types: ['json'], stream: true } });
    const outputSpec = ask?.['output_spec'] as unknown as { schema: { anyOf: Array<{ required: string[] }> } } | undefined;
    expect(outputSpec?.schema.anyOf.map((s) => s.required)).toEqual([['n'], ['total']]);
    expect(toolkitRegistration(tally).tools['sum']).toMatchObject({
      input_spec: { stream: true, schema: { required: ['n'] } },
      output_spec: { stream: false },
    });
    expect(toolkitRegistration(adder).tools['ask']).toMatchObject({ input_spec: { stream: false }, output_spec: { stream: false } });
  });

  it('answers the Adder with { result: 3 } as JsonContent', async () => {
    await host();
    const result = await (await caller()).agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 1, b: 2 } });
    expect(result).toBeInstanceOf(JsonContent);
    expect((result as JsonContent).json).toEqual({ result: 3 });
  });

  it('refuses wrong arguments with 1002 and a readable message, and keeps serving', async () => {
    await host();
    const room = await caller();
    const call = (args: Record<string, unknown>) => room.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: args });
    expect(await codeOf(call({ a: 'x', b: 2 }))).toEqual({
      code: 1002,
      message: 'Invalid arguments for agent samples.adder: a: Invalid input: expected number, received string',
    });
    expect(await codeOf(call({ a: 1 }))).toMatchObject({
      code: 1002,
      message: expect.stringContaining('b: Invalid input: expected number, received undefined'),
    });
    expect(await codeOf(call({ a: 1, b: 2, c: 3 }))).toMatchObject({ code: 1002, message: expect.stringContaining('Unrecognized key: "c"') });
    expect(((await call({ a: 2, b: 2 })) as JsonContent).json).toEqual({ result: 4 });
  });

  it('gives a throwing agent 1008, a wrong-shaped answer 1008 and a slow agent 1009, and the host keeps serving', async () => {
    await host();
    const room = await caller();
    expect(await codeOf(room.agents.invokeTool({ toolkit: 't.thrower', tool: 'ask', arguments: {} }))).toEqual({ code: 1008, message: 'boom' });
    expect(await codeOf(room.agents.invokeTool({ toolkit: 't.wrong', tool: 'ask', arguments: {} }))).toMatchObject({
      code: 1008,
      message: expect.stringContaining('output schema'),
    });
    expect(await codeOf(room.agents.invokeTool({ toolkit: 't.slow', tool: 'ask', arguments: {} }))).toEqual({
      code: 1009,
      message: 'agent t.slow did not answer within 50 ms',
    });
    expect(((await room.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 5, b: 6 } })) as JsonContent).json).toEqual({ result: 11 });
  });

  it('answers 200 concurrent calls all correctly', async () => {
    await host();
    const room = await caller();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => room.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: i, b: 1000 } })),
    );
    expect(results.map((r) => (r as JsonContent).json)).toEqual(Array.from({ length: 200 }, (_, i) => ({ result: i + 1000 })));
  });

  it('lets an agent call another toolkit in the room through ctx', async () => {
    await host();
    const result = await (await caller()).agents.invokeTool({ toolkit: 'samples.summer', tool: 'ask', arguments: { numbers: [1, 2, 3, 4, 5] } });
    expect((result as JsonContent).json).toEqual({ total: 15, calls: 4 });
  });

  it('registers the agents again after a 1011 close and answers calls', async () => {
    const joined = await host([adder]);
    const before = joined.connection.participantId as string;
    const reregistered = emulator.roomServer.waitForEvent(
      (e) => e.kind === 'toolkit.registered' && e.toolkit === 'samples.adder' && e.participantId !== before,
    );
    expect(emulator.roomServer.closeParticipant(ROOM, before, 1011, 'server restart')).toBe(true);
    await reregistered;
    const result = await (await caller()).agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 20, b: 22 } });
    expect((result as JsonContent).json).toEqual({ result: 42 });
  });

  it('unregisters its toolkits and closes with 1000 when it leaves', async () => {
    const joined = await host([adder], 'leave-room');
    const pid = joined.connection.participantId;
    const unregistered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.unregistered' && e.participantId === pid);
    const disconnected = emulator.roomServer.waitForEvent((e) => e.kind === 'disconnected' && e.participantId === pid);
    await joined.leave();
    await unregistered;
    expect(await disconnected).toMatchObject({ code: 1000 });
    expect(joined.connection.state).toBe('closed');
  });
});
