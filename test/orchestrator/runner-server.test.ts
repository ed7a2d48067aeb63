/**
 * End to end over real sockets and HTTP: the emulator POSTs signed webhooks to a listening
 * RemoteTaskRunnerServer, which joins the room with the Adder; the OFFICIAL @meshagent/meshagent client calls it.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type JsonContent, type RoomClient, RoomServerException } from '@meshagent/meshagent';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { defineAgent } from '../../src/index.js';
import { RemoteTaskRunnerServer, type RemoteTaskRunnerServerOptions } from '../../src/orchestrator/runner-server.js';
import { mintParticipantToken } from '../../src/auth/token.js';
import { pythonDumps, signWebhook, type SignatureScheme } from '../../src/webhooks/signatures/index.js';
import { adderRegistered, officialPerson } from '../support/emulator-people.js';

const SECRET = 'e2e-room-secret';
const PROJECT = 'e2e-project';
const SECRETS: Record<SignatureScheme, string> = {
  meshagent: 'e2e-webhook-secret',
  'standard-webhooks': `whsec_${Buffer.from('e2e-standard-webhooks-secret-bytes').toString('base64')}`,
  'hmac-sha256': 'e2e-hmac-secret',
};

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emulatorUp(idleGraceMs = 100): Promise<Emulator> {
  const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT, idleGraceMs, webhookDelivery: { minTimeoutMs: 20, maxTimeoutMs: 100 } });
  cleanups.push(() => emulator.close());
  return emulator;
}

async function roomrunner(emulator: Emulator, extra: Partial<RemoteTaskRunnerServerOptions> = {}, scheme: SignatureScheme = 'meshagent') {
  const config = loadConfig(
    {
      secret: SECRET,
      projectId: PROJECT,
      apiUrl: emulator.url,
      webhookSecrets: [SECRETS[scheme]],
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      drainTimeoutMs: 2_000,
    },
    {},
  );
  const server = new RemoteTaskRunnerServer({
    agents: [adder],
    config,
    defaultMetrics: false,
    retry: { minTimeoutMs: 20, maxTimeoutMs: 200, attemptTimeoutMs: 5_000 },
    connection: { backoff: { initialMs: 20 } },
    ...extra,
  });
  const address = await server.start();
  cleanups.push(() => server.close());
  return { server, address };
}

const person = (emulator: Emulator, room: string): Promise<RoomClient> => officialPerson(emulator, room, SECRET, cleanups);

const registered = adderRegistered;

describe.each(['meshagent', 'standard-webhooks', 'hmac-sha256'] as const)('a room on the emulator, webhooks signed with %s', (scheme) => {
  it('attaches the Adder on room.started, answers the official client, and leaves on room.ended', async () => {
    const emulator = await emulatorUp();
    const { server, address } = await roomrunner(emulator, {}, scheme);
    emulator.webhooks.create({ url: `${address.url}/webhook`, secret: SECRETS[scheme], scheme, events: ['room.started', 'room.ended'] });
    // Let the start-up reconciliation finish first, so the room is attached by its webhook.
    await server.reconcile();
    const room = `e2e-${scheme}`;
    const attached = registered(emulator, room);
    const user = await person(emulator, room);
    const registration = await attached;

    const result = await user.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 1, b: 2 } });
    expect((result as JsonContent).json).toEqual({ result: 3 });
    await expect.poll(() => server.attachments.status()).toMatchObject([{ room, state: 'attached', trigger: 'room.started' }]);

    const left = emulator.roomServer.waitForEvent((e) => e.kind === 'disconnected' && e.participantId === registration.participantId);
    user.dispose();
    expect(await left).toMatchObject({ code: 1000 });
    await expect.poll(() => server.attachments.size).toBe(0);
    const deliveries = await server.store.listDeliveries();
    expect(deliveries.map((d) => [d.event, d.result]).sort()).toEqual([
      ['room.ended', 'processed'],
      ['room.started', 'processed'],
    ]);
  });
});

describe('RemoteTaskRunnerServer', () => {
  it("logs a room at info once when its agents attach and once when it is left; the room's other lines are debug", async () => {
    const emulator = await emulatorUp();
    const lines: Array<{ level: number; msg: string; room?: string }> = [];
    const logger = pino(
      { level: 'info' },
      {
        write: (chunk: string) => {
          for (const line of chunk.split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string; room?: string });
        },
      },
    );
    const { server, address } = await roomrunner(emulator, { logger });
    emulator.webhooks.create({ url: `${address.url}/webhook`, secret: SECRETS.meshagent, scheme: 'meshagent', events: ['room.started', 'room.ended'] });
    await server.reconcile();
    const room = 'quiet-room';
    const attached = registered(emulator, room);
    const user = await person(emulator, room);
    await attached;
    await expect.poll(() => server.attachments.status()).toMatchObject([{ room, state: 'attached' }]);
    user.dispose();
    await expect.poll(async () => (await server.store.listDeliveries({ event: 'room.ended', room })).map((d) => d.result)).toEqual(['processed']);
    await expect.poll(() => server.attachments.size).toBe(0);

    expect(lines.filter((line) => line.room === room).map((line) => line.msg)).toEqual(['agents attached', 'room detached']);
  });

  it('attaches once when room.started is delivered twice, and ignores a start that follows its end', async () => {
    const emulator = await emulatorUp(60_000);
    const { server, address } = await roomrunner(emulator);
    const post = (event: string, data: Record<string, unknown>) => postSigned(address.url, event, data);
    emulator.roomServer.startSession('twice');
    const url = emulator.roomUrl('twice');
    expect((await post('room.started', { room_name: 'twice', room_url: url })).status).toBe(200);
    expect(await (await post('room.started', { room_name: 'twice', room_url: url, extra: 1 })).json()).toEqual({ ok: true });
    await registered(emulator, 'twice');
    await server.idle();
    expect(emulator.roomServer.events.filter((e) => e.kind === 'toolkit.registered' && e.room === 'twice')).toHaveLength(1);

    // An end before its start leaves a tombstone: the late start is ignored.
    expect((await post('room.ended', { room_name: 'late', session_id: 's-1' })).status).toBe(200);
    expect((await post('room.started', { room_name: 'late', room_url: emulator.roomUrl('late'), session_id: 's-1' })).status).toBe(200);
    await server.idle();
    expect(server.attachments.has('late')).toBe(false);
  });

  it("attaches a room that starts a new session while the old one is still leaving, and ignores the old session's late end", async () => {
    const emulator = await emulatorUp(60_000);
    const { server, address } = await roomrunner(emulator);
    const post = (event: string, data: Record<string, unknown>) => postSigned(address.url, event, data);
    emulator.roomServer.startSession('again');
    const url = emulator.roomUrl('again');
    expect((await post('room.started', { room_name: 'again', room_url: url, session_id: 's-1' })).status).toBe(200);
    const first = await registered(emulator, 'again');
    await expect.poll(() => server.attachments.state('again')).toBe('attached');
    // The end and the next session's start back to back: the start lands while the old attachment is leaving.
    await Promise.all([
      post('room.ended', { room_name: 'again', session_id: 's-1' }),
      post('room.started', { room_name: 'again', room_url: url, session_id: 's-2' }),
    ]);
    await server.idle();
    await expect.poll(() => server.attachments.status()).toMatchObject([{ room: 'again', state: 'attached', sessionId: 's-2' }]);
    const registrations = emulator.roomServer.events.filter((e) => e.kind === 'toolkit.registered' && e.room === 'again');
    expect(registrations).toHaveLength(2);
    expect(registrations[1]?.participantId).not.toBe(first.participantId);
    // s-1's end once more (a replay): the room runs s-2 and stays attached.
    expect(await (await post('room.ended', { room_name: 'again', session_id: 's-1', replayed: true })).json()).toEqual({ ok: true });
    await server.idle();
    expect(server.attachments.state('again')).toBe('attached');
  });

  it('joins with the token in the payload on room.call', async () => {
    const emulator = await emulatorUp(60_000);
    const { server, address } = await roomrunner(emulator);
    emulator.roomServer.startSession('called');
    const token = mintParticipantToken({ name: 'called-agent', room: 'called', role: 'agent', secret: SECRET });
    const response = await postSigned(address.url, 'room.call', { room_name: 'called', room_url: emulator.roomUrl('called'), token, arguments: null });
    expect(response.status).toBe(200);
    const event = await registered(emulator, 'called');
    const connected = emulator.roomServer.events.find((e) => e.kind === 'connected' && e.participantId === event.participantId);
    expect(connected?.participantName).toBe('called-agent');
    await expect.poll(() => server.attachments.status()).toMatchObject([{ room: 'called', trigger: 'room.call', state: 'attached' }]);
  });

  it('attaches only the agents a room.call names in arguments.agents', async () => {
    const emulator = await emulatorUp(60_000);
    const echo = defineAgent({ name: 't.echo', input: z.object({ text: z.string() }), output: z.object({ text: z.string() }), run: ({ text }) => ({ text }) });
    const { server, address } = await roomrunner(emulator, { agents: [adder, echo] });
    emulator.roomServer.startSession('picked');
    const token = mintParticipantToken({ name: 'picked-agent', room: 'picked', role: 'agent', secret: SECRET });
    const response = await postSigned(address.url, 'room.call', {
      room_name: 'picked',
      room_url: emulator.roomUrl('picked'),
      token,
      arguments: { agents: ['samples.adder'] },
    });
    expect(response.status).toBe(200);
    await registered(emulator, 'picked');
    await expect.poll(() => server.attachments.status()).toMatchObject([{ room: 'picked', state: 'attached', agents: ['samples.adder'] }]);
    const toolkits = emulator.roomServer.events
      .filter((e) => e.kind === 'toolkit.registered' && e.room === 'picked')
      .map((e) => (e as { toolkit: string }).toolkit);
    expect(toolkits).toEqual(['samples.adder']);
  });

  it('fails a room.call that names an agent it does not host, and attaches nothing', async () => {
    const emulator = await emulatorUp(60_000);
    const { server, address } = await roomrunner(emulator);
    const token = mintParticipantToken({ name: 'nobody', room: 'unknown-agent', role: 'agent', secret: SECRET });
    const response = await postSigned(address.url, 'room.call', {
      room_name: 'unknown-agent',
      room_url: emulator.roomUrl('unknown-agent'),
      token,
      arguments: { agents: ['samples.adder', 'no.such'] },
    });
    expect(response.status).toBe(200);
    await server.idle();
    const [delivery] = await server.store.listDeliveries({ event: 'room.call' });
    expect(delivery).toMatchObject({ result: 'failed' });
    expect(delivery?.lastError).toMatch(/no\.such.*known: samples\.adder/);
    expect(server.attachments.size).toBe(0);
  });

  it('re-attaches live rooms by reconciliation after a restart', async () => {
    const emulator = await emulatorUp(60_000);
    const user = await person(emulator, 'survivor');
    const first = await roomrunner(emulator);
    await first.server.reconcile();
    const firstRegistration = await registered(emulator, 'survivor');
    await first.server.close();

    const second = await roomrunner(emulator);
    const again = await emulator.roomServer.waitForEvent(
      (e) => e.kind === 'toolkit.registered' && e.room === 'survivor' && e.participantId !== firstRegistration.participantId,
      { includePast: true },
    );
    expect(again.toolkit).toBe('samples.adder');
    expect(second.server.attachments.status()).toMatchObject([{ room: 'survivor', trigger: 'reconcile' }]);
    expect(((await user.agents.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 2, b: 3 } })) as JsonContent).json).toEqual({ result: 5 });
  });

  it('retries a room server that refuses the first connects until it works', async () => {
    const emulator = await emulatorUp(60_000);
    emulator.roomServer.startSession('flaky');
    let refused = 0;
    const front: Server = createServer();
    front.on('upgrade', (req, socket, head) => {
      if (refused < 3) {
        refused += 1;
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      emulator.roomServer.handleUpgrade(req, socket, head);
    });
    front.listen(0, '127.0.0.1');
    await once(front, 'listening');
    cleanups.push(() => new Promise((resolve) => front.close(resolve)));
    // The front is a room host of its own: roomrunner dials it only because it is listed.
    const frontOrigin = `ws://127.0.0.1:${(front.address() as AddressInfo).port}`;
    const { address } = await roomrunner(emulator, { reconcileIntervalMs: 0, roomHosts: [frontOrigin] });
    const url = `${frontOrigin}/rooms/flaky`;
    expect((await postSigned(address.url, 'room.started', { room_name: 'flaky', room_url: url })).status).toBe(200);
    await registered(emulator, 'flaky');
    expect(refused).toBe(3);
  });

  it('drains within its bound: in-flight calls are told why, toolkits unregistered, sockets closed with 1000', async () => {
    const emulator = await emulatorUp(60_000);
    const hang = defineAgent({ name: 't.hang', input: z.object({}), output: z.object({}), run: () => new Promise<Record<string, never>>(() => undefined) });
    const { server } = await roomrunner(emulator, { agents: [adder, hang], drainTimeoutMs: 200 });
    const user = await person(emulator, 'draining');
    await server.reconcile();
    const hangRegistered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.toolkit === 't.hang', { includePast: true });
    const { participantId } = await hangRegistered;
    const pending = user.agents.invokeTool({ toolkit: 't.hang', tool: 'ask', arguments: {} }).catch((e: unknown) => e);
    await emulator.roomServer.waitForEvent((e) => e.kind === 'tool.called' && e.toolkit === 't.hang', { includePast: true });
    const closed = emulator.roomServer.waitForEvent((e) => e.kind === 'disconnected' && e.participantId === participantId);

    await server.close();
    const error = await pending;
    expect(error).toBeInstanceOf(RoomServerException);
    expect((error as RoomServerException).code).toBe(1006);
    expect((error as Error).message).toContain('shutting down');
    expect(await closed).toMatchObject({ code: 1000 });
    expect(
      emulator.roomServer.events
        .filter((e) => e.kind === 'toolkit.unregistered' && e.participantId === participantId)
        .map((e) => e.toolkit)
        .sort(),
    ).toEqual(['samples.adder', 't.hang']);
  });

  it('holds no more rooms than its cap and says so in /status', async () => {
    const emulator = await emulatorUp(60_000);
    const { server, address } = await roomrunner(emulator, { maxRooms: 2, reconcileIntervalMs: 0 });
    for (const room of ['cap-1', 'cap-2', 'cap-3']) {
      emulator.roomServer.startSession(room);
      await postSigned(address.url, 'room.started', { room_name: room, room_url: emulator.roomUrl(room) });
    }
    await server.idle();
    expect(server.attachments.rooms().sort()).toEqual(['cap-1', 'cap-2']);
    const status = (await (await fetch(`${address.url}/status`)).json()) as { rooms: number; maxRooms: number };
    expect(status).toMatchObject({ rooms: 2, maxRooms: 2 });
    const metrics = await (await fetch(`${address.url}/metrics`)).text();
    expect(metrics).toMatch(/roomrunner_rooms_capacity 2/);
  });
});

function postSigned(base: string, event: string, data: Record<string, unknown>): Promise<Response> {
  const body = pythonDumps({ event, data });
  const headers = signWebhook('meshagent', { body, secret: SECRETS.meshagent });
  return fetch(`${base}/webhook`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
}
