import { describe, expect, it, vi } from 'vitest';
import { json } from '../../src/protocol/content.js';
import { encodeFrames } from '../../src/protocol/frames.js';
import { packMessage } from '../../src/protocol/packing.js';
import { Session } from '../../src/room/session.js';
import { createMemoryTransportPair } from '../../src/room/transport.js';

function pair(options: ConstructorParameters<typeof Session>[1] = {}): [Session, Session] {
  const [a, b] = createMemoryTransportPair();
  return [new Session(a, options), new Session(b, options)];
}

describe('Session (§D.2)', () => {
  it('matches a response to its request by id', async () => {
    const [client, server] = pair();
    server.on('echo', async (msg, s) => {
      await s.respond(msg.id, json({ id: msg.id }));
    });
    await expect(client.request('echo', {})).resolves.toEqual({ type: 'json', json: { id: 0 } });
    await expect(client.request('echo', {})).resolves.toEqual({ type: 'json', json: { id: 1 } });
  });

  it('refuses a second handler for one type with RR_ROOM_HANDLER_REFUSED', () => {
    const [client] = pair();
    client.on('x', () => undefined);
    expect(() => client.on('x', () => undefined)).toThrow(
      expect.objectContaining({ code: 'RR_ROOM_HANDLER_REFUSED', message: 'a handler for x is already registered' }),
    );
  });

  it('rejects with the room code when the answer is an error content', async () => {
    const [client, server] = pair();
    server.on('x', (msg, s) => void s.respond(msg.id, { type: 'error', text: 'nope', code: 1003 }));
    await expect(client.request('x', {})).rejects.toMatchObject({ code: 'RR_ROOM_SERVER_ERROR', message: 'nope', contentCode: 1003 });
  });

  it('times out a request nobody answers', async () => {
    const [client] = pair();
    await expect(client.request('silence', {}, undefined, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'RR_REQUEST_TIMEOUT' });
  });

  it('aborts a request when its signal fires', async () => {
    const [client] = pair();
    const controller = new AbortController();
    const pending = client.request('silence', {}, undefined, { signal: controller.signal, timeoutMs: 0 });
    controller.abort(new Error('caller left'));
    await expect(pending).rejects.toMatchObject({ code: 'RR_REQUEST_ABORTED' });
  });

  it('fails pending requests when the transport closes', async () => {
    const [client, server] = pair();
    const pending = client.request('silence', {}, undefined, { timeoutMs: 0 });
    server.close(1011, 'boom');
    await expect(pending).rejects.toMatchObject({ code: 'RR_ROOM_CLOSED', data: { closeCode: 1011, reason: 'boom' } });
    await expect(client.closed).resolves.toEqual({ code: 1011, reason: 'boom' });
  });

  it('ignores a late response to an unknown id', async () => {
    const [client, server] = pair();
    server.on('x', async (msg, s) => {
      await s.respond(999, json('stray'));
      await s.respond(msg.id, json('ok'));
    });
    await expect(client.request('x', {})).resolves.toEqual({ type: 'json', json: 'ok' });
  });

  it('routes by exact type first, then by prefix, then to the fallback', async () => {
    const seen: string[] = [];
    const [client] = pair();
    const [a, b] = createMemoryTransportPair();
    const server = new Session(b, { onUnhandled: (m) => void seen.push(`fallback:${m.type}`) });
    const c = new Session(a);
    server.on('room.tool_call.exact', (m) => void seen.push(`exact:${m.type}`));
    server.onPrefix('room.tool_call.', (m) => void seen.push(`prefix:${m.type}`));
    for (const type of ['room.tool_call.exact', 'room.tool_call.other', 'elsewhere']) await c.sendPacked(type, {});
    await vi.waitFor(() => expect(seen).toHaveLength(3));
    expect(seen).toEqual(['exact:room.tool_call.exact', 'prefix:room.tool_call.other', 'fallback:elsewhere']);
    client.close();
  });

  it('reports garbage frames and a throwing handler without closing', async () => {
    const errors: Array<{ code?: string; context: unknown }> = [];
    const [a, b] = createMemoryTransportPair();
    const server = new Session(b, { onError: (error, context) => void errors.push({ code: (error as { code?: string }).code, context }) });
    server.on('boom', () => {
      throw new Error('handler bug');
    });
    server.on('ok', (m, s) => void s.respond(m.id, json(true)));
    const client = new Session(a);
    await a.sendFrames([new Uint8Array([1, 2, 3])]);
    await a.sendFrames(encodeFrames(50, 'boom', packMessage({})));
    await expect(client.request('ok', {})).resolves.toEqual({ type: 'json', json: true });
    expect(errors.map((e) => e.code)).toEqual(['RR_FRAME_TOO_SHORT', undefined]);
    expect(errors[1]?.context).toEqual({ id: 50, type: 'boom' });
  });

  it('starts its own ids where told and keeps the two directions apart', async () => {
    const [a, b] = createMemoryTransportPair();
    const client = new Session(a);
    const server = new Session(b, { firstId: 1 });
    expect([client.nextId(), server.nextId()]).toEqual([0, 1]);
  });
});

describe('Session limits', () => {
  it('fails a request at once when its answer is larger than the maximum message size', async () => {
    const [a, b] = createMemoryTransportPair();
    const client = new Session(a, { maxMessageBytes: 2048, onError: () => undefined });
    const server = new Session(b);
    server.on('big', (msg, s) => void s.respond(msg.id, json('x'.repeat(10_000))));
    await expect(client.request('big', {}, undefined, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'RR_MESSAGE_TOO_LARGE' });
  });
});
