/**
 * RoomClient over an in-memory RoomConnection: a test-side Session plays the room and checks the exact
 * headers of §E (register/list/invoke/messaging/room.call) and the tool-call answers of §E.5.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import { empty, errorContent, json, packContent, text, unpackContent, type Content } from '../../src/protocol/content.js';
import type { FrameMessage } from '../../src/protocol/frame-reader.js';
import { MESSAGE_TYPES } from '../../src/protocol/messages.js';
import { unpackMessage, type JsonObject } from '../../src/protocol/packing.js';
import { RoomConnection } from '../../src/room/connection.js';
import { isContent, RoomClient } from '../../src/room/room-client.js';
import { Session } from '../../src/room/session.js';
import { createMemoryTransportPair } from '../../src/room/transport.js';

type Responder = (header: JsonObject, payload: Uint8Array) => Content;

interface Room {
  client: RoomClient;
  server: Session;
  /** Messages the client sent, by arrival. */
  received: FrameMessage[];
  next(type: string): Promise<FrameMessage>;
}

const connections: RoomConnection[] = [];
afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close()));
});

/** A ready RoomClient whose room answers requests with `responders[type]`. */
async function room(responders: Record<string, Responder> = {}): Promise<Room> {
  const received: FrameMessage[] = [];
  const listeners: Array<() => void> = [];
  let server!: Session;
  const connection = new RoomConnection({
    url: 'ws://memory/rooms/r',
    token: 't',
    backoff: { initialMs: 1, maxMs: 1 },
    dial: async () => {
      const [client, serverSide] = createMemoryTransportPair();
      server = new Session(serverSide, {
        onUnhandled: async (message, self) => {
          const responder = responders[message.type];
          if (responder) {
            const { header, payload } = unpackMessage(message.data);
            await self.respond(message.id, responder(header, payload));
          }
          received.push(message);
          for (const l of listeners.splice(0)) l();
        },
      });
      await server.sendPacked(MESSAGE_TYPES.ROOM_READY, { room_name: 'r' });
      await server.sendPacked(MESSAGE_TYPES.CONNECTED, { type: 'init', participantId: 'me', attributes: { name: 'host' } });
      return client;
    },
  });
  connections.push(connection);
  await connection.start();
  const taken = new Set<FrameMessage>();
  return {
    client: new RoomClient(connection),
    server,
    received,
    next: (type) =>
      new Promise((resolve) => {
        const look = (): void => {
          const found = received.find((m) => m.type === type && !taken.has(m));
          if (found) {
            taken.add(found);
            resolve(found);
          } else listeners.push(look);
        };
        look();
      }),
  };
}

const header = (m: FrameMessage): JsonObject => unpackMessage(m.data).header;

async function rejection(promise: Promise<unknown>): Promise<RoomrunnerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RoomrunnerError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('RoomClient requests', () => {
  it('registers a toolkit (§E.2) and returns the id from json {id}', async () => {
    const r = await room({ 'room.register_toolkit': () => json({ id: 'reg-1' }) });
    const id = await r.client.registerToolkit({
      name: 'calc',
      title: 'Calculator',
      description: '',
      tools: { add: { title: 'Add', description: 'adds', input_spec: { types: ['json'], schema: { type: 'object' } } } },
    });
    expect(id).toBe('reg-1');
    expect(header(await r.next('room.register_toolkit'))).toEqual({
      name: 'calc',
      title: 'Calculator',
      description: '',
      public: false,
      tools: { add: { title: 'Add', description: 'adds', input_spec: { types: ['json'], stream: false, schema: { type: 'object' } } } },
    });
  });

  it('refuses a registration answered with anything but json {id}', async () => {
    const r = await room({ 'room.register_toolkit': () => empty() });
    const error = await rejection(r.client.registerToolkit({ name: 'calc', tools: {} }));
    expect(error.code).toBe('RR_ROOM_UNEXPECTED_RESPONSE');
    expect(error.contentCode).toBe(1100);
  });

  it('refuses a malformed registration before sending it', async () => {
    const r = await room();
    const error = await rejection(r.client.registerToolkit({ name: '', tools: {} }));
    expect(error.code).toBe('RR_MESSAGE_INVALID');
    expect(r.received).toHaveLength(0);
  });

  it('unregisters, and skips unregistering once closed', async () => {
    const r = await room({ 'room.unregister_toolkit': () => empty() });
    await r.client.unregisterToolkit('reg-1');
    expect(header(await r.next('room.unregister_toolkit'))).toEqual({ id: 'reg-1' });
    await r.client.connection.close();
    await r.client.unregisterToolkit('reg-2');
    expect(r.received.filter((m) => m.type === 'room.unregister_toolkit')).toHaveLength(1);
  });

  it('lists toolkits with snake_case filters and parses the answer (§E.3)', async () => {
    const listed = {
      tools: { calc: { name: 'calc', title: 'Calc', participant_id: 'p2', tools: { add: { title: 'Add', input_spec: { types: ['json'] } } } } },
    };
    const r = await room({ 'room.list_toolkits': () => json(listed) });
    const result = await r.client.listToolkits({ participantId: 'p2', participantName: 'host', timeout: 5 });
    expect(header(await r.next('room.list_toolkits'))).toEqual({ participant_id: 'p2', participant_name: 'host', timeout: 5 });
    expect(result.tools['calc']?.participant_id).toBe('p2');
    expect(result.tools['calc']?.tools['add']?.input_spec?.types).toEqual(['json']);
  });

  it('sends {} to list every toolkit, and refuses a tools value that is not a map', async () => {
    const r = await room({ 'room.list_toolkits': () => json({ tools: [] }) });
    expect((await rejection(r.client.listToolkits())).code).toBe('RR_ROOM_UNEXPECTED_RESPONSE');
    expect(header(await r.next('room.list_toolkits'))).toEqual({});
  });

  it('invokes a tool with a plain object as json content and a fresh tool_call_id (§E.4)', async () => {
    const r = await room({ 'room.invoke_tool': (h) => json({ got: h['arguments'] }) });
    const result = await r.client.invokeTool({ toolkit: 'calc', tool: 'add', arguments: { a: 1, b: 2 }, participantId: 'p2' });
    expect(result).toEqual(json({ got: { type: 'json', json: { a: 1, b: 2 } } }));
    expect(header(await r.next('room.invoke_tool'))).toEqual({
      toolkit: 'calc',
      tool: 'add',
      arguments: { type: 'json', json: { a: 1, b: 2 } },
      participant_id: 'p2',
      tool_call_id: expect.stringMatching(/^\d+-[0-9a-f]+$/),
    });
  });

  it('invokes with empty content when there are no arguments, and carries a file payload', async () => {
    const r = await room({ 'room.invoke_tool': (h, payload) => json({ args: h['arguments'], bytes: payload.length }) });
    expect(await r.client.invokeTool({ toolkit: 't', tool: 'x' })).toEqual(json({ args: { type: 'empty' }, bytes: 0 }));
    const file = { type: 'file' as const, name: 'a.bin', mimeType: 'application/octet-stream', data: new Uint8Array(3000) };
    expect(await r.client.invokeTool({ toolkit: 't', tool: 'x', arguments: file })).toEqual(
      json({ args: { type: 'file', name: 'a.bin', mime_type: 'application/octet-stream' }, bytes: 3000 }),
    );
  });

  it('turns an error answer into RR_ROOM_SERVER_ERROR with the room code', async () => {
    const r = await room({ 'room.invoke_tool': () => errorContent("toolkit 'x' was not found", 1003) });
    const error = await rejection(r.client.invokeTool({ toolkit: 'x', tool: 'y' }));
    expect(error.code).toBe('RR_ROOM_SERVER_ERROR');
    expect(error.message).toBe("toolkit 'x' was not found");
    expect(error.contentCode).toBe(1003);
  });

  it('sends attributes one-way', async () => {
    const r = await room();
    await r.client.setAttributes({ status: 'busy' });
    expect(header(await r.next(MESSAGE_TYPES.SET_ATTRIBUTES))).toEqual({ status: 'busy' });
    expect(r.client.connection.attributes).toEqual({ name: 'host', status: 'busy' });
  });

  it('speaks messaging through the messaging toolkit (§E.6)', async () => {
    const r = await room({ 'room.invoke_tool': () => empty() });
    await r.client.enableMessaging();
    await r.client.sendMessage({ to: 'p2', type: 'chat', message: { text: 'hi' }, attachment: new Uint8Array([1, 2, 3]) });
    await r.client.broadcastMessage({ type: 'note', message: 'all' });
    await r.client.disableMessaging();
    const calls = r.received.filter((m) => m.type === 'room.invoke_tool').map((m) => ({ ...header(m), tool_call_id: undefined }));
    expect(calls).toEqual([
      { toolkit: 'messaging', tool: 'enable', arguments: { type: 'json', json: {} } },
      {
        toolkit: 'messaging',
        tool: 'send',
        arguments: { type: 'json', json: { type: 'chat', message_json: '{"text":"hi"}', attachment_base64: 'AQID', to_participant_id: 'p2' } },
      },
      { toolkit: 'messaging', tool: 'broadcast', arguments: { type: 'json', json: { type: 'note', message_json: '"all"' } } },
      { toolkit: 'messaging', tool: 'disable', arguments: { type: 'json', json: {} } },
    ]);
  });

  it('sends room.call (§A.8)', async () => {
    const r = await room({ 'room.call': () => empty() });
    await r.client.roomCall({ name: 'helper', url: 'https://svc/webhook', arguments: { k: 1 }, api: { agents: {} } });
    expect(header(await r.next('room.call'))).toEqual({ name: 'helper', url: 'https://svc/webhook', arguments: { k: 1 }, api: { agents: {} } });
  });
});

describe('RoomClient.serveToolkit', () => {
  async function call(r: Room, toolkit: string, callHeader: JsonObject, id: number, payload?: Uint8Array): Promise<FrameMessage> {
    await r.server.sendPacked(`room.tool_call.${toolkit}`, callHeader, payload, id);
    return r.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE);
  }

  it('passes the call to the handler and answers with the id the room chose (§E.5)', async () => {
    const r = await room();
    const seen: unknown[] = [];
    r.client.serveToolkit('calc', (c) => {
      seen.push({ ...c, signal: undefined, openStream: undefined, sendChunk: undefined });
      return json({ sum: 3 });
    });
    const answer = await call(
      r,
      'calc',
      { name: 'add', arguments: { type: 'json', json: { a: 1, b: 2 } }, caller_id: 'c1', tool_call_id: 't1', on_behalf_of_id: null, caller_context: { x: 1 } },
      77,
    );
    expect(answer.id).toBe(77);
    expect(unpackContent(answer.data)).toEqual(json({ sum: 3 }));
    expect(seen).toEqual([
      {
        toolkit: 'calc',
        name: 'add',
        arguments: json({ a: 1, b: 2 }),
        callerId: 'c1',
        toolCallId: 't1',
        onBehalfOfId: null,
        callerContext: { x: 1 },
        messageId: 77,
        signal: undefined,
        input: null,
        openStream: undefined,
        sendChunk: undefined,
      },
    ]);
  });

  it('falls back to the message id for a missing tool_call_id, and passes file payloads', async () => {
    const r = await room();
    r.client.serveToolkit('files', (c) => text(`${c.toolCallId}:${c.arguments.type === 'file' ? c.arguments.data.length : -1}`));
    const answer = await call(r, 'files', { name: 'size', arguments: { type: 'file', name: 'f', mime_type: 'text/plain' } }, 9, new Uint8Array(2048));
    expect(unpackContent(answer.data)).toEqual(text('9:2048'));
  });

  it('answers a thrown error with its message, and a RoomrunnerError with its content code', async () => {
    const r = await room();
    r.client.serveToolkit('bad', (c) => {
      if (c.name === 'plain') throw new Error('boom');
      throw new RoomrunnerError('RR_REQUEST_TIMEOUT', 'too slow');
    });
    expect(unpackContent((await call(r, 'bad', { name: 'plain', arguments: { type: 'empty' } }, 1)).data)).toEqual({ type: 'error', text: 'boom' });
    expect(unpackContent((await call(r, 'bad', { name: 'coded', arguments: { type: 'empty' } }, 2)).data)).toEqual({
      type: 'error',
      text: 'too slow',
      code: 1009,
    });
  });

  it('answers a malformed call or a non-content result with an error, and keeps serving', async () => {
    const r = await room();
    r.client.serveToolkit('odd', (c) => (c.name === 'nothing' ? (undefined as unknown as Content) : empty()));
    const malformed = unpackContent((await call(r, 'odd', { arguments: { type: 'empty' } }, 1)).data);
    expect(malformed).toMatchObject({ type: 'error', code: 1002 });
    const unknownContent = unpackContent((await call(r, 'odd', { name: 'x', arguments: { type: 'raw' } }, 2)).data);
    expect(unknownContent).toMatchObject({ type: 'error', code: 1002 });
    const nothing = unpackContent((await call(r, 'odd', { name: 'nothing', arguments: { type: 'empty' } }, 3)).data);
    expect(nothing).toMatchObject({ type: 'error', text: "tool 'nothing' of toolkit 'odd' returned no content" });
    expect(unpackContent((await call(r, 'odd', { name: 'fine', arguments: { type: 'empty' } }, 4)).data)).toEqual(empty());
    expect(r.client.connection.state).toBe('ready');
  });

  it('stops serving once unserved (the room then gets error 1003)', async () => {
    const r = await room();
    const unserve = r.client.serveToolkit('calc', () => empty());
    unserve();
    expect(unpackContent((await call(r, 'calc', { name: 'add', arguments: { type: 'empty' } }, 5)).data)).toMatchObject({ type: 'error', code: 1003 });
  });

  it('aborts the call signal when the socket that carried the call closes', async () => {
    const r = await room();
    let signal: AbortSignal | undefined;
    const started = new Promise<void>((resolve) =>
      r.client.serveToolkit('slow', (c) => {
        signal = c.signal;
        resolve();
        return new Promise<Content>(() => undefined);
      }),
    );
    await r.server.sendPacked('room.tool_call.slow', { name: 'wait', arguments: { type: 'empty' } }, undefined, 1);
    await started;
    expect(signal?.aborted).toBe(false);
    r.server.close(1011);
    await new Promise((resolve) => signal?.addEventListener('abort', resolve));
    expect(signal?.aborted).toBe(true);
  });
});

describe('isContent', () => {
  it('recognises contents by their type', () => {
    expect(isContent(json(1))).toBe(true);
    expect(isContent(packContent)).toBe(false);
    expect(isContent({ type: 'raw' })).toBe(false);
    expect(isContent(null)).toBe(false);
  });
});

describe('RoomClient streamed calls (docs/protocol.md §E.5)', () => {
  const open: Content = { type: 'control', method: 'open' };

  async function sendChunk(r: Room, toolCallId: string, chunk: JsonObject): Promise<void> {
    await r.server.sendPacked(MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK, { tool_call_id: toolCallId, toolkit: 'count', tool: 'up', chunk });
  }

  async function collect(stream: AsyncIterable<Content>): Promise<{ chunks: Content[]; error?: RoomrunnerError }> {
    const chunks: Content[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk);
      return { chunks };
    } catch (error) {
      if (error instanceof RoomrunnerError) return { chunks, error };
      throw error;
    }
  }

  it('reads a streamed answer chunk by chunk, error chunks included, until the close', async () => {
    const r = await room({ 'room.invoke_tool': () => open });
    const stream = r.client.invoke({ toolkit: 'count', tool: 'up', arguments: { to: 2 } });
    const reading = collect(stream);
    const id = header(await r.next('room.invoke_tool'))['tool_call_id'] as string;
    expect(id).toBe(stream.toolCallId);
    await sendChunk(r, id, { type: 'json', json: { n: 1 } });
    await sendChunk(r, id, { type: 'error', text: 'a hiccup' });
    await sendChunk(r, id, { type: 'json', json: { n: 2 } });
    await sendChunk(r, id, { type: 'control', method: 'close', status_code: 1000 });
    expect(await reading).toEqual({ chunks: [json({ n: 1 }), { type: 'error', text: 'a hiccup' }, json({ n: 2 })] });
  });

  it('reads a bare JSON chunk without a content type (a Python tool event) as json', async () => {
    const r = await room({ 'room.invoke_tool': () => open });
    const reading = collect(r.client.invoke({ toolkit: 'count', tool: 'up', toolCallId: 'py1' }));
    await r.next('room.invoke_tool');
    await sendChunk(r, 'py1', { kind: 'progress', item_id: 'i1' });
    await sendChunk(r, 'py1', { type: 'control', method: 'close' });
    expect(await reading).toEqual({ chunks: [json({ kind: 'progress', item_id: 'i1' })] });
  });

  it('resolves invokeTool on a streamed answer with its last chunk', async () => {
    const r = await room({ 'room.invoke_tool': () => open });
    const answer = r.client.invokeTool({ toolkit: 'count', tool: 'up', toolCallId: 'mine' });
    expect(header(await r.next('room.invoke_tool'))['tool_call_id']).toBe('mine');
    await sendChunk(r, 'mine', { type: 'json', json: { n: 1 } });
    await sendChunk(r, 'mine', { type: 'json', json: { total: 1 } });
    await sendChunk(r, 'mine', { type: 'control', method: 'close' });
    expect(await answer).toEqual(json({ total: 1 }));
  });

  it('fails the stream with RR_ROOM_STREAM_CLOSED, the status and the reason when it closes with 1007', async () => {
    const r = await room({ 'room.invoke_tool': () => open });
    const reading = collect(r.client.invoke({ toolkit: 'count', tool: 'up', toolCallId: 'c7' }));
    await r.next('room.invoke_tool');
    await sendChunk(r, 'c7', { type: 'json', json: { n: 1 } });
    await sendChunk(r, 'c7', { type: 'control', method: 'close', status_code: 1007, message: 'chunk 1: n: expected number' });
    const { chunks, error } = await reading;
    expect(chunks).toEqual([json({ n: 1 })]);
    expect(error?.code).toBe('RR_ROOM_STREAM_CLOSED');
    expect(error?.message).toBe('chunk 1: n: expected number');
    expect(error?.data).toMatchObject({ statusCode: 1007 });
  });

  it('yields a single answer as one content, and fails on an error answer without inventing a code', async () => {
    const r = await room({ 'room.invoke_tool': (h) => (h['tool'] === 'bad' ? errorContent('ValueError: nope') : json({ ok: true })) });
    expect(await collect(r.client.invoke({ toolkit: 't', tool: 'good' }))).toEqual({ chunks: [json({ ok: true })] });
    const { error } = await collect(r.client.invoke({ toolkit: 't', tool: 'bad' }));
    expect([error?.code, error?.message, error?.data['code']]).toEqual(['RR_ROOM_SERVER_ERROR', 'ValueError: nope', undefined]);
  });

  it('sends streamed input as request chunks after the invoke, then a control close', async () => {
    const r = await room({ 'room.invoke_tool': () => open, 'room.tool_call_request_chunk': () => empty() });
    async function* input(): AsyncGenerator<Content> {
      yield json({ n: 1 });
      yield json({ n: 2 });
    }
    const answer = r.client.invokeTool({ toolkit: 'sum', tool: 'all', arguments: input(), toolCallId: 's1' });
    const chunks = [await r.next('room.tool_call_request_chunk'), await r.next('room.tool_call_request_chunk'), await r.next('room.tool_call_request_chunk')];
    await sendChunk(r, 's1', { type: 'json', json: { total: 3 } });
    await sendChunk(r, 's1', { type: 'control', method: 'close' });
    expect(await answer).toEqual(json({ total: 3 }));
    expect(header(r.received.find((m) => m.type === 'room.invoke_tool') as FrameMessage)['arguments']).toEqual({ type: 'control', method: 'open' });
    expect(r.received.findIndex((m) => m.type === 'room.invoke_tool')).toBeLessThan(r.received.indexOf(chunks[0] as FrameMessage));
    expect(chunks.map(header)).toEqual([
      { tool_call_id: 's1', chunk: { type: 'json', json: { n: 1 } } },
      { tool_call_id: 's1', chunk: { type: 'json', json: { n: 2 } } },
      { tool_call_id: 's1', chunk: { type: 'control', method: 'close', status_code: 1000 } },
    ]);
  });
});

describe('RoomClient.serveToolkit streams (docs/protocol.md §E.5)', () => {
  it('hands streamed input to the handler, chunks that came before the call first', async () => {
    const r = await room();
    const seen: Content[] = [];
    r.client.serveToolkit('sum', async (c) => {
      for await (const chunk of c.input ?? []) seen.push(chunk);
      return json({ read: seen.length });
    });
    const chunk = (id: string, body: JsonObject): Promise<number> => r.server.sendPacked('room.tool_call_request_chunk.sum', { tool_call_id: id, chunk: body });
    await chunk('in1', { type: 'json', json: { n: 1 } });
    await r.server.sendPacked(
      'room.tool_call.sum',
      { name: 'all', arguments: { type: 'control', method: 'open' }, caller_id: 'c', tool_call_id: 'in1' },
      undefined,
      5,
    );
    await chunk('in1', { type: 'json', json: { n: 2 } });
    await chunk('in1', { type: 'control', method: 'close', status_code: 1000 });
    const answer = await r.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE);
    expect(unpackContent(answer.data)).toEqual(json({ read: 2 }));
    expect(seen).toEqual([json({ n: 1 }), json({ n: 2 })]);
  });

  it('answers control open, sends each chunk with the call id, and closes after the returned content', async () => {
    const r = await room();
    r.client.serveToolkit('count', async (c) => {
      await c.openStream();
      await c.sendChunk(json({ n: 1 }));
      return { type: 'error', text: 'stopped early', code: 1008 };
    });
    await r.server.sendPacked('room.tool_call.count', { name: 'up', arguments: { type: 'empty' }, caller_id: 'c', tool_call_id: 'k1' }, undefined, 8);
    const response = await r.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE);
    const chunks = [
      await r.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK),
      await r.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK),
      await r.next(MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK),
    ];
    expect(unpackContent(response.data)).toEqual({ type: 'control', method: 'open' });
    expect(chunks.map((m) => m.id)).toEqual([8, 8, 8]);
    expect(chunks.map(header)).toEqual([
      { tool_call_id: 'k1', chunk: { type: 'json', json: { n: 1 } } },
      { tool_call_id: 'k1', chunk: { type: 'error', text: 'stopped early', code: 1008 } },
      { tool_call_id: 'k1', chunk: { type: 'control', method: 'close', status_code: 1000 } },
    ]);
  });
});
