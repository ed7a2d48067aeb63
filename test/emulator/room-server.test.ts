/**
 * The emulated room server over real sockets, driven by our own Session + WebSocketTransport as the peer.
 * No timed assertions: every wait is on a message, a close, or a recorded emulator event.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RoomServer, type RoomServerOptions } from '../../src/emulator/room-server.js';
import { contentFromParts, json, packContent, unpackContent, type Content } from '../../src/protocol/content.js';
import type { FrameMessage } from '../../src/protocol/frame-reader.js';
import { encodeDataFrame } from '../../src/protocol/frames.js';
import { packMessage, unpackMessage, type JsonObject } from '../../src/protocol/packing.js';
import { Session } from '../../src/room/session.js';
import { mintParticipantToken, type ApiScope } from '../../src/auth/token.js';
import { WebSocketTransport, type Transport, type TransportHandlers } from '../../src/room/transport.js';

const SECRET = 'emulator-test-secret';
const ROOM = 'lab';

// --- fixtures ------------------------------------------------------------------------------------------

interface Harness {
  readonly server: RoomServer;
  readonly base: string;
  readonly http: Server;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(options: Partial<RoomServerOptions> = {}): Promise<Harness> {
  let base = '';
  const server = new RoomServer({ secret: SECRET, publicUrl: () => base, pingIntervalMs: 0, ...options });
  const http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => {
    if (!server.handleUpgrade(req, socket, head)) socket.destroy();
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  base = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  cleanups.push(async () => {
    await server.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return { server, base, http };
}

interface TokenOptions {
  name?: string;
  room?: string;
  role?: 'user' | 'agent' | 'tool';
  api?: ApiScope | null;
  secret?: string;
  expiresInSeconds?: number;
  now?: number;
}

function token(options: TokenOptions = {}): string {
  return mintParticipantToken({
    name: options.name ?? 'someone',
    room: options.room ?? ROOM,
    role: options.role ?? 'user',
    secret: options.secret ?? SECRET,
    ...(options.api === undefined ? {} : { api: options.api }),
    ...(options.expiresInSeconds === undefined ? {} : { expiresInSeconds: options.expiresInSeconds }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
}

/** Wraps a transport and records the (id, type) of every header frame that arrives. */
class RecordingTransport implements Transport {
  readonly received: Array<{ id: number; type: string }> = [];
  /** When set, replaces the frames of the next send (to forge bad frames on a real request id). */
  mangleNext: ((frames: readonly Uint8Array[]) => Uint8Array[]) | undefined;
  readonly inner: WebSocketTransport;

  constructor(inner: WebSocketTransport) {
    this.inner = inner;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  start(handlers: TransportHandlers): void {
    this.inner.start({
      onFrame: (frame) => {
        const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
        if (frame.length >= 16 && view.getUint32(8) === 0) {
          this.received.push({ id: view.getUint32(0) * 2 ** 32 + view.getUint32(4), type: Buffer.from(frame.subarray(16)).toString('utf8') });
        }
        handlers.onFrame(frame);
      },
      onClose: (code, reason) => handlers.onClose(code, reason),
    });
  }

  sendFrames(frames: readonly Uint8Array[]): Promise<void> {
    const mangle = this.mangleNext;
    this.mangleNext = undefined;
    return this.inner.sendFrames(mangle ? mangle(frames) : frames);
  }

  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }
}

/** Every non-response message a client receives, in order, with waiters by type. */
class Inbox {
  readonly messages: FrameMessage[] = [];
  readonly #waiters: Array<{ type: string; resolve: (m: FrameMessage) => void }> = [];
  #cursor = new Map<string, number>();

  constructor(session: Session) {
    session.onPrefix('', (message) => {
      this.messages.push(message);
      const i = this.#waiters.findIndex((w) => w.type === message.type);
      if (i >= 0) {
        const [waiter] = this.#waiters.splice(i, 1);
        this.#cursor.set(message.type, this.messages.length);
        waiter?.resolve(message);
      }
    });
  }

  /** The next message of `type` not yet returned by next(). */
  next(type: string): Promise<FrameMessage> {
    const from = this.#cursor.get(type) ?? 0;
    const index = this.messages.findIndex((m, i) => i >= from && m.type === type);
    if (index >= 0) {
      this.#cursor.set(type, index + 1);
      return Promise.resolve(this.messages[index] as FrameMessage);
    }
    return new Promise((resolve) => this.#waiters.push({ type, resolve }));
  }

  /** The header of the next message of `type`. */
  async nextHeader(type: string): Promise<JsonObject> {
    return unpackMessage((await this.next(type)).data).header;
  }
}

interface Client {
  readonly ws: WebSocket;
  readonly session: Session;
  readonly transport: RecordingTransport;
  readonly inbox: Inbox;
  readonly id: string;
  readonly ready: JsonObject;
  readonly connected: JsonObject;
}

type Via = 'query' | 'header' | 'subprotocol';

function open(
  h: Harness,
  jwt: string | undefined,
  via: Via = 'query',
  room = ROOM,
  autoPong = true,
): { ws: WebSocket; session: Session; transport: RecordingTransport; inbox: Inbox } {
  const url = `${h.base}/rooms/${room}${jwt !== undefined && via === 'query' ? `?token=${jwt}` : ''}`;
  const ws =
    via === 'header' && jwt !== undefined
      ? new WebSocket(url, { headers: { Authorization: `Bearer ${jwt}` }, autoPong })
      : via === 'subprotocol' && jwt !== undefined
        ? new WebSocket(url, [`meshagent-room.${jwt}`], { autoPong })
        : new WebSocket(url, { autoPong });
  // The session listens before the socket opens, so the handshake events are never missed.
  const transport = new RecordingTransport(new WebSocketTransport(ws));
  const session = new Session(transport, { requestTimeoutMs: 0 });
  const inbox = new Inbox(session);
  cleanups.push(() => {
    session.close(1000);
  });
  return { ws, session, transport, inbox };
}

async function connect(h: Harness, options: TokenOptions & { via?: Via; autoPong?: boolean } = {}): Promise<Client> {
  const opened = open(h, token(options), options.via ?? 'query', options.room ?? ROOM, options.autoPong ?? true);
  const [ready, connected] = await Promise.all([opened.inbox.nextHeader('room_ready'), opened.inbox.nextHeader('connected')]);
  return { ...opened, ready, connected, id: String(connected['participantId']) };
}

const ECHO_TOOLS = {
  echo: { title: 'Echo', description: 'echoes', input_spec: { types: ['json'], stream: false, schema: { type: 'object' } } },
};

async function register(client: Client, name: string, isPublic: boolean, tools: JsonObject = ECHO_TOOLS): Promise<string> {
  const content = await client.session.request('room.register_toolkit', { name, title: name, description: '', public: isPublic, tools });
  expect(content.type).toBe('json');
  return String((content as { json: { id: string } }).json.id);
}

async function listToolkits(client: Client, filter: JsonObject = {}): Promise<Record<string, JsonObject>> {
  const content = await client.session.request('room.list_toolkits', filter);
  if (content.type !== 'json') throw new Error(`list answered ${content.type}`);
  return (content.json as { tools: Record<string, JsonObject> }).tools;
}

function invoke(client: Client, toolkit: string, tool: string, args: unknown, extra: JsonObject = {}, payload?: Uint8Array): Promise<Content> {
  return client.session.request('room.invoke_tool', { toolkit, tool, arguments: { type: 'json', json: args }, ...extra }, payload);
}

/** Host side: answer every `room.tool_call.<toolkit>` with `answer(header)`. */
function serve(host: Client, toolkit: string, answer: (header: JsonObject, payload: Uint8Array) => Content | undefined): FrameMessage[] {
  const calls: FrameMessage[] = [];
  host.session.on(`room.tool_call.${toolkit}`, (message, session) => {
    calls.push(message);
    const { header, payload } = unpackMessage(message.data);
    const content = answer(header, payload);
    if (content) void session.send('room.tool_call_response', packContent(content), message.id);
  });
  return calls;
}

/** A packed message whose header is arbitrary JSON text (to send headers that are not objects). */
function packedJsonText(text: string): Uint8Array {
  const body = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(8 + body.length);
  out.writeUInt32BE(body.length, 4);
  body.copy(out, 8);
  return out;
}

function closeOf(session: Session): Promise<{ code: number; reason: string }> {
  return session.closed;
}

// --- tests ---------------------------------------------------------------------------------------------

describe('RoomServer handshake (§E.1, §H.1 items 1 and 4)', () => {
  it('sends room_ready and connected with a fresh participant id for every connection', async () => {
    const h = await startServer();
    const a = await connect(h, { name: 'alice' });
    const b = await connect(h, { name: 'alice' });
    expect(a.ready).toEqual({ room_name: ROOM, room_url: `${h.base}/rooms/${ROOM}`, session_id: expect.any(String) });
    expect(a.connected).toEqual({ type: 'init', participantId: expect.any(String), attributes: { name: 'alice' } });
    expect(b.id).not.toBe(a.id);
    expect(b.ready['session_id']).toBe(a.ready['session_id']);
  });

  it('accepts the token from the query, an Authorization header, or a subprotocol it echoes back', async () => {
    const h = await startServer();
    const viaHeader = await connect(h, { name: 'py', via: 'header' });
    const viaProtocol = await connect(h, { name: 'browser', via: 'subprotocol' });
    expect(viaHeader.connected['attributes']).toEqual({ name: 'py' });
    expect(viaProtocol.connected['attributes']).toEqual({ name: 'browser' });
    expect(viaProtocol.ws.protocol).toBe(`meshagent-room.${token({ name: 'browser' })}`);
  });

  it.each([
    ['a token signed with another secret', () => token({ secret: 'not-the-secret' }), /signature/],
    ['an expired token', () => token({ expiresInSeconds: 60, now: Math.floor(Date.now() / 1000) - 3600 }), /expired/],
    ['a token for another room', () => token({ room: 'elsewhere' }), /not valid for this room/],
    ['garbage', () => 'not-a-jwt', /refused/],
    ['no token at all', () => undefined, /no participant token/],
  ])('accepts and then closes %s with 1008 and a reason, never an HTTP error', async (_label, makeToken, reason) => {
    const h = await startServer();
    const { ws, session } = open(h, makeToken());
    await once(ws, 'open');
    const closed = await closeOf(session);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(reason);
    expect(h.server.events.filter((e) => e.kind === 'refused')).toHaveLength(1);
    expect(h.server.events.some((e) => e.kind === 'connected')).toBe(false);
  });

  it('decodes without verifying when it has no secret, but still checks the room grant', async () => {
    const h = await startServer({ secret: undefined });
    const client = await connect(h, { secret: 'whatever-the-client-used' });
    expect(client.connected['type']).toBe('init');
    const { session } = open(h, token({ room: 'other', secret: 'x' }));
    await expect(closeOf(session)).resolves.toMatchObject({ code: 1008 });
  });
});

describe('RoomServer toolkits (§E.2–§E.5)', () => {
  it('registers, lists, invokes and unregisters a public toolkit, relaying the host answer byte for byte', async () => {
    const h = await startServer();
    const host = await connect(h, { name: 'host', role: 'agent' });
    const caller = await connect(h, { name: 'caller' });
    const answer = packContent(json({ echoed: 'hi' }));
    const calls: FrameMessage[] = [];
    host.session.on('room.tool_call.kit', (message, session) => {
      calls.push(message);
      void session.send('room.tool_call_response', answer, message.id);
    });
    const registrationId = await register(host, 'kit', true);

    expect(await listToolkits(caller)).toEqual({
      kit: {
        name: 'kit',
        title: 'kit',
        description: '',
        thumbnail_url: null,
        participant_id: host.id,
        annotations: {},
        tools: {
          echo: {
            title: 'Echo',
            description: 'echoes',
            input_spec: { types: ['json'], stream: false, schema: { type: 'object' } },
            output_spec: null,
            defs: null,
            strict: null,
            thumbnail_url: null,
            pricing: null,
          },
        },
      },
    });

    const raw = await caller.session.requestRaw(
      'room.invoke_tool',
      packMessage({ toolkit: 'kit', tool: 'echo', arguments: { type: 'json', json: { message: 'hi' } } }),
    );
    expect(Buffer.from(raw).equals(Buffer.from(answer))).toBe(true);
    const call = unpackMessage(calls[0]?.data as Uint8Array).header;
    expect(call).toEqual({
      name: 'echo',
      arguments: { type: 'json', json: { message: 'hi' } },
      caller_id: caller.id,
      tool_call_id: expect.any(String),
      on_behalf_of_id: null,
      caller_context: null,
    });

    await expect(host.session.request('room.unregister_toolkit', { id: registrationId })).resolves.toEqual({ type: 'empty' });
    expect(await listToolkits(caller)).toEqual({});
    await expect(host.session.request('room.unregister_toolkit', { id: registrationId })).rejects.toMatchObject({ contentCode: 1003 });
  });

  it('passes a multi-frame payload through to the host and back', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    const caller = await connect(h);
    serve(host, 'files', (_header, payload) => ({
      type: 'file',
      name: 'back.bin',
      mimeType: 'application/octet-stream',
      data: payload.length ? payload : new Uint8Array(),
    }));
    await register(host, 'files', true, { put: { title: 'put', description: '', input_spec: { types: ['file'], stream: false } } });
    const bytes = new Uint8Array(50_000).map((_, i) => i % 251);
    const result = await caller.session.request(
      'room.invoke_tool',
      { toolkit: 'files', tool: 'put', arguments: { type: 'file', name: 'in.bin', mime_type: 'application/octet-stream' } },
      bytes,
    );
    expect(result).toMatchObject({ type: 'file', name: 'back.bin' });
    expect(Buffer.from((result as { data: Uint8Array }).data).equals(Buffer.from(bytes))).toBe(true);
  });

  it('lists a private toolkit only to its host, or to a caller that targets the host by participant_id', async () => {
    const h = await startServer();
    const host = await connect(h, { name: 'ui-host' });
    const other = await connect(h, { name: 'agent', role: 'agent' });
    serve(host, 'ui', () => json('shown'));
    await register(host, 'ui', false);

    expect(Object.keys(await listToolkits(host))).toEqual(['ui']);
    expect(await listToolkits(other)).toEqual({});
    expect(Object.keys(await listToolkits(other, { participant_id: host.id }))).toEqual(['ui']);
    await expect(invoke(other, 'ui', 'echo', {})).rejects.toMatchObject({ contentCode: 1003, message: "toolkit 'ui' was not found" });
    await expect(invoke(other, 'ui', 'echo', {}, { participant_id: host.id })).resolves.toEqual(json('shown'));
  });

  it('filters by participant_name and waits up to `timeout` seconds for a named host to register', async () => {
    const h = await startServer();
    const caller = await connect(h);
    const waiting = listToolkits(caller, { participant_name: 'late-host', timeout: 30 });
    const host = await connect(h, { name: 'late-host', role: 'agent' });
    await register(host, 'late', true);
    expect(Object.keys(await waiting)).toEqual(['late']);
    const another = await connect(h, { name: 'another', role: 'agent' });
    await register(another, 'other', true);
    expect(Object.keys(await listToolkits(caller, { participant_name: 'another' }))).toEqual(['other']);
  });

  it('answers 1003 for an unknown toolkit or an unknown tool, and 1007 for a built-in it does not emulate', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    const caller = await connect(h);
    await register(host, 'kit', true);
    await expect(invoke(caller, 'nope', 'echo', {})).rejects.toMatchObject({ contentCode: 1003, message: "toolkit 'nope' was not found" });
    await expect(invoke(caller, 'kit', 'missing', {})).rejects.toMatchObject({ contentCode: 1003, message: expect.stringContaining('was not found') });
    await expect(invoke(caller, 'storage', 'list', {})).rejects.toMatchObject({ contentCode: 1007, message: expect.stringContaining('not emulated') });
  });

  it('fails every pending call with an error when the host leaves before answering', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    const caller = await connect(h);
    serve(host, 'slow', () => undefined); // never answers
    await register(host, 'slow', true, { wait: { title: 'wait', description: '' } });
    const called = h.server.waitForEvent((e) => e.kind === 'tool.called' && e.toolkit === 'slow');
    const pending = invoke(caller, 'slow', 'wait', {});
    await called;
    host.session.close(1000);
    await expect(pending).rejects.toMatchObject({
      contentCode: 1008,
      message: "the participant hosting toolkit 'slow' left before answering",
    });
    expect(await listToolkits(caller)).toEqual({});
  });

  it('relays streamed input and output with the caller’s tool_call_id (§E.5 streaming)', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    const caller = await connect(h);
    await register(host, 'stream', true, { chat: { title: 'chat', description: '', input_spec: { types: ['text'], stream: true } } });
    const hostCall = host.inbox.next('room.tool_call.stream');
    const result = caller.session.request('room.invoke_tool', {
      toolkit: 'stream',
      tool: 'chat',
      tool_call_id: 'c-1',
      arguments: { type: 'control', method: 'open' },
    });
    await expect(caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'c-1', chunk: { type: 'text', text: 'hello' } })).resolves.toEqual({
      type: 'empty',
    });
    const call = await hostCall;
    const callHeader = unpackMessage(call.data).header;
    expect(callHeader).toMatchObject({ name: 'chat', tool_call_id: 'c-1', arguments: { type: 'control', method: 'open' } });

    await host.session.send('room.tool_call_response', packContent({ type: 'control', method: 'open' }), call.id);
    await expect(result).resolves.toEqual({ type: 'control', method: 'open' });
    expect(await host.inbox.nextHeader('room.tool_call_request_chunk.stream')).toEqual({ tool_call_id: 'c-1', chunk: { type: 'text', text: 'hello' } });
    await host.session.sendPacked('room.tool_call_response_chunk', { tool_call_id: 'c-1', chunk: { type: 'text', text: 'part' } }, undefined, call.id);
    await host.session.sendPacked(
      'room.tool_call_response_chunk',
      { tool_call_id: 'c-1', chunk: { type: 'control', method: 'close', status_code: 1000 } },
      undefined,
      call.id,
    );
    expect(await caller.inbox.nextHeader('room.tool_call_response_chunk')).toEqual({
      tool_call_id: 'c-1',
      toolkit: 'stream',
      tool: 'chat',
      chunk: { type: 'text', text: 'part' },
    });
    const last = await caller.inbox.next('room.tool_call_response_chunk');
    const { header, payload } = unpackMessage(last.data);
    expect(contentFromParts(header['chunk'] as JsonObject, payload)).toEqual({ type: 'control', method: 'close', statusCode: 1000 });
    // A chunk for a call that already finished is acknowledged and dropped.
    await expect(caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'c-1', chunk: { type: 'control', method: 'close' } })).resolves.toEqual(
      { type: 'empty' },
    );
    await expect(caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'never', chunk: { type: 'text', text: 'x' } })).rejects.toMatchObject({
      contentCode: 1003,
    });
  });

  it('holds request chunks for a tool whose output streams until the host has answered control open, then forwards them in order', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    const caller = await connect(h);
    await register(host, 'collect', true, {
      gather: { title: 'g', description: '', input_spec: { types: ['text'], stream: true }, output_spec: { types: ['text'], stream: true } },
    });
    const hostCall = host.inbox.next('room.tool_call.collect');
    const result = caller.session.request('room.invoke_tool', {
      toolkit: 'collect',
      tool: 'gather',
      tool_call_id: 'c-9',
      arguments: { type: 'control', method: 'open' },
    });
    const chunks = ['alpha', 'beta', 'gamma'];
    for (const text of chunks) {
      await expect(
        caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'c-9', chunk: { type: 'text', text } }, Buffer.from(text)),
      ).resolves.toEqual({ type: 'empty' });
    }
    const call = await hostCall;
    // A round trip on the host's socket: any chunk forwarded before the acknowledgements would be here by now.
    await listToolkits(host);
    expect(host.transport.received.filter((m) => m.type.startsWith('room.tool_call_request_chunk'))).toEqual([]);

    await host.session.send('room.tool_call_response', packContent({ type: 'control', method: 'open' }), call.id);
    await expect(result).resolves.toEqual({ type: 'control', method: 'open' });
    for (const text of chunks) {
      const message = await host.inbox.next('room.tool_call_request_chunk.collect');
      const { header, payload } = unpackMessage(message.data);
      expect(header).toEqual({ tool_call_id: 'c-9', chunk: { type: 'text', text } });
      expect(Buffer.from(payload).toString()).toBe(text);
    }
    // Once the stream is open, chunks go straight through.
    await caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'c-9', chunk: { type: 'control', method: 'close' } });
    expect(await host.inbox.nextHeader('room.tool_call_request_chunk.collect')).toEqual({ tool_call_id: 'c-9', chunk: { type: 'control', method: 'close' } });
  });

  it('drops held request chunks when the host answers without opening a stream', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    const caller = await connect(h);
    await register(host, 'strict', true, {
      gather: { title: 'g', description: '', input_spec: { types: ['text'], stream: true }, output_spec: { types: ['text'], stream: true } },
    });
    const hostCall = host.inbox.next('room.tool_call.strict');
    const result = caller.session.request('room.invoke_tool', {
      toolkit: 'strict',
      tool: 'gather',
      tool_call_id: 'c-2',
      arguments: { type: 'control', method: 'open' },
    });
    await caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'c-2', chunk: { type: 'text', text: 'lost' } });
    await host.session.send('room.tool_call_response', packContent({ type: 'error', text: 'no streams here', code: 1002 }), (await hostCall).id);
    await expect(result).rejects.toMatchObject({ contentCode: 1002 });
    await expect(caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'c-2', chunk: { type: 'text', text: 'late' } })).resolves.toEqual({
      type: 'empty',
    });
    await listToolkits(host);
    expect(host.transport.received.filter((m) => m.type.startsWith('room.tool_call_request_chunk'))).toEqual([]);
  });

  it('forwards request chunks of a tool that answers once right behind its call, so the host can read them all and answer', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    const caller = await connect(h);
    await register(host, 'summing', true, {
      sum: { title: 's', description: '', input_spec: { types: ['json'], stream: true }, output_spec: { types: ['json'], stream: false } },
    });
    const hostCall = host.inbox.next('room.tool_call.summing');
    const result = caller.session.request('room.invoke_tool', {
      toolkit: 'summing',
      tool: 'sum',
      tool_call_id: 'c-5',
      arguments: { type: 'control', method: 'open' },
    });
    for (const n of [1, 2]) await caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'c-5', chunk: { type: 'json', json: { n } } });
    await caller.session.request('room.tool_call_request_chunk', { tool_call_id: 'c-5', chunk: { type: 'control', method: 'close' } });
    const call = await hostCall;
    // The host never opens a stream: it reads every chunk first, then answers once.
    expect(await host.inbox.nextHeader('room.tool_call_request_chunk.summing')).toEqual({ tool_call_id: 'c-5', chunk: { type: 'json', json: { n: 1 } } });
    expect(await host.inbox.nextHeader('room.tool_call_request_chunk.summing')).toEqual({ tool_call_id: 'c-5', chunk: { type: 'json', json: { n: 2 } } });
    expect(await host.inbox.nextHeader('room.tool_call_request_chunk.summing')).toEqual({ tool_call_id: 'c-5', chunk: { type: 'control', method: 'close' } });
    await host.session.send('room.tool_call_response', packContent({ type: 'json', json: { total: 3 } }), call.id);
    await expect(result).resolves.toEqual({ type: 'json', json: { total: 3 } });
  });

  it('checks the api grant: register_public_toolkit, use_tools and a missing agents key are 1001; no api grant allows all', async () => {
    const h = await startServer();
    const noPublic = await connect(h, { role: 'agent', api: { agents: { register_public_toolkit: false } } });
    await expect(register(noPublic, 'pub', true)).rejects.toMatchObject({ contentCode: 1001 });
    await expect(register(noPublic, 'priv', false)).resolves.toEqual(expect.any(String));
    const noAgents = await connect(h, { api: { messaging: {} } });
    await expect(listToolkits(noAgents)).rejects.toMatchObject({ contentCode: 1001 });
    const noTools = await connect(h, { api: { agents: { use_tools: false } } });
    await expect(invoke(noTools, 'priv', 'echo', {})).rejects.toMatchObject({ contentCode: 1001 });
    const legacy = await connect(h, { api: null });
    await expect(register(legacy, 'legacy', true)).resolves.toEqual(expect.any(String));
    const restricted = await connect(h, { api: { agents: { allowed_toolkits: ['legacy'] } } });
    expect(Object.keys(await listToolkits(restricted))).toEqual(['legacy']);
    await expect(invoke(restricted, 'pub', 'echo', {})).rejects.toMatchObject({ contentCode: 1001 });
  });

  it('lists binary content specs as registered, and leaves out only types no SDK knows', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    await register(host, 'py', true, {
      mixed: { title: 'm', description: '', input_spec: { types: ['binary', 'json'], stream: false } },
      binary: { title: 'b', description: '', input_spec: { types: ['binary'], stream: true }, output_spec: { types: ['binary'], stream: false } },
      unknown: { title: 'u', description: '', input_spec: { types: ['hologram'], stream: false } },
      legacy: { title: 'l', description: '', input_schema: { type: 'object' } },
    });
    const tools = (await listToolkits(host))['py']?.['tools'] as Record<string, JsonObject>;
    expect(tools['mixed']?.['input_spec']).toEqual({ types: ['binary', 'json'], stream: false });
    expect(tools['binary']?.['input_spec']).toEqual({ types: ['binary'], stream: true });
    expect(tools['binary']?.['output_spec']).toEqual({ types: ['binary'], stream: false });
    expect(tools['unknown']?.['input_spec']).toBeNull();
    expect(tools['legacy']?.['input_spec']).toEqual({ types: ['json'], stream: false, schema: { type: 'object' } });
  });
});

describe('RoomServer robustness (§D.1, §E.10)', () => {
  it('answers unknown types and malformed headers with 1002, ignores unknown one-way types, and keeps serving', async () => {
    const h = await startServer();
    const client = await connect(h);
    await expect(client.session.request('room.frobnicate', {})).rejects.toMatchObject({
      contentCode: 1002,
      message: expect.stringContaining('room.frobnicate'),
    });
    await expect(client.session.requestRaw('room.register_toolkit', new Uint8Array([1, 2, 3])).then(unpackContent)).resolves.toMatchObject({
      type: 'error',
      code: 1002,
    });
    await expect(client.session.request('room.register_toolkit', { title: 'no name', tools: {} })).rejects.toMatchObject({
      contentCode: 1002,
      message: expect.stringContaining('name'),
    });
    await expect(client.session.request('room.invoke_tool', { toolkit: 'x' })).rejects.toMatchObject({ contentCode: 1002 });

    const oneWayId = await client.session.sendPacked('agent.tool_call_response', { whatever: true });
    await client.session.sendPacked('set_attributes', { color: 'blue' });
    await client.session.send('set_attributes', packedJsonText('[1, 2]')); // not an object header: dropped
    expect(await listToolkits(client)).toEqual({});
    expect(client.transport.received.filter((m) => m.type === '__response__' && m.id === oneWayId)).toEqual([]);
    expect(h.server.listRooms()[0]?.participants.find((p) => p.id === client.id)?.attributes).toMatchObject({ name: 'someone', color: 'blue' });
  });

  it('answers garbage and out-of-order frames with 1002 when their id is known, then serves this and a second client', async () => {
    const h = await startServer();
    const client = await connect(h);
    // A data frame with no header before it, on the id of a real request: that request is answered 1002.
    client.transport.mangleNext = (frames) => {
      const view = new DataView((frames[0] as Uint8Array).buffer);
      const id = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
      return [encodeDataFrame(id, 1, new Uint8Array([9, 9, 9]))];
    };
    await expect(client.session.request('room.list_toolkits', {})).rejects.toMatchObject({
      contentCode: 1002,
      message: expect.stringContaining('expected a header frame'),
    });
    // Too short to carry an id: recorded, nothing to answer; the next header frame resets the reader.
    client.ws.send(Buffer.from([1, 2, 3]));
    expect(await listToolkits(client)).toEqual({});
    const second = await connect(h);
    expect(await listToolkits(second)).toEqual({});
    expect(h.server.events.filter((e) => e.kind === 'frame.error').length).toBeGreaterThanOrEqual(2);
  });

  it('answers a message larger than maxMessageBytes with 1002 and keeps the connection', async () => {
    const h = await startServer({ maxMessageBytes: 16 * 1024 });
    const client = await connect(h);
    const big = new Uint8Array(64 * 1024);
    await expect(client.session.request('room.invoke_tool', { toolkit: 'x', tool: 'y', arguments: { type: 'empty' } }, big)).rejects.toMatchObject({
      contentCode: 1002,
      message: expect.stringContaining('more than the maximum'),
    });
    // The refused message's data frames were dropped until this request's header frame.
    expect(await listToolkits(client)).toEqual({});
  });

  it('fails the waiting caller when a host sends a response it cannot read', async () => {
    const h = await startServer();
    const host = await connect(h, { role: 'agent' });
    const caller = await connect(h);
    host.session.on(
      'room.tool_call.bad',
      (message, session) => void session.send('room.tool_call_response', packMessage({ type: 'raw', outputs: [] }), message.id),
    );
    await register(host, 'bad', true);
    await expect(invoke(caller, 'bad', 'echo', {})).rejects.toMatchObject({ contentCode: 1002, message: expect.stringContaining('invalid response') });
  });
});

describe('RoomServer session lifecycle (§H.1 item 10)', () => {
  it('lets agents join without starting a session; a user starts it; it ends idleGraceMs after the last user leaves', async () => {
    const started: Array<{ name: string; sessionId: string; url: string }> = [];
    const ended: Array<{ name: string; sessionId: string }> = [];
    const h = await startServer({ idleGraceMs: 20, hooks: { onSessionStarted: (r) => started.push(r), onSessionEnded: (r) => ended.push(r) } });
    const agent = await connect(h, { role: 'agent', name: 'bot' });
    expect(h.server.listRooms()).toMatchObject([{ name: ROOM, sessionId: null, active: false }]);
    expect(started).toEqual([]);

    const user = await connect(h, { role: 'user', name: 'human' });
    // The agent was told the id of the session that had not started yet: the one the user then started.
    expect(agent.ready['session_id']).toBe(user.ready['session_id']);
    expect(started).toEqual([{ name: ROOM, sessionId: user.ready['session_id'], url: `${h.base}/rooms/${ROOM}` }]);
    expect(h.server.startSession(ROOM).sessionId).toBe(user.ready['session_id']);
    expect(started).toHaveLength(1);

    const sessionEnded = h.server.waitForEvent((e) => e.kind === 'session.ended');
    const agentLeft = h.server.waitForEvent((e) => e.kind === 'disconnected' && e.participantId === agent.id);
    user.session.close(1000);
    await sessionEnded;
    await agentLeft;
    await expect(closeOf(agent.session)).resolves.toEqual({ code: 1000, reason: 'the room session ended' });
    expect(ended).toEqual([{ name: ROOM, sessionId: user.ready['session_id'] }]);
    expect(h.server.listRooms()[0]).toMatchObject({ active: false, participants: [], toolkits: [] });
  });

  it('keeps the session when a user comes back within the grace period', async () => {
    const h = await startServer({ idleGraceMs: 60_000 });
    const user = await connect(h);
    const agent = await connect(h, { role: 'agent' });
    const left = h.server.waitForEvent((e) => e.kind === 'disconnected' && e.participantId === user.id);
    user.session.close(1000);
    await left;
    const back = await connect(h);
    expect(back.ready['session_id']).toBe(user.ready['session_id']);
    expect(agent.session.isOpen).toBe(true);
  });

  it('starts a session on demand, ends it on demand with 1000, and fires each hook once', async () => {
    const started: string[] = [];
    const ended: string[] = [];
    const h = await startServer({ hooks: { onSessionStarted: (r) => started.push(r.sessionId), onSessionEnded: (r) => ended.push(r.sessionId) } });
    const info = h.server.startSession('ondemand');
    h.server.startSession('ondemand');
    expect(started).toEqual([info.sessionId]);
    const agent = await connect(h, { role: 'agent', room: 'ondemand' });
    expect(agent.ready['session_id']).toBe(info.sessionId);
    expect(h.server.endSession('ondemand')).toBe(true);
    expect(h.server.endSession('ondemand')).toBe(false);
    await expect(closeOf(agent.session)).resolves.toMatchObject({ code: 1000 });
    expect(ended).toEqual([info.sessionId]);
    expect(h.server.ensureRoom('fresh')).toMatchObject({ name: 'fresh', sessionId: null, active: false, participants: [] });
  });

  it('answers upgrades to a disabled room with HTTP 423, closes who was there with 1000, and accepts them once enabled', async () => {
    const ended: string[] = [];
    const h = await startServer({ hooks: { onSessionEnded: (r) => ended.push(r.sessionId) } });
    const user = await connect(h);
    const agent = await connect(h, { role: 'agent' });
    expect(h.server.disableRoom(ROOM)).toMatchObject({ disabled: true, active: false, sessionId: null });
    await expect(closeOf(user.session)).resolves.toEqual({ code: 1000, reason: 'This room is currently disabled.' });
    await expect(closeOf(agent.session)).resolves.toEqual({ code: 1000, reason: 'This room is currently disabled.' });
    expect(ended).toEqual([user.ready['session_id']]);

    const ws = new WebSocket(`${h.base}/rooms/${ROOM}?token=${token()}`);
    ws.on('error', () => undefined);
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    ws.terminate();
    expect(response.statusCode).toBe(423);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ error: { code: 'RR_EMULATOR_ROOM_DISABLED', message: 'This room is currently disabled.' } });
    expect(h.server.events.filter((e) => e.kind === 'refused').map((e) => e.code)).toEqual([423]);
    expect(() => h.server.startSession(ROOM)).toThrow(expect.objectContaining({ code: 'RR_EMULATOR_ROOM_DISABLED' }));

    expect(h.server.enableRoom(ROOM)).toMatchObject({ disabled: false });
    const back = await connect(h);
    expect(back.ready['session_id']).toEqual(expect.any(String));
    expect(h.server.listRooms()[0]).toMatchObject({ active: true, disabled: false });
  });

  it('pings every peer and drops one that misses two pongs in a row, keeping one that answers', async () => {
    const h = await startServer({ pingIntervalMs: 20 });
    const silent = await connect(h, { name: 'silent', autoPong: false });
    const lively = await connect(h, { name: 'lively' });
    let pings = 0;
    const pinged = new Promise<void>((resolve) => lively.ws.on('ping', () => ++pings >= 6 && resolve()));
    const dropped = h.server.waitForEvent((e) => e.kind === 'disconnected' && e.participantId === silent.id, { includePast: true });
    await expect(closeOf(silent.session)).resolves.toMatchObject({ code: 1006 });
    expect((await dropped).code).toBe(1006);
    await pinged;
    expect(lively.session.isOpen).toBe(true);
    expect(h.server.listRooms()[0]?.participants.map((p) => p.name)).toEqual(['lively']);
  });

  it('closes a participant with a chosen code, or drops its socket', async () => {
    const h = await startServer();
    const a = await connect(h);
    const b = await connect(h);
    expect(h.server.closeParticipant(ROOM, a.id, 1011, 'try again')).toBe(true);
    await expect(closeOf(a.session)).resolves.toEqual({ code: 1011, reason: 'try again' });
    expect(h.server.terminateParticipant(ROOM, b.id)).toBe(true);
    await expect(closeOf(b.session)).resolves.toMatchObject({ code: 1006 });
    expect(h.server.closeParticipant(ROOM, 'nobody', 1000)).toBe(false);
  });
});

describe('RoomServer messaging, status and room.call (§E.6, §A.8)', () => {
  it('enables messaging, announces peers, sends, broadcasts, relays attributes and dismisses', async () => {
    const h = await startServer();
    const a = await connect(h, { name: 'a' });
    const b = await connect(h, { name: 'b', role: 'agent' });
    await expect(invoke(a, 'messaging', 'enable', {})).resolves.toEqual({ type: 'empty' });
    expect(await a.inbox.nextHeader('messaging.send')).toEqual({ from_participant_id: a.id, type: 'messaging.enabled', message: { participants: [] } });
    await invoke(b, 'messaging', 'enable', {});
    expect(await b.inbox.nextHeader('messaging.send')).toEqual({
      from_participant_id: b.id,
      type: 'messaging.enabled',
      message: { participants: [{ id: a.id, role: 'user', attributes: { name: 'a' } }] },
    });
    expect(await a.inbox.nextHeader('messaging.send')).toEqual({
      from_participant_id: b.id,
      type: 'participant.enabled',
      message: { id: b.id, role: 'agent', attributes: { name: 'b' } },
    });

    await invoke(a, 'messaging', 'send', {
      to_participant_id: b.id,
      type: 'chat',
      message_json: JSON.stringify({ text: 'hi' }),
      attachment_base64: Buffer.from('att').toString('base64'),
    });
    const sent = await b.inbox.next('messaging.send');
    const { header, payload } = unpackMessage(sent.data);
    expect(header).toEqual({ from_participant_id: a.id, type: 'chat', message: { text: 'hi' } });
    expect(Buffer.from(payload).toString()).toBe('att');
    await expect(invoke(a, 'messaging', 'send', { to_participant_id: 'ghost', type: 'chat', message_json: '{}' })).rejects.toMatchObject({
      message: 'the participant was not found',
    });

    await invoke(b, 'messaging', 'broadcast', { type: 'news', message_json: '{"n":1}' });
    expect(await a.inbox.nextHeader('messaging.send')).toEqual({ from_participant_id: b.id, type: 'news', message: { n: 1 } });

    await b.session.sendPacked('set_attributes', { mood: 'busy' });
    expect(await a.inbox.nextHeader('messaging.send')).toEqual({
      from_participant_id: b.id,
      type: 'participant.attributes',
      message: { attributes: { name: 'b', mood: 'busy' } },
    });

    expect(h.server.dismiss(ROOM, b.id)).toBe(true);
    expect(await b.inbox.nextHeader('messaging.send')).toMatchObject({ type: 'dismiss' });

    b.session.close(1000);
    expect(await a.inbox.nextHeader('messaging.send')).toEqual({ from_participant_id: b.id, type: 'participant.disabled', message: { id: b.id } });
  });

  it('pushes room.status to one participant or all', async () => {
    const h = await startServer();
    const a = await connect(h);
    const b = await connect(h);
    h.server.pushStatus(ROOM, a.id, 'warning', 'disk almost full');
    h.server.pushStatus(ROOM, undefined, 'notice');
    expect(await a.inbox.nextHeader('room.status')).toEqual({ status: 'warning', message: 'disk almost full' });
    expect(await a.inbox.nextHeader('room.status')).toEqual({ status: 'notice', message: '' });
    expect(await b.inbox.nextHeader('room.status')).toEqual({ status: 'notice', message: '' });
  });

  it('hands room.call to the onRoomCall hook and answers empty, or an error when it throws or is missing', async () => {
    const calls: unknown[] = [];
    const h = await startServer({
      hooks: {
        onRoomCall: async (call) => {
          calls.push(call);
          if (call.name === 'broken') throw new Error('connection refused');
        },
      },
    });
    const client = await connect(h);
    await expect(client.session.request('room.call', { name: 'helper', url: 'http://127.0.0.1:9/webhook', arguments: { a: 1 } })).resolves.toEqual({
      type: 'empty',
    });
    expect(calls).toEqual([
      {
        room: ROOM,
        roomUrl: `${h.base}/rooms/${ROOM}`,
        name: 'helper',
        url: 'http://127.0.0.1:9/webhook',
        arguments: { a: 1 },
        api: null,
        callerId: client.id,
      },
    ]);
    await expect(client.session.request('room.call', { name: 'broken', url: 'http://x/' })).rejects.toMatchObject({
      contentCode: 1008,
      message: expect.stringContaining('connection refused'),
    });
    const denied = await connect(h, { api: { agents: { call: false } } });
    await expect(denied.session.request('room.call', { name: 'n', url: 'http://x/' })).rejects.toMatchObject({ contentCode: 1001 });

    const bare = await startServer();
    const other = await connect(bare);
    await expect(other.session.request('room.call', { name: 'n', url: 'http://x/' })).rejects.toMatchObject({ contentCode: 1008 });
  });
});
