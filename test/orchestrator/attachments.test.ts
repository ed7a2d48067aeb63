/**
 * RoomAttachments: the limit on rooms registering at once (rooms beyond it wait in a FIFO as `attaching`,
 * holding their place under the cap; a waiting room can be detached), the bound on each join attempt, final
 * refusals, and the join health behind readiness. Real sockets on the emulator and on a misbehaving room server;
 * no timed assertions (the attempt bound's timer is injected and fired by hand).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { adder } from '../../agents/adder.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { isRoomrunnerError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { RoomAttachments, type RoomAttachmentsOptions } from '../../src/orchestrator/attachments.js';
import { createWebSocketDialer, type Dialer } from '../../src/room/connection.js';
import { SYSTEM_CLOCK, type Clock } from '../../src/util/clock.js';
import { mintParticipantToken } from '../../src/auth/token.js';
import { freePort } from '../faults/support.js';
import { startWedgedRoomServer, type WedgedBehaviour, type WedgedRoomServer } from '../support/wedged-room-server.js';

const SECRET = 'attachments-room-secret';
const PROJECT = 'attachments-project';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  maxConcurrentJoins: number,
  maxRooms = 100,
  extra: Partial<RoomAttachmentsOptions> = {},
): Promise<{ emulator: Emulator; attachments: RoomAttachments }> {
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
    ...extra,
  });
  cleanups.push(() => attachments.detachAll('test over', 0));
  return { emulator, attachments };
}

async function wedged(behaviour: WedgedBehaviour): Promise<WedgedRoomServer> {
  const server = await startWedgedRoomServer(behaviour);
  cleanups.push(() => server.close());
  return server;
}

/** A clock whose timers run only when the test says so (the attempt bound passes when `fire()` is called); wall time is Node's. */
function manualTimers(): Clock & { fire(): void; readonly armed: number } {
  const pending = new Map<number, () => void>();
  let next = 0;
  return {
    now: () => Date.now(),
    setTimeout: (callback) => {
      pending.set(++next, callback);
      return next;
    },
    clearTimeout: (handle) => void pending.delete(handle as number),
    fire() {
      const callbacks = [...pending.values()];
      pending.clear();
      for (const callback of callbacks) callback();
    },
    get armed() {
      return pending.size;
    },
  };
}

/** The websocket dialer, with the client's frames held until `open()`: rooms get stuck in registration. */
function heldRegistrations(): { dial: Dialer; open(): void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const ws = createWebSocketDialer();
  const dial: Dialer = async (request) => {
    const inner = await ws(request);
    return {
      start: (handlers) => inner.start(handlers),
      sendFrames: async (frames) => {
        await gate;
        return inner.sendFrames(frames);
      },
      close: (code, reason) => inner.close(code, reason),
      get isOpen() {
        return inner.isOpen;
      },
    };
  };
  return { dial, open };
}

describe('RoomAttachments join limit', () => {
  it('rejects a limit that is not a positive integer', () => {
    expect(() => new RoomAttachments({ toolkits: [adder], mintToken: () => 'x', maxRooms: 1, maxConcurrentJoins: 0, logger: silentLogger() })).toThrow(
      /maxConcurrentJoins/,
    );
  });

  it('registers at most the limit of rooms at once, queues the rest as attaching, and attaches them all', async () => {
    const held = heldRegistrations();
    const { emulator, attachments } = await setup(2, 100, { connection: { backoff: { initialMs: 20 }, dial: held.dial } });
    const rooms = Array.from({ length: 7 }, (_, i) => `queued-${i}`);
    for (const room of rooms) emulator.roomServer.startSession(room);
    let most = 0;
    const timer = setInterval(() => (most = Math.max(most, attachments.joins.running)), 1);
    cleanups.push(() => clearInterval(timer));
    for (const room of rooms) expect(attachments.attach({ room, url: emulator.roomUrl(room), trigger: 'manual' })).toBe('attaching');
    // Every room gets room_ready; two take a turn and are stuck registering, five wait for a turn.
    await vi.waitFor(() => expect(attachments.joins).toEqual({ running: 2, waiting: 5 }), { timeout: 10_000 });
    held.open();
    expect(rooms.map((room) => attachments.state(room))).toEqual(rooms.map(() => 'attaching'));
    expect(attachments.size).toBe(7);
    await Promise.all(rooms.map((room) => attachments.settled(room)));
    expect(rooms.map((room) => attachments.state(room))).toEqual(rooms.map(() => 'attached'));
    expect(attachments.joins).toEqual({ running: 0, waiting: 0 });
    expect(most).toBeLessThanOrEqual(2);
  });

  it('counts the rooms holding a slot: not a failed room, again once it is attached anew, no more once it is detached', async () => {
    const refusing = await wedged({ kind: 'refuse', status: 423 });
    const { emulator, attachments } = await setup(4, 2, { retry: { retries: 0, attemptTimeoutMs: 5_000 } });
    attachments.attach({ room: 'again', url: refusing.roomUrl('again'), trigger: 'manual' });
    expect(attachments.size).toBe(1);
    await attachments.settled('again');
    expect(attachments.state('again')).toBe('failed');
    expect(attachments.size).toBe(0);

    for (const room of ['again', 'other']) {
      emulator.roomServer.startSession(room);
      expect(attachments.attach({ room, url: emulator.roomUrl(room), trigger: 'manual' })).toBe('attaching');
    }
    expect(attachments.size).toBe(2);
    expect(attachments.attach({ room: 'third', url: emulator.roomUrl('third'), trigger: 'manual' })).toBe('full');
    await Promise.all(['again', 'other'].map((room) => attachments.settled(room)));
    expect(attachments.size).toBe(2);
    expect(await attachments.detach('again', 'not wanted')).toBe(true);
    expect(attachments.size).toBe(1);
    expect(attachments.countRooms((room) => room === 'other')).toBe(0);
    expect(attachments.countRooms(() => false)).toBe(1);
  });

  it('counts waiting rooms against the cap, and detaching a waiting room takes it out of the queue', async () => {
    const held = heldRegistrations();
    const { emulator, attachments } = await setup(1, 3, { connection: { backoff: { initialMs: 20 }, dial: held.dial } });
    const rooms = ['w-0', 'w-1', 'w-2'];
    for (const room of rooms) emulator.roomServer.startSession(room);
    for (const room of rooms) expect(attachments.attach({ room, url: emulator.roomUrl(room), trigger: 'manual' })).toBe('attaching');
    expect(attachments.attach({ room: 'w-3', url: emulator.roomUrl('w-3'), trigger: 'manual' })).toBe('full');
    await vi.waitFor(() => expect(attachments.joins).toEqual({ running: 1, waiting: 2 }), { timeout: 10_000 });

    expect(await attachments.detach('w-1', 'not wanted')).toBe(true);
    expect(attachments.joins.waiting).toBeLessThanOrEqual(1);
    held.open();
    expect(attachments.state('w-1')).toBeUndefined();
    await Promise.all(['w-0', 'w-2'].map((room) => attachments.settled(room)));
    expect(attachments.state('w-0')).toBe('attached');
    expect(attachments.state('w-2')).toBe('attached');
    expect(attachments.joins).toEqual({ running: 0, waiting: 0 });
  });
});

describe('RoomAttachments join bounds', () => {
  it('lets a healthy room join while rooms that never send room_ready hang, whatever the join limit', async () => {
    const stuck = await wedged({ kind: 'never-ready' });
    const silent = await wedged({ kind: 'never-upgrade' });
    // A bound far beyond the test: the wedged rooms are still hanging when the healthy one has joined.
    const { emulator, attachments } = await setup(1, 100, { retry: { retries: 0, attemptTimeoutMs: 600_000 } });
    for (let i = 0; i < 3; i++) {
      attachments.attach({ room: `stuck-${i}`, url: stuck.roomUrl(`stuck-${i}`), trigger: 'manual' });
      attachments.attach({ room: `silent-${i}`, url: silent.roomUrl(`silent-${i}`), trigger: 'manual' });
    }
    await vi.waitFor(() => expect(stuck.upgrades.length + silent.upgrades.length).toBe(6), { timeout: 10_000 });
    emulator.roomServer.startSession('healthy');
    attachments.attach({ room: 'healthy', url: emulator.roomUrl('healthy'), trigger: 'manual' });
    await attachments.settled('healthy');
    expect(attachments.state('healthy')).toBe('attached');
    expect(attachments.state('stuck-0')).toBe('attaching');
    expect(attachments.state('silent-0')).toBe('attaching');
  });

  it.each([
    ['never upgrades', { kind: 'never-upgrade' } as const, 'while connecting to'],
    ['upgrades but never sends room_ready', { kind: 'never-ready' } as const, 'while waiting for room_ready from'],
  ])('ends an attempt on a room server that %s when its own timer fires, and says what never came', async (_name, behaviour, phase) => {
    const server = await wedged(behaviour);
    const timers = manualTimers();
    const { attachments } = await setup(4, 100, { clock: timers, retry: { retries: 0, attemptTimeoutMs: 15_000 } });
    attachments.attach({ room: 'hung', url: server.roomUrl('hung'), trigger: 'manual' });
    await vi.waitFor(() => expect(server.upgrades).toEqual(['/rooms/hung']), { timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the upgrade (if any) reach the client
    expect(timers.armed).toBe(1);
    timers.fire();
    await attachments.settled('hung');
    expect(attachments.state('hung')).toBe('failed');
    expect(attachments.lastError('hung')).toBe(`join attempt did not finish within 15000 ms (${phase} ${server.roomUrl('hung')})`);
    expect(attachments.failedFinally('hung')).toBe(false);
    expect(timers.armed).toBe(0);
  });

  it.each([401, 403, 404, 423])('marks a room refused with %i at the upgrade as failed for good, without retrying', async (status) => {
    const server = await wedged({ kind: 'refuse', status });
    const { attachments } = await setup(4, 100, { retry: { retries: 5, minTimeoutMs: 1, maxTimeoutMs: 5, attemptTimeoutMs: 5_000 } });
    attachments.attach({ room: 'refused', url: server.roomUrl('refused'), trigger: 'manual' });
    await attachments.settled('refused');
    expect(attachments.state('refused')).toBe('failed');
    expect(attachments.failedFinally('refused')).toBe(true);
    expect(attachments.lastError('refused')).toContain(`status ${status}`);
    expect(attachments.status()[0]).toMatchObject({ room: 'refused', state: 'failed', final: true, attempts: 1 });
    expect(server.upgrades).toHaveLength(1);
  });

  it('marks a room that closes 1008 before room_ready as failed for good, without retrying', async () => {
    const server = await wedged({ kind: 'close', code: 1008, reason: 'participant not allowed' });
    const { attachments } = await setup(4, 100, { retry: { retries: 5, minTimeoutMs: 1, maxTimeoutMs: 5, attemptTimeoutMs: 5_000 } });
    attachments.attach({ room: 'policy', url: server.roomUrl('policy'), trigger: 'manual' });
    await attachments.settled('policy');
    expect(attachments.failedFinally('policy')).toBe(true);
    expect(attachments.lastError('policy')).toContain('participant not allowed');
    expect(server.upgrades).toHaveLength(1);
  });

  it('keeps retrying a room that closes 1011 before room_ready, within the retries', async () => {
    const server = await wedged({ kind: 'close', code: 1011, reason: 'warming up' });
    const { attachments } = await setup(4, 100, { retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5, attemptTimeoutMs: 5_000 } });
    attachments.attach({ room: 'warming', url: server.roomUrl('warming'), trigger: 'manual' });
    await attachments.settled('warming');
    expect(attachments.state('warming')).toBe('failed');
    expect(attachments.failedFinally('warming')).toBe(false);
    expect(server.upgrades).toHaveLength(3);
  });

  it('shows the real cause of a refused TCP connect: ECONNREFUSED and the host', async () => {
    const port = await freePort();
    const { attachments } = await setup(4, 100, { retry: { retries: 0, attemptTimeoutMs: 5_000 } });
    attachments.attach({ room: 'nobody', url: `ws://127.0.0.1:${port}/rooms/nobody`, trigger: 'manual' });
    await attachments.settled('nobody');
    const lastError = attachments.lastError('nobody') ?? '';
    expect(lastError).toContain('ECONNREFUSED');
    expect(lastError).toContain(`127.0.0.1:${port}`);
    expect(lastError).not.toContain('start aborted');
  });
});

describe('RoomAttachments join health', () => {
  it('fails the join check when every attempt in the window failed, and passes again once the window has passed', async () => {
    const port = await freePort();
    let clock = 1_000_000;
    const { attachments } = await setup(4, 100, {
      clock: { ...SYSTEM_CLOCK, now: () => clock },
      joinHealth: { failures: 3, windowMs: 60_000 },
      retry: { retries: 0, attemptTimeoutMs: 5_000 },
    });
    for (let i = 0; i < 2; i++) {
      attachments.attach({ room: `down-${i}`, url: `ws://127.0.0.1:${port}/rooms/down-${i}`, trigger: 'manual' });
      await attachments.settled(`down-${i}`);
    }
    expect(() => attachments.checkJoins()).not.toThrow();
    attachments.attach({ room: 'down-2', url: `ws://127.0.0.1:${port}/rooms/down-2`, trigger: 'manual' });
    await attachments.settled('down-2');
    const error = (() => {
      try {
        attachments.checkJoins();
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isRoomrunnerError(error, 'RR_JOINS_FAILING')).toBe(true);
    clock += 60_001;
    expect(() => attachments.checkJoins()).not.toThrow();
  });

  it('passes the join check again as soon as a join succeeds', async () => {
    const port = await freePort();
    const { emulator, attachments } = await setup(4, 100, { joinHealth: { failures: 2, windowMs: 60_000 }, retry: { retries: 0, attemptTimeoutMs: 5_000 } });
    for (let i = 0; i < 2; i++) {
      attachments.attach({ room: `down-${i}`, url: `ws://127.0.0.1:${port}/rooms/down-${i}`, trigger: 'manual' });
      await attachments.settled(`down-${i}`);
    }
    expect(() => attachments.checkJoins()).toThrow(/join attempts failed/);
    emulator.roomServer.startSession('up');
    attachments.attach({ room: 'up', url: emulator.roomUrl('up'), trigger: 'manual' });
    await attachments.settled('up');
    expect(attachments.state('up')).toBe('attached');
    expect(() => attachments.checkJoins()).not.toThrow();
  });

  it('does not count attempts given up because the room ended', async () => {
    const server = await wedged({ kind: 'never-ready' });
    const { attachments } = await setup(4, 100, { joinHealth: { failures: 1, windowMs: 60_000 }, retry: { retries: 0, attemptTimeoutMs: 600_000 } });
    attachments.attach({ room: 'ending', url: server.roomUrl('ending'), trigger: 'manual' });
    await vi.waitFor(() => expect(server.upgrades).toHaveLength(1), { timeout: 10_000 });
    await attachments.detach('ending', 'room ended');
    expect(() => attachments.checkJoins()).not.toThrow();
  });
});
