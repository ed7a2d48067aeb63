/**
 * Crash recovery of the deliveries ledger: a delivery answered 200 whose hook never finished (the process was
 * killed in between) is dispatched again by the sweep, at start-up and periodically, without the sender
 * sending it again.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { DeliveryRecord, NewDelivery } from '../../src/store/store.js';
import type { RoomStartedEvent, WebhookEvent } from '../../src/webhooks/events.js';
import { PendingRedispatcher } from '../../src/webhooks/redispatch.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { SYSTEM_CLOCK, type Clock } from '../../src/util/clock.js';
import { pythonDumps } from '../../src/webhooks/signatures/index.js';
import { ManualClock } from '../support/manual-clock.js';

const T0 = Date.UTC(2026, 2, 1, 12);
const CONFIG = loadConfig({}, {});

function started(room: string, key: string, at: number, replica: string | null): NewDelivery {
  return {
    key,
    event: 'room.started',
    room,
    scheme: 'meshagent',
    body: pythonDumps({ event: 'room.started', data: { room_name: room } }),
    receivedAt: new Date(at),
    replica,
  };
}

/** Node's timers, with wall time read from `now`. */
const readingTime = (now: () => number): Clock => ({ ...SYSTEM_CLOCK, now });

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  vi.useRealTimers();
});

describe('PendingRedispatcher', () => {
  it('runs a pending delivery of an earlier process of this replica at start-up, then never again once it is done', async () => {
    const store = new MemoryStore();
    await store.recordDelivery(started('lost', 'k-lost', T0 - 1_000, 'r1'), 60_000);
    const ran: string[] = [];
    const clock = new ManualClock(T0);
    const sweep = new PendingRedispatcher({
      store,
      replicaId: 'r1',
      afterMs: 60_000,
      logger: silentLogger(),
      clock,
      running: () => [],
      run: async (event, record) => {
        ran.push(`${event.event}:${(event as RoomStartedEvent).roomName}`);
        await store.finishDelivery(record.key, 'processed', null, new Date(clock.now()));
      },
    });
    closers.push(() => sweep.close());
    sweep.start();
    await sweep.sweep();
    expect(ran).toEqual(['room.started:lost']);
    // The next sweep comes `afterMs` later (the default period), and the one after that as long again.
    expect(clock.dueIn).toEqual([60_000]);
    await clock.advance(120_000);
    expect(clock.dueIn).toEqual([60_000]);
    await sweep.sweep();
    expect(ran).toHaveLength(1);
    expect(await store.getDelivery('k-lost')).toMatchObject({ result: 'processed', replica: 'r1' });
    await sweep.close();
    expect(clock.pending).toBe(0);
  });

  it('leaves a delivery whose hook runs here alone, and takes it when its outcome stays unrecorded past the bound', async () => {
    const store = new MemoryStore();
    let nowMs = T0;
    const sweepOf = (running: string[], ran: DeliveryRecord[]) =>
      new PendingRedispatcher({
        store,
        replicaId: 'r1',
        afterMs: 60_000,
        intervalMs: 0,
        logger: silentLogger(),
        clock: readingTime(() => nowMs),
        running: () => running,
        run: async (_e, r) => void ran.push(r),
      });
    const ran: DeliveryRecord[] = [];
    const sweep = sweepOf(['k-busy'], ran);
    closers.push(() => sweep.close());
    nowMs += 1_000;
    await store.recordDelivery(started('busy', 'k-busy', nowMs, 'r1'), 60_000);
    await store.recordDelivery(started('young', 'k-young', nowMs, 'r1'), 60_000);
    expect(await sweep.sweep()).toBe(0);
    nowMs += 61_000;
    // Still running here: never taken. The other one's outcome never came: taken.
    expect(await sweep.sweep()).toBe(1);
    expect(ran.map((r) => r.key)).toEqual(['k-young']);
  });

  it("dispatches in the order received, one at a time, so a room's start and end keep their order", async () => {
    const store = new MemoryStore();
    await store.recordDelivery(started('a', 'k1', T0 - 3_000, 'r1'), 60_000);
    await store.recordDelivery(
      { ...started('a', 'k2', T0 - 2_000, 'r1'), event: 'room.ended', body: pythonDumps({ event: 'room.ended', data: { room_name: 'a' } }) },
      60_000,
    );
    await store.recordDelivery(started('b', 'k3', T0 - 1_000, 'r1'), 60_000);
    const order: string[] = [];
    let inFlight = 0;
    const sweep = new PendingRedispatcher({
      store,
      replicaId: 'r1',
      afterMs: 60_000,
      intervalMs: 0,
      batch: 2,
      logger: silentLogger(),
      clock: readingTime(() => T0),
      running: () => [],
      run: async (event: WebhookEvent, record) => {
        inFlight += 1;
        expect(inFlight).toBe(1);
        await new Promise((resolve) => setImmediate(resolve));
        order.push(`${record.key}:${event.event}`);
        inFlight -= 1;
      },
    });
    closers.push(() => sweep.close());
    expect(await sweep.sweep()).toBe(3);
    expect(order).toEqual(['k1:room.started', 'k2:room.ended', 'k3:room.started']);
  });

  it('logs a store that fails and tries again on the next sweep', async () => {
    const store = new MemoryStore();
    await store.recordDelivery(started('later', 'k-later', T0 - 1_000, 'r1'), 60_000);
    const claim = store.claimPendingDeliveries.bind(store);
    let down = true;
    store.claimPendingDeliveries = async (c) => (down ? Promise.reject(new Error('store down')) : claim(c));
    const ran: string[] = [];
    const sweep = new PendingRedispatcher({
      store,
      replicaId: 'r1',
      afterMs: 60_000,
      intervalMs: 0,
      logger: silentLogger(),
      clock: readingTime(() => T0),
      running: () => [],
      run: async (_e, r) => void ran.push(r.key),
    });
    closers.push(() => sweep.close());
    expect(await sweep.sweep()).toBe(0);
    down = false;
    expect(await sweep.sweep()).toBe(1);
    expect(ran).toEqual(['k-later']);
  });

  it('records a pending body that no longer parses as failed instead of retrying it forever', async () => {
    const store = new MemoryStore();
    await store.recordDelivery({ ...started('x', 'k-bad', T0 - 1_000, 'r1'), body: 'not json' }, 60_000);
    const sweep = new PendingRedispatcher({
      store,
      replicaId: 'r1',
      afterMs: 60_000,
      intervalMs: 0,
      logger: silentLogger(),
      clock: readingTime(() => T0),
      running: () => [],
      run: async () => undefined,
    });
    closers.push(() => sweep.close());
    await sweep.sweep();
    expect(await store.getDelivery('k-bad')).toMatchObject({ result: 'failed' });
  });
});

describe('WebhookServer crash recovery', () => {
  it('runs at start-up the hook of a delivery answered 200 by an earlier process with its replica id', async () => {
    const store = new MemoryStore();
    await store.recordDelivery(started('crashed', 'k-crashed', Date.now() - 1_000, 'replica-x'), 60_000);
    const rooms: string[] = [];
    const server = new WebhookServer({
      config: CONFIG,
      secrets: 's',
      logger: silentLogger(),
      defaultMetrics: false,
      store,
      port: 0,
      host: '127.0.0.1',
      replicaId: 'replica-x',
      onRoomStarted: (event) => void rooms.push(event.roomName),
    });
    closers.push(() => server.close());
    await server.start();
    await vi.waitFor(async () => expect((await store.getDelivery('k-crashed'))?.result).toBe('processed'));
    expect(rooms).toEqual(['crashed']);
    expect(await server.redispatchPending()).toBe(0);
    expect(rooms).toEqual(['crashed']);
  });

  it("leaves another live process's fresh pending delivery alone", async () => {
    const store = new MemoryStore();
    await store.recordDelivery(started('elsewhere', 'k-else', Date.now() - 1_000, 'replica-y'), 60_000);
    const rooms: string[] = [];
    const server = new WebhookServer({
      config: CONFIG,
      secrets: 's',
      logger: silentLogger(),
      defaultMetrics: false,
      store,
      port: 0,
      host: '127.0.0.1',
      replicaId: 'replica-x',
      onRoomStarted: (event) => void rooms.push(event.roomName),
    });
    closers.push(() => server.close());
    await server.start();
    expect(await server.redispatchPending()).toBe(0);
    expect(rooms).toEqual([]);
    expect(await store.getDelivery('k-else')).toMatchObject({ result: 'pending', replica: 'replica-y' });
  });
});
