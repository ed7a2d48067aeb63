/**
 * Interop: the OFFICIAL npm `@meshagent/meshagent` 0.39.9 RoomClient against our room-server emulator
 * (docs/protocol.md §H.2 (b)). One official client hosts a toolkit with `startHostedToolkit`, another lists
 * and calls it. No timed assertions: waits are on client promises and recorded emulator events.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ControlContent,
  JsonContent,
  RoomClient,
  TextContent,
  RoomServerException,
  Tool,
  Toolkit,
  WebSocketClientProtocol,
  startHostedToolkit,
  type Content,
  type RoomMessageEvent,
} from '@meshagent/meshagent';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RoomServer, type EmulatorEvent, type RoomCallRequest } from '../../src/emulator/room-server.js';
import { packContent } from '../../src/protocol/content.js';
import { unpackMessage, type JsonObject } from '../../src/protocol/packing.js';
import { Session } from '../../src/room/session.js';
import { agentDefaultApiScope, mintParticipantToken } from '../../src/auth/token.js';
import { WebSocketTransport } from '../../src/room/transport.js';

const SECRET = 'interop-secret';
const ROOM = 'interop';

let server: RoomServer;
let http: Server;
let base = '';
const roomCalls: RoomCallRequest[] = [];
const disposers: Array<() => void> = [];
let savedApiKey: string | undefined;

beforeAll(async () => {
  // The SDK lets MESHAGENT_API_KEY override our secret when it mints; keep it out of the way (§B, §H.2).
  savedApiKey = process.env['MESHAGENT_API_KEY'];
  delete process.env['MESHAGENT_API_KEY'];
  server = new RoomServer({
    secret: SECRET,
    publicUrl: () => base,
    idleGraceMs: 60_000,
    pingIntervalMs: 0,
    hooks: {
      onRoomCall: async (call) => {
        roomCalls.push(call);
      },
    },
  });
  http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => {
    if (!server.handleUpgrade(req, socket, head)) socket.destroy();
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  base = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterEach(() => {
  for (const dispose of disposers.splice(0).reverse()) dispose();
});

afterAll(async () => {
  await server.close();
  await new Promise<void>((resolve) => http.close(() => resolve()));
  if (savedApiKey !== undefined) process.env['MESHAGENT_API_KEY'] = savedApiKey;
});

interface ClientOptions {
  role?: 'user' | 'agent';
  room?: string;
  reconnectTimeout?: number | null;
  jwt?: string;
}

function officialClient(name: string, options: ClientOptions = {}): RoomClient {
  const room = options.room ?? ROOM;
  const jwt = options.jwt ?? mintParticipantToken({ name, room, role: options.role ?? 'user', secret: SECRET, api: agentDefaultApiScope() });
  const client = new RoomClient({
    protocolFactory: WebSocketClientProtocol.createFactory({ url: `${base}/rooms/${room}`, token: jwt }),
    ...(options.reconnectTimeout === undefined ? {} : { reconnectTimeout: options.reconnectTimeout }),
  });
  // A failed start() also rejects `ready`, which nobody else awaits (§G quirks).
  client.ready.catch(() => undefined);
  disposers.push(() => client.dispose());
  return client;
}

async function started(name: string, options: ClientOptions = {}): Promise<RoomClient> {
  const client = officialClient(name, options);
  await client.start();
  return client;
}

class EchoTool extends Tool {
  constructor() {
    super({ name: 'echo', title: 'Echo', description: 'echoes its input', inputSchema: { type: 'object', additionalProperties: true } });
  }
  async execute(args: Record<string, unknown>): Promise<Content> {
    return new JsonContent({ json: { echoed: args } });
  }
}

class MeasureTool extends Tool {
  constructor() {
    super({ name: 'measure', title: 'Measure', description: 'length of blob', inputSchema: { type: 'object' } });
  }
  async execute(args: Record<string, unknown>): Promise<Content> {
    return new JsonContent({ json: { length: String(args['blob'] ?? '').length } });
  }
}

class FailTool extends Tool {
  constructor() {
    super({ name: 'fail', title: 'Fail', description: 'throws', inputSchema: { type: 'object' } });
  }
  async execute(): Promise<Content> {
    throw new Error('boom');
  }
}

class HangTool extends Tool {
  constructor() {
    super({ name: 'hang', title: 'Hang', description: 'never answers', inputSchema: { type: 'object' } });
  }
  execute(): Promise<Content> {
    return new Promise<Content>(() => undefined);
  }
}

function toolkit(name: string, tools: Tool[]): Toolkit {
  return new Toolkit({ name, title: name, description: `${name} toolkit`, tools });
}

/** A host built on our own Session (npm 0.39.9 hosts cannot stream, §E.5), joined and handshaken. */
async function sessionHost(name: string): Promise<{ session: Session; id: string }> {
  const jwt = mintParticipantToken({ name, room: ROOM, role: 'agent', secret: SECRET });
  const ws = new WebSocket(`${base}/rooms/${ROOM}?token=${jwt}`);
  const session = new Session(new WebSocketTransport(ws), { requestTimeoutMs: 0 });
  disposers.push(() => session.close(1000));
  const connected = new Promise<JsonObject>((resolve) => session.on('connected', (m) => resolve(unpackMessage(m.data).header)));
  const ready = new Promise<void>((resolve) => session.on('room_ready', () => resolve()));
  const [header] = await Promise.all([connected, ready]);
  return { session, id: String(header['participantId']) };
}

async function* texts(...values: string[]): AsyncIterable<Content> {
  for (const text of values) yield new TextContent({ text });
}

function nextEvent(predicate: (e: EmulatorEvent) => boolean): Promise<EmulatorEvent> {
  return server.waitForEvent(predicate);
}

describe('official RoomClient 0.39.9 against the emulator (§H.2 b)', () => {
  it('hosts a toolkit in one client and lists and calls it from another, including a 200 KB argument', async () => {
    const host = await started('host', { role: 'agent' });
    const caller = await started('caller');
    expect(host.roomName).toBe(ROOM);
    expect(caller.sessionId).toEqual(expect.any(String));

    const hosted = await startHostedToolkit({ room: host, toolkit: toolkit('tools', [new EchoTool(), new MeasureTool(), new FailTool()]), public_: true });

    const listed = await caller.agents.listToolkits();
    expect(listed.map((t) => t.name)).toEqual(['tools']);
    const description = listed[0];
    expect(description?.participantId).toBe(host.localParticipant?.id);
    expect(description?.tools.map((t) => t.name).sort()).toEqual(['echo', 'fail', 'measure']);
    expect(description?.getTool('echo')?.inputSpec?.types).toEqual(['json']);

    const echoed = await caller.agents.invokeTool({ toolkit: 'tools', tool: 'echo', arguments: { message: 'hi' } });
    expect(echoed).toBeInstanceOf(JsonContent);
    expect((echoed as JsonContent).json).toEqual({ echoed: { message: 'hi' } });

    const blob = 'x'.repeat(200 * 1024);
    const measured = await caller.agents.invokeTool({ toolkit: 'tools', tool: 'measure', arguments: { blob } });
    expect((measured as JsonContent).json).toEqual({ length: blob.length });

    const failure = await caller.agents.invokeTool({ toolkit: 'tools', tool: 'fail', arguments: {} }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RoomServerException);
    expect((failure as RoomServerException).message).toBe('Error: boom');

    const missing = await caller.agents.invokeTool({ toolkit: 'no-such-toolkit', tool: 'echo', arguments: {} }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(RoomServerException);
    expect((missing as RoomServerException).code).toBe(1003);

    await hosted.stop();
    expect(await caller.agents.listToolkits()).toEqual([]);
  });

  it('relays invokeStream input chunks to a streaming host and its output chunks back (§E.5 streaming)', async () => {
    const host = await sessionHost('streamer');
    const caller = await started('listener');
    let callId = -1;
    host.session.on('room.tool_call.shout', (message, session) => {
      callId = message.id;
      void session.send('room.tool_call_response', packContent({ type: 'control', method: 'open' }), message.id);
    });
    host.session.on('room.tool_call_request_chunk.shout', (message, session) => {
      const { header } = unpackMessage(message.data);
      const chunk = header['chunk'] as JsonObject;
      const out =
        chunk['type'] === 'text' ? { type: 'text', text: String(chunk['text']).toUpperCase() } : { type: 'control', method: 'close', status_code: 1000 };
      void session.sendPacked('room.tool_call_response_chunk', { tool_call_id: header['tool_call_id'], chunk: out }, undefined, callId);
    });
    await host.session.request('room.register_toolkit', {
      name: 'shout',
      public: true,
      tools: { shout: { title: 'shout', description: '', input_spec: { types: ['text'], stream: true }, output_spec: { types: ['text'], stream: true } } },
    });

    const outputs: Content[] = [];
    for await (const content of await caller.invokeStream({ toolkit: 'shout', tool: 'shout', input: texts('a', 'b') })) outputs.push(content);
    expect(outputs.map((c) => (c instanceof TextContent ? c.text : c instanceof ControlContent ? `control:${c.method}` : c.constructor.name))).toEqual([
      'A',
      'B',
      'control:close',
    ]);
  });

  it('fails a call with an error when the hosting client leaves mid-call', async () => {
    const host = await started('leaver', { role: 'agent' });
    const caller = await started('waiter');
    await startHostedToolkit({ room: host, toolkit: toolkit('hanging', [new HangTool()]), public_: true });
    const called = nextEvent((e) => e.kind === 'tool.called' && e.toolkit === 'hanging');
    const pending = caller.agents.invokeTool({ toolkit: 'hanging', tool: 'hang', arguments: {} }).catch((e: unknown) => e);
    await called;
    host.dispose();
    const error = await pending;
    expect(error).toBeInstanceOf(RoomServerException);
    expect((error as RoomServerException).message).toContain("toolkit 'hanging' left before answering");
  });

  it('reconnects after a 1011 close and re-registers the hosted toolkit, which then answers again', async () => {
    const host = await started('phoenix', { role: 'agent' });
    const caller = await started('watcher');
    await startHostedToolkit({ room: host, toolkit: toolkit('phoenix-kit', [new EchoTool()]), public_: true });
    const firstId = host.localParticipant?.id as string;

    const reregistered = nextEvent((e) => e.kind === 'toolkit.registered' && e.toolkit === 'phoenix-kit');
    expect(server.closeParticipant(ROOM, firstId, 1011, 'emulated restart')).toBe(true);
    const registration = await reregistered;
    expect(registration.participantId).not.toBe(firstId);
    expect(host.localParticipant?.id).toBe(registration.participantId);
    // The reconnected client re-sent its attributes before registering (§E.1).
    expect(server.events.some((e) => e.kind === 'attributes.set' && e.participantId === registration.participantId)).toBe(true);

    const echoed = await caller.agents.invokeTool({ toolkit: 'phoenix-kit', tool: 'echo', arguments: { again: true } });
    expect((echoed as JsonContent).json).toEqual({ echoed: { again: true } });
    expect((await caller.agents.listToolkits()).map((t) => [t.name, t.participantId])).toEqual([['phoenix-kit', registration.participantId]]);
  });

  it('treats a 1000 close as final: the client closes and does not reconnect', async () => {
    const host = await started('finalist', { role: 'agent' });
    const other = await started('bystander');
    const id = host.localParticipant?.id as string;
    expect(server.closeParticipant(ROOM, id, 1000, 'goodbye')).toBe(true);
    await host.waitForClose();
    expect(host.isClosed).toBe(true);
    // The client's lifecycle has finished without scheduling a reconnect; a round trip flushes the server's events.
    await other.agents.listToolkits();
    expect(server.events.filter((e) => e.kind === 'connected' && e.participantName === 'finalist')).toHaveLength(1);
    await expect(host.agents.listToolkits()).rejects.toBeInstanceOf(Error);
  });

  it('fails fast with reconnectTimeout 0 when the token is refused (accepted, then closed 1008)', async () => {
    const refused = nextEvent((e) => e.kind === 'refused');
    const jwt = mintParticipantToken({ name: 'intruder', room: ROOM, role: 'user', secret: 'wrong-secret' });
    const client = officialClient('intruder', { jwt, reconnectTimeout: 0 });
    await expect(client.start()).rejects.toThrow();
    expect((await refused).code).toBe(1008);
  });

  it('carries messaging between two official clients and hands room.call to the hook', async () => {
    const a = await started('alpha');
    const b = await started('beta');
    const aId = a.localParticipant?.id as string;
    const bId = b.localParticipant?.id as string;
    const aOnline = new Promise<void>((resolve) => a.messaging.on('messaging_enabled', () => resolve()));
    a.messaging.enable();
    await aOnline;
    const bSeesA = new Promise<void>((resolve) => b.messaging.on('messaging_enabled', () => resolve()));
    b.messaging.enable();
    await bSeesA;
    expect(b.messaging.getParticipant(aId)?.getAttribute('name')).toBe('alpha');

    const received = new Promise<RoomMessageEvent>((resolve) =>
      a.messaging.on('message', (event: RoomMessageEvent) => {
        if (event.message.type === 'chat') resolve(event);
      }),
    );
    const to = b.messaging.getParticipant(aId);
    if (!to) throw new Error('beta does not see alpha');
    await b.messaging.sendMessage({ to, type: 'chat', message: { text: 'hello alpha' } });
    const event = await received;
    expect(event.message.fromParticipantId).toBe(bId);
    expect(event.message.message).toEqual({ text: 'hello alpha' });

    await a.agents.call({ name: 'helper', url: 'http://127.0.0.1:1/webhook', arguments: { job: 1 } });
    expect(roomCalls.at(-1)).toMatchObject({ room: ROOM, name: 'helper', url: 'http://127.0.0.1:1/webhook', arguments: { job: 1 }, callerId: aId });
  });
});
