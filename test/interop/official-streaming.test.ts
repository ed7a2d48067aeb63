/**
 * Streaming interop with the OFFICIAL npm @meshagent/meshagent 0.39.9 client, through the emulator
 * (docs/protocol.md §E.5). 0.39.9 can send streamed input (`invokeWithStreamInput`, `invokeStream`) and read
 * streamed output only together with streamed input (`invokeStream`); its `startHostedToolkit` cannot stream at
 * all. So a roomrunner agent streams to the official caller through `invokeStream`, and the other direction (an
 * SDK host streaming to roomrunner) is driven with the exact frames the 0.47 SDK's host sends, as byte fixtures.
 */
import { ControlContent, JsonContent, RoomClient as OfficialRoomClient, WebSocketClientProtocol, type Content as OfficialContent } from '@meshagent/meshagent';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { counter } from '../../agents/counter.js';
import { tally } from '../../agents/tally.js';
import { joinRoom } from '../../src/agents/host.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import type { Content } from '../../src/protocol/content.js';
import { unpackMessage, type JsonObject } from '../../src/protocol/packing.js';
import { RoomConnection } from '../../src/room/connection.js';
import { RoomClient } from '../../src/room/room-client.js';
import { Session } from '../../src/room/session.js';
import { agentDefaultApiScope, mintParticipantToken } from '../../src/auth/token.js';
import { WebSocketTransport } from '../../src/room/transport.js';

const SECRET = 'stream-interop-secret';
let emulator: Emulator;
const cleanups: Array<() => unknown> = [];
const savedApiKey = process.env['MESHAGENT_API_KEY'];

beforeAll(async () => {
  // The SDK lets MESHAGENT_API_KEY override our secret when it mints.
  delete process.env['MESHAGENT_API_KEY'];
  emulator = await startEmulator({ port: 0, secret: SECRET, idleGraceMs: 60_000 });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await emulator.close();
  if (savedApiKey !== undefined) process.env['MESHAGENT_API_KEY'] = savedApiKey;
});

async function hostSamples(room: string): Promise<void> {
  const registered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room && e.toolkit === tally.name);
  const joined = await joinRoom({
    url: emulator.roomUrl(room),
    room,
    toolkits: [counter, tally],
    token: mintParticipantToken({ name: 'roomrunner', room, role: 'agent', secret: SECRET }),
  });
  cleanups.push(() => joined.leave());
  await registered;
}

async function officialCaller(room: string): Promise<OfficialRoomClient> {
  const jwt = mintParticipantToken({ name: 'person', room, role: 'user', secret: SECRET, api: agentDefaultApiScope() });
  const client = new OfficialRoomClient({ protocolFactory: WebSocketClientProtocol.createFactory({ url: emulator.roomUrl(room), token: jwt }) });
  client.ready.catch(() => undefined);
  await client.start();
  cleanups.push(() => client.dispose());
  return client;
}

async function roomrunnerCaller(room: string): Promise<RoomClient> {
  const connection = new RoomConnection({
    url: emulator.roomUrl(room),
    token: mintParticipantToken({ name: 'rr-caller', room, role: 'user', secret: SECRET, api: agentDefaultApiScope() }),
    reconnect: false,
  });
  cleanups.push(() => connection.close());
  await connection.start();
  return new RoomClient(connection);
}

async function* officialNumbers(...values: unknown[]): AsyncIterable<OfficialContent> {
  for (const n of values) yield new JsonContent({ json: { n } });
}

/** What the official client's stream yields, in plain values (it passes the close control through). */
function plain(content: OfficialContent): unknown {
  if (content instanceof JsonContent) return content.json;
  if (content instanceof ControlContent) return { control: content.method, status: content.statusCode, message: content.message };
  return content;
}

describe('streaming with the official 0.39.9 client through the emulator', () => {
  it("streams a roomrunner agent's running totals to an official invokeStream caller", async () => {
    await hostSamples('s-out');
    const caller = await officialCaller('s-out');
    const got: unknown[] = [];
    for await (const content of await caller.invokeStream({ toolkit: 'samples.tally', tool: 'running', input: officialNumbers(1, 2, 3) }))
      got.push(plain(content));
    expect(got).toEqual([{ total: 1 }, { total: 3 }, { total: 6 }, { total: 6 }, { control: 'close', status: 1000, message: undefined }]);
  });

  it('takes streamed input from an official invokeWithStreamInput caller and answers once', async () => {
    await hostSamples('s-in');
    const caller = await officialCaller('s-in');
    const answer = await caller.invokeWithStreamInput({ toolkit: 'samples.tally', tool: 'sum', input: officialNumbers(4, 5, 6) });
    expect(answer).toBeInstanceOf(JsonContent);
    expect((answer as JsonContent).json).toEqual({ total: 15 });
  });

  it("closes an official caller's stream with 1007 and the reason when an input chunk is invalid", async () => {
    await hostSamples('s-bad');
    const caller = await officialCaller('s-bad');
    const got: unknown[] = [];
    for await (const content of await caller.invokeStream({ toolkit: 'samples.tally', tool: 'running', input: officialNumbers(1, 'two', 3) }))
      got.push(plain(content));
    expect(got).toEqual([
      { total: 1 },
      {
        control: 'close',
        status: 1007,
        message: 'input chunk 1 of agent samples.tally does not match its input schema: n: Invalid input: expected number, received string',
      },
    ]);
  });

  it('streams the counter to a roomrunner caller through the emulator, and reads streamed input back', async () => {
    await hostSamples('s-rr');
    const caller = await roomrunnerCaller('s-rr');
    const got: Content[] = [];
    for await (const content of caller.invoke({ toolkit: 'samples.counter', tool: 'ask', arguments: { to: 3 } })) got.push(content);
    expect(got).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { total: 6 }].map((json) => ({ type: 'json', json })));
    async function* numbers(): AsyncIterable<Content> {
      for (const n of [10, 20]) yield { type: 'json', json: { n } };
    }
    expect(await caller.invokeTool({ toolkit: 'samples.tally', tool: 'sum', arguments: numbers() })).toEqual({ type: 'json', json: { total: 30 } });
  });
});

/**
 * Frames of a 0.47 SDK host (`_RemoteToolkitWrapper._toolCall`) answering a streaming ContentTool, as the packed
 * bytes it sends (8-byte big-endian header length, then the JSON header its `packMessage` writes).
 */
const SDK_047_HOST = {
  /** room.tool_call_response: ControlContent({ method: 'open' }).pack() */
  open: '0000000000000022{"type":"control","method":"open"}',
  /** room.tool_call_response_chunk for `call-047`: a JsonContent chunk, an error chunk (String(error), no code), the close */
  chunks: [
    '000000000000004b{"tool_call_id":"call-047","chunk":{"type":"json","json":{"word":"alpha"}}}',
    '000000000000004a{"tool_call_id":"call-047","chunk":{"type":"error","text":"Error: flaky"}}',
    '000000000000004a{"tool_call_id":"call-047","chunk":{"type":"json","json":{"word":"beta"}}}',
    '000000000000005a{"tool_call_id":"call-047","chunk":{"type":"control","method":"close","status_code":1000}}',
  ],
};

/** `0000…0022{json}` → bytes: 16 hex digits of length, then the JSON text. */
function fixture(text: string): Uint8Array {
  const length = Number.parseInt(text.slice(0, 16), 16);
  const body = Buffer.from(text.slice(16), 'utf8');
  expect(body.length).toBe(length);
  return new Uint8Array(Buffer.concat([Buffer.from(text.slice(0, 16), 'hex'), body]));
}

describe('an SDK 0.47 streaming host, as byte fixtures, through the emulator', () => {
  it('streams to a roomrunner caller: chunks in order, the error chunk included, then the end', async () => {
    const room = 's-047';
    const jwt = mintParticipantToken({ name: 'sdk-host', room, role: 'agent', secret: SECRET });
    const session = new Session(new WebSocketTransport(new WebSocket(`${emulator.roomUrl(room)}?token=${jwt}`)), { requestTimeoutMs: 0 });
    cleanups.push(() => session.close(1000));
    const ready = new Promise<void>((resolve) => session.on('room_ready', () => resolve()));
    const called = new Promise<{ id: number; header: JsonObject }>((resolve) =>
      session.on('room.tool_call.words', (m) => resolve({ id: m.id, header: unpackMessage(m.data).header })),
    );
    session.start();
    await ready;
    await session.request('room.register_toolkit', {
      name: 'words',
      public: true,
      tools: { say: { input_spec: { types: ['json'], stream: false }, output_spec: { types: ['json'], stream: true } } },
    });
    const caller = await roomrunnerCaller(room);
    const reading = (async () => {
      const got: Content[] = [];
      for await (const content of caller.invoke({ toolkit: 'words', tool: 'say', toolCallId: 'call-047' })) got.push(content);
      return got;
    })();
    const call = await called;
    expect(call.header['tool_call_id']).toBe('call-047');
    await session.send('room.tool_call_response', fixture(SDK_047_HOST.open), call.id);
    for (const chunk of SDK_047_HOST.chunks) await session.send('room.tool_call_response_chunk', fixture(chunk), call.id);
    expect(await reading).toEqual([
      { type: 'json', json: { word: 'alpha' } },
      { type: 'error', text: 'Error: flaky' },
      { type: 'json', json: { word: 'beta' } },
    ]);
  });
});
