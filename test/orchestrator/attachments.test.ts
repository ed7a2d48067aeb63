/**
 * RoomAttachments' limit on joins in progress: rooms beyond it wait in a FIFO as `attaching` (holding their slot
 * under the cap) and a waiting room can be detached. Real sockets on the emulator; no timed assertions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { adder } from '../../agents/adder.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { silentLogger } from '../../src/logger.js';
import { RoomAttachments } from '../../src/orchestrator/attachments.js';
import { mintParticipantToken } from '../../src/room/token.js';

const SECRET = 'attachments-room-secret';
const PROJECT = 'attachments-project';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(maxConcurrentJoins: number, maxRooms = 100): Promise<{ emulator: Emulator; attachments: RoomAttachments }> {
  const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT, idleGraceMs: 600_000 });
  cleanups.push(() => emulator.close());
  const attachments = new RoomAttachments({
    toolkits: [adder],
    mintToken: (room) => mintParticipantToken({ secret: SECRET, projectId: PROJECT, name: 'rr', room, role: 'agent' }),
    maxRooms,
    maxConcurrentJoins,
    logger: silentLogger(),
    retry: { retries: 1, minTimeoutMs: 20, maxTimeoutMs: 100, attemptTimeoutMs: 5_000 },
    connection: { backoff: { initialMs: 20 } },
  });
  cleanups.push(() => attachments.detachAll('test over', 0));
  return { emulator, attachments };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('RoomAttachments join limit', () => {
  it('rejects a limit that is not a positive integer', () => {
    expect(() => new RoomAttachments({ toolkits: [adder], mintToken: () => 'x', maxRooms: 1, maxConcurrentJoins: 0, logger: silentLogger() })).toThrow(/maxConcurrentJoins/);
  });

  it('runs at most the limit of joins at once, queues the rest as attaching, and attaches them all', async () => {
    const { emulator, attachments } = await setup(2);
    const rooms = Array.from({ length: 7 }, (_, i) => `queued-${i}`);
    for (const room of rooms) emulator.roomServer.startSession(room);
    let most = 0;
    const timer = setInterval(() => (most = Math.max(most, attachments.joins.running)), 1);
    cleanups.push(() => clearInterval(timer));
    for (const room of rooms) expect(attachments.attach({ room, url: emulator.roomUrl(room), trigger: 'manual' })).toBe('attaching');
    await turn(); // the joins start after a microtask; none can finish within one turn of the loop
    expect(attachments.joins).toEqual({ running: 2, waiting: 5 });
    expect(rooms.map((room) => attachments.state(room))).toEqual(rooms.map(() => 'attaching'));
    expect(attachments.size).toBe(7);
    await Promise.all(rooms.map((room) => attachments.settled(room)));
    expect(rooms.map((room) => attachments.state(room))).toEqual(rooms.map(() => 'attached'));
    expect(attachments.joins).toEqual({ running: 0, waiting: 0 });
    expect(most).toBeLessThanOrEqual(2);
  });

  it('counts waiting rooms against the cap, and detaching a waiting room takes it out of the queue', async () => {
    const { emulator, attachments } = await setup(1, 3);
    const rooms = ['w-0', 'w-1', 'w-2'];
    for (const room of rooms) emulator.roomServer.startSession(room);
    for (const room of rooms) expect(attachments.attach({ room, url: emulator.roomUrl(room), trigger: 'manual' })).toBe('attaching');
    expect(attachments.attach({ room: 'w-3', url: emulator.roomUrl('w-3'), trigger: 'manual' })).toBe('full');
    await turn();
    expect(attachments.joins).toEqual({ running: 1, waiting: 2 });

    expect(await attachments.detach('w-1', 'not wanted')).toBe(true);
    expect(attachments.joins.waiting).toBeLessThanOrEqual(1);
    expect(attachments.state('w-1')).toBeUndefined();
    await Promise.all(['w-0', 'w-2'].map((room) => attachments.settled(room)));
    expect(attachments.state('w-0')).toBe('attached');
    expect(attachments.state('w-2')).toBe('attached');
    expect(attachments.joins).toEqual({ running: 0, waiting: 0 });
  });
});
