/**
 * Replacing the agents of a joined room over the same socket (what `roomrunner dev` does on a reload): the
 * emulator is the room server and roomrunner's own room client is the caller.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { joinRoom, type JoinedRoom } from '../../src/agents/host.js';
import { startEmulator, type Emulator, type EmulatorEvent } from '../../src/emulator/index.js';
import { defineAgent, type Toolkit } from '../../src/index.js';
import { RoomConnection } from '../../src/room/connection.js';
import { RoomClient } from '../../src/room/room-client.js';
import { agentDefaultApiScope, mintParticipantToken } from '../../src/auth/token.js';

const SECRET = 'host-replace-secret';

const Pair = z.strictObject({ a: z.int(), b: z.int() });
const Result = z.strictObject({ result: z.int() });
const adderV1 = defineAgent({ name: 'r.adder', input: Pair, output: Result, run: ({ a, b }) => ({ result: a + b }) });
/** Same registration as v1 (same name, schemas, title), other code. */
const adderV2 = defineAgent({ name: 'r.adder', input: Pair, output: Result, run: ({ a, b }) => ({ result: a + b + 100 }) });
/** Another registration: a third input. */
const adderV3 = defineAgent({
  name: 'r.adder',
  input: z.strictObject({ a: z.int(), b: z.int(), c: z.int() }),
  output: Result,
  run: ({ a, b, c }) => ({ result: a + b + c }),
});
const echo = defineAgent({ name: 'r.echo', input: z.strictObject({ text: z.string() }), output: z.strictObject({ text: z.string() }), run: (i) => i });

let emulator: Emulator;
const cleanups: Array<() => unknown> = [];
let roomCount = 0;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, secret: SECRET, idleGraceMs: 60_000 });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await emulator.close();
});

async function host(toolkits: readonly Toolkit[]): Promise<{ joined: JoinedRoom; room: string }> {
  roomCount += 1;
  const room = `replace-${roomCount}`;
  const joined = await joinRoom({
    url: emulator.roomUrl(room),
    room,
    toolkits,
    token: () => mintParticipantToken({ name: 'roomrunner', room, role: 'agent', secret: SECRET }),
  });
  cleanups.push(() => joined.leave());
  return { joined, room };
}

async function caller(room: string): Promise<RoomClient> {
  const token = mintParticipantToken({ name: 'person', room, role: 'user', secret: SECRET, api: agentDefaultApiScope() });
  const connection = new RoomConnection({ url: emulator.roomUrl(room), token });
  await connection.start();
  cleanups.push(() => connection.close(1000, 'test done'));
  return new RoomClient(connection);
}

async function ask(client: RoomClient, toolkit: string, args: Record<string, unknown>): Promise<unknown> {
  const answer = await client.invokeTool({ toolkit, tool: 'ask', arguments: args });
  return answer.type === 'json' ? answer.json : answer;
}

/** The events of `room` recorded from now on. */
function record(room: string): EmulatorEvent[] {
  const seen: EmulatorEvent[] = [];
  const listener = (event: EmulatorEvent): void => {
    if (event.room === room) seen.push(event);
  };
  emulator.roomServer.on('event', listener);
  cleanups.push(() => emulator.roomServer.off('event', listener));
  return seen;
}

describe('replacing the agents of a joined room', () => {
  it('swaps the code of an agent whose registration is unchanged without registering again or reconnecting', async () => {
    const { joined, room } = await host([adderV1]);
    const person = await caller(room);
    expect(await ask(person, 'r.adder', { a: 1, b: 2 })).toEqual({ result: 3 });
    const events = record(room);

    const replaced = await joined.host.replaceToolkits([adderV2]);

    expect(replaced).toEqual({ added: [], removed: [], reregistered: [], swapped: ['r.adder'], live: true });
    expect(await ask(person, 'r.adder', { a: 1, b: 2 })).toEqual({ result: 103 });
    expect(events.filter((e) => e.participantId === joined.connection.participantId).map((e) => e.kind)).not.toContain('disconnected');
    expect(events.map((e) => e.kind)).not.toContain('toolkit.registered');
    expect(joined.connection.state).toBe('ready');
  });

  it('registers a changed agent again over the same socket, the new registration before the old one goes', async () => {
    const { joined, room } = await host([adderV1]);
    const person = await caller(room);
    const oldId = joined.host.registrations.get('r.adder');
    const events = record(room);

    const replaced = await joined.host.replaceToolkits([adderV3]);

    expect(replaced).toMatchObject({ reregistered: ['r.adder'], swapped: [] });
    const kinds = events.filter((e) => e.toolkit === 'r.adder').map((e) => [e.kind, e.participantId]);
    expect(kinds).toEqual([
      ['toolkit.registered', joined.connection.participantId],
      ['toolkit.unregistered', joined.connection.participantId],
    ]);
    expect(events.find((e) => e.kind === 'toolkit.unregistered')?.registrationId).toBe(oldId);
    expect(joined.host.registrations.get('r.adder')).not.toBe(oldId);
    expect(await ask(person, 'r.adder', { a: 1, b: 2, c: 3 })).toEqual({ result: 6 });
    const listed = await person.listToolkits();
    expect(Object.keys(listed.tools).filter((name) => name === 'r.adder')).toHaveLength(1);
    expect(events.map((e) => e.kind)).not.toContain('disconnected');
  });

  it('registers new agents and unregisters removed ones', async () => {
    const { joined, room } = await host([adderV1]);
    const person = await caller(room);

    expect(await joined.host.replaceToolkits([echo])).toEqual({ added: ['r.echo'], removed: ['r.adder'], reregistered: [], swapped: [], live: true });

    expect(await ask(person, 'r.echo', { text: 'hi' })).toEqual({ text: 'hi' });
    await expect(ask(person, 'r.adder', { a: 1, b: 2 })).rejects.toMatchObject({ message: expect.stringContaining('r.adder') });
    expect(Object.keys((await person.listToolkits()).tools)).toEqual(['r.echo']);
    expect(joined.host.toolkits).toEqual([echo]);
  });

  it('lets a call in flight finish on the code it started with', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let running: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (running = resolve));
    const slowV1 = defineAgent({
      name: 'r.slow',
      input: z.strictObject({}),
      output: z.strictObject({ version: z.int() }),
      run: async () => {
        running();
        await gate;
        return { version: 1 };
      },
    });
    const slowV2 = defineAgent({ name: 'r.slow', input: z.strictObject({}), output: z.strictObject({ version: z.int() }), run: () => ({ version: 2 }) });
    const { joined, room } = await host([slowV1]);
    const person = await caller(room);
    const first = ask(person, 'r.slow', {});
    await started;

    await joined.host.replaceToolkits([slowV2]);
    expect(await ask(person, 'r.slow', {})).toEqual({ version: 2 });
    release();
    expect(await first).toEqual({ version: 1 });
  });

  it('registers the replaced agents after a reconnect', async () => {
    const { joined, room } = await host([adderV1]);
    await joined.host.replaceToolkits([adderV3, echo]);
    const before = joined.connection.participantId as string;
    const reregistered = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.toolkit === 'r.echo' && e.participantId !== before);
    emulator.roomServer.closeParticipant(room, before, 1011, 'server restart');
    await reregistered;
    const person = await caller(room);
    expect(await ask(person, 'r.adder', { a: 1, b: 1, c: 1 })).toEqual({ result: 3 });
    expect(Object.keys((await person.listToolkits()).tools).sort()).toEqual(['r.adder', 'r.echo']);
  });

  it('refuses a list with two agents of one name', async () => {
    const { joined } = await host([adderV1]);
    await expect(joined.host.replaceToolkits([adderV1, adderV2])).rejects.toMatchObject({
      code: 'RR_AGENT_DUPLICATE_NAME',
      message: `replaceToolkits: two agents share the name ${adderV1.name}`,
    });
  });
});
