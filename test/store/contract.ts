/**
 * The store contract (docs/architecture.md §Style 10): one suite, run against every engine. An engine's test file calls
 * `runStoreContract` with a factory that opens a store on an empty database, or, given `peerOf`, a second store
 * (another replica) on the same database as that one.
 *
 * No timed assertions: waits for notifications are bounded by the test timeout only, and lease expiry is
 * produced by renewing with a zero lease rather than by sleeping.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import type { Coordinator } from '../../src/store/coordinator.js';
import type { NewDelivery, Store } from '../../src/store/store.js';

export type ContractStore = Store & Coordinator;
export type StoreFactory = (options?: { peerOf?: ContractStore }) => Promise<ContractStore>;

const DAY_MS = 24 * 3600 * 1000;
const WEEK_MS = 7 * DAY_MS;
const LEASE_MS = 60_000;
const T0 = new Date('2026-03-01T12:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

function delivery(key: string, overrides: Partial<NewDelivery> = {}): NewDelivery {
  return {
    key,
    event: 'room.started',
    room: 'room-a',
    scheme: 'standard-webhooks',
    body: JSON.stringify({ event: 'room.started', data: { room_name: 'room-a' }, key }),
    receivedAt: T0,
    ...overrides,
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a rejection with ${code}`).toBeDefined();
  expect(isRoomrunnerError(err) ? err.code : err).toBe(code);
}

/** Resolves when `listener` has seen a value matching `predicate`. */
function waitForChange(store: ContractStore, predicate: (room: string | null) => boolean): { ready: Promise<unknown>; seen: Promise<void> } {
  let resolveSeen!: () => void;
  const seen = new Promise<void>((resolve) => {
    resolveSeen = resolve;
  });
  const ready = store.onRoomsChanged((room) => {
    if (predicate(room)) resolveSeen();
  });
  return { ready, seen };
}

export function runStoreContract(name: string, factory: StoreFactory, cleanup: (store: ContractStore) => Promise<void>): void {
  describe(`${name}: store contract`, () => {
    const opened: ContractStore[] = [];
    const open = async (options?: { peerOf?: ContractStore }): Promise<ContractStore> => {
      const store = await factory(options);
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened.splice(0).reverse()) await cleanup(store);
    });

    describe('deliveries ledger', () => {
      it('records a delivery before it is acknowledged and reports the same key again as a duplicate', async () => {
        const store = await open();
        const first = await store.recordDelivery(delivery('k1'), WEEK_MS);
        expect(first.duplicate).toBe(false);
        expect(first.record).toMatchObject({ key: 'k1', event: 'room.started', room: 'room-a', result: 'pending', attempts: 0, lastError: null });
        expect(first.record.receivedAt.getTime()).toBe(T0.getTime());

        const again = await store.recordDelivery(delivery('k1', { receivedAt: at(1000), body: 'other' }), WEEK_MS);
        expect(again.duplicate).toBe(true);
        expect(again.record.body).toBe(first.record.body);
        expect(again.record.receivedAt.getTime()).toBe(T0.getTime());
        expect(await store.getDelivery('k1')).toEqual(first.record);
        expect(await store.getDelivery('unknown')).toBeUndefined();
      });

      it('keeps a null room and the raw body as given', async () => {
        const store = await open();
        const body = '{"event":"project.updated","data":{"emoji":"\u00e9\u{1F600}"}}';
        await store.recordDelivery(delivery('k-null', { room: null, event: 'project.updated', body }), WEEK_MS);
        expect(await store.getDelivery('k-null')).toMatchObject({ room: null, event: 'project.updated', body });
      });

      it('records a key afresh once its earlier record is older than the dedupe window, resetting attempts', async () => {
        const store = await open();
        await store.recordDelivery(delivery('k2', { receivedAt: at(-8 * DAY_MS) }), WEEK_MS);
        await store.finishDelivery('k2', 'failed', 'boom', at(-8 * DAY_MS + 10));
        expect(await store.getDelivery('k2')).toMatchObject({ attempts: 1, result: 'failed', lastError: 'boom' });

        const fresh = await store.recordDelivery(delivery('k2', { receivedAt: T0, body: 'second' }), WEEK_MS);
        expect(fresh.duplicate).toBe(false);
        expect(fresh.record).toMatchObject({ result: 'pending', attempts: 0, lastError: null, body: 'second' });
        expect(fresh.record.receivedAt.getTime()).toBe(T0.getTime());

        const within = await store.recordDelivery(delivery('k2', { receivedAt: at(6 * DAY_MS) }), WEEK_MS);
        expect(within.duplicate).toBe(true);
        expect(within.record.body).toBe('second');
      });

      it('lets exactly one caller reclaim a delivery still pending after the bound, and none a finished one', async () => {
        const store = await open();
        await store.recordDelivery(delivery('stale', { receivedAt: at(0) }), WEEK_MS);
        expect(await store.reclaimDelivery('stale', at(-1), at(10))).toBe(false);
        const attempts = await Promise.all([store.reclaimDelivery('stale', at(60_000), at(60_001)), store.reclaimDelivery('stale', at(60_000), at(60_001))]);
        expect(attempts.filter(Boolean)).toHaveLength(1);
        await store.finishDelivery('stale', 'processed', null, at(60_002));
        expect(await store.reclaimDelivery('stale', at(120_000), at(120_001))).toBe(false);
        expect(await store.reclaimDelivery('unknown', at(120_000))).toBe(false);
      });

      it('counts attempts and keeps the result and last error in finishDelivery', async () => {
        const store = await open();
        await store.recordDelivery(delivery('k3'), WEEK_MS);
        await store.finishDelivery('k3', 'failed', 'agent threw', at(1000));
        expect(await store.getDelivery('k3')).toMatchObject({ result: 'failed', attempts: 1, lastError: 'agent threw' });
        await store.finishDelivery('k3', 'processed', null, at(2000));
        const record = await store.getDelivery('k3');
        expect(record).toMatchObject({ result: 'processed', attempts: 2, lastError: null });
        expect(record?.updatedAt.getTime()).toBe(at(2000).getTime());
        await store.finishDelivery('never-recorded', 'processed');
        expect(await store.getDelivery('never-recorded')).toBeUndefined();
      });

      it('lists deliveries newest first, filtered by event, room, result and since, up to a limit', async () => {
        const store = await open();
        await store.recordDelivery(delivery('a', { receivedAt: at(1000), event: 'room.started', room: 'r1' }), WEEK_MS);
        await store.recordDelivery(delivery('b', { receivedAt: at(2000), event: 'room.ended', room: 'r1' }), WEEK_MS);
        await store.recordDelivery(delivery('c', { receivedAt: at(3000), event: 'room.started', room: 'r2' }), WEEK_MS);
        await store.recordDelivery(delivery('d', { receivedAt: at(4000), event: 'room.started', room: null }), WEEK_MS);
        await store.finishDelivery('c', 'failed', 'x');
        await store.finishDelivery('a', 'processed');

        const keys = async (filter?: Parameters<Store['listDeliveries']>[0]): Promise<string[]> =>
          (await store.listDeliveries(filter)).map((record) => record.key);
        expect(await keys()).toEqual(['d', 'c', 'b', 'a']);
        expect(await keys({ event: 'room.started' })).toEqual(['d', 'c', 'a']);
        expect(await keys({ room: 'r1' })).toEqual(['b', 'a']);
        expect(await keys({ result: 'failed' })).toEqual(['c']);
        expect(await keys({ result: 'pending' })).toEqual(['d', 'b']);
        expect(await keys({ since: at(2000) })).toEqual(['d', 'c', 'b']);
        expect(await keys({ limit: 2 })).toEqual(['d', 'c']);
        expect(await keys({ event: 'room.started', since: at(2000), limit: 1 })).toEqual(['d']);
        expect(await keys({ limit: 0 })).toEqual([]);
      });

      it('prunes deliveries received before a time and says how many', async () => {
        const store = await open();
        await store.recordDelivery(delivery('old1', { receivedAt: at(-10 * DAY_MS) }), WEEK_MS);
        await store.recordDelivery(delivery('old2', { receivedAt: at(-8 * DAY_MS) }), WEEK_MS);
        await store.recordDelivery(delivery('new', { receivedAt: T0 }), WEEK_MS);
        expect(await store.pruneDeliveries(at(-WEEK_MS))).toBe(2);
        expect((await store.listDeliveries()).map((record) => record.key)).toEqual(['new']);
        expect(await store.pruneDeliveries(at(-WEEK_MS))).toBe(0);
      });

      it('lets exactly one of many concurrent records of one key win, across two replicas', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? store : peer).recordDelivery(delivery('race', { body: `b${i}` }), WEEK_MS)),
        );
        expect(results.filter((result) => !result.duplicate)).toHaveLength(1);
        const winner = results.find((result) => !result.duplicate)?.record.body;
        for (const result of results) expect(result.record.body).toBe(winner);
      });

      it('answers 50 concurrent records of 10 keys as 10 new deliveries, each duplicate with its first record', async () => {
        const store = await open();
        const calls = Array.from({ length: 50 }, (_, i) => ({ key: `burst-${i % 10}`, body: `b${i}`, receivedAt: at(i) }));
        const results = await Promise.all(calls.map((call) => store.recordDelivery(delivery(call.key, call), WEEK_MS)));
        expect(results.filter((result) => !result.duplicate)).toHaveLength(10);
        for (let k = 0; k < 10; k++) {
          const ofKey = results.filter((result) => result.record.key === `burst-${k}`);
          expect(ofKey).toHaveLength(5);
          const first = ofKey.filter((result) => !result.duplicate);
          expect(first).toHaveLength(1);
          for (const result of ofKey) expect(result.record).toEqual(first[0]!.record);
          expect(await store.getDelivery(`burst-${k}`)).toEqual(first[0]!.record);
        }
        expect(await store.listDeliveries()).toHaveLength(10);
      });

      it('takes over an expired key and a zero window afresh even within one burst of concurrent calls', async () => {
        const store = await open();
        // Window 0: every call records afresh, in arrival order; the last one stays.
        const zero = await Promise.all([0, 1, 2].map((i) => store.recordDelivery(delivery('zero', { body: `z${i}`, receivedAt: at(i) }), 0)));
        expect(zero.map((result) => result.duplicate)).toEqual([false, false, false]);
        expect(zero.map((result) => result.record.body)).toEqual(['z0', 'z1', 'z2']);
        expect((await store.getDelivery('zero'))?.body).toBe('z2');
        // A week's window: the second call of the burst is 8 days later (afresh), the third within it (duplicate).
        const week = await Promise.all([
          store.recordDelivery(delivery('week', { body: 'w0', receivedAt: at(0) }), WEEK_MS),
          store.recordDelivery(delivery('week', { body: 'w1', receivedAt: at(8 * DAY_MS) }), WEEK_MS),
          store.recordDelivery(delivery('week', { body: 'w2', receivedAt: at(9 * DAY_MS) }), WEEK_MS),
        ]);
        expect(week.map((result) => [result.duplicate, result.record.body])).toEqual([
          [false, 'w0'],
          [false, 'w1'],
          [true, 'w1'],
        ]);
      });

      it('lands every one of many concurrent finishDelivery calls, counting each attempt', async () => {
        const store = await open();
        const keys = Array.from({ length: 8 }, (_, i) => `fin-${i}`);
        await Promise.all(keys.map((key) => store.recordDelivery(delivery(key), WEEK_MS)));
        // 8 keys × 5 outcomes each, all at once: the last outcome of a key is the one kept.
        await Promise.all(
          Array.from({ length: 40 }, (_, i) => store.finishDelivery(keys[i % 8]!, i >= 32 ? 'processed' : 'failed', i >= 32 ? null : `e${i}`, at(1000 + i))),
        );
        for (const [k, key] of keys.entries()) {
          const record = await store.getDelivery(key);
          expect(record).toMatchObject({ attempts: 5, result: 'processed', lastError: null });
          expect(record?.updatedAt.getTime()).toBe(at(1000 + 32 + k).getTime());
        }
        // Unknown keys in a batch change nothing and do not fail the others.
        await Promise.all([store.finishDelivery('fin-0', 'failed', 'x', at(5000)), store.finishDelivery('nobody', 'processed')]);
        expect(await store.getDelivery('fin-0')).toMatchObject({ attempts: 6, result: 'failed', lastError: 'x' });
        expect(await store.getDelivery('nobody')).toBeUndefined();
      });

      it('records the replica that runs a delivery', async () => {
        const store = await open();
        const { record } = await store.recordDelivery(delivery('by-a', { replica: 'a' }), WEEK_MS);
        expect(record.replica).toBe('a');
        await store.recordDelivery(delivery('by-nobody'), WEEK_MS);
        expect(await store.getDelivery('by-nobody')).toMatchObject({ replica: null });
      });

      it('hands its own pending deliveries from an earlier process, and stale ones, to crash recovery, never running or finished ones', async () => {
        const store = await open();
        const started = at(10_000);
        await store.recordDelivery(delivery('before-crash', { replica: 'a', receivedAt: at(9_000) }), WEEK_MS);
        await store.recordDelivery(delivery('before-crash-2', { replica: 'a', receivedAt: at(9_500) }), WEEK_MS);
        await store.recordDelivery(delivery('finished', { replica: 'a', receivedAt: at(9_000) }), WEEK_MS);
        await store.finishDelivery('finished', 'processed', null, at(9_001));
        await store.recordDelivery(delivery('running-here', { replica: 'a', receivedAt: at(9_000) }), WEEK_MS);
        await store.recordDelivery(delivery('fresh', { replica: 'a', receivedAt: at(11_000) }), WEEK_MS);
        const claim = { replica: 'a', processStartedAt: started, staleBefore: at(-50_000), at: at(12_000), exclude: ['running-here'], limit: 10 };
        const taken = await store.claimPendingDeliveries(claim);
        expect(taken.map((record) => record.key)).toEqual(['before-crash', 'before-crash-2']);
        expect(taken[0]).toMatchObject({ replica: 'a', result: 'pending', body: delivery('before-crash').body });
        expect(taken[0]?.updatedAt.getTime()).toBe(at(12_000).getTime());
        // Taken rows are touched now: the next sweep leaves them to the hook running them.
        expect(await store.claimPendingDeliveries(claim)).toEqual([]);
        // Once stale (an outcome never recorded), this process's own rows come back too, oldest first, up to the limit.
        const stale = await store.claimPendingDeliveries({ ...claim, staleBefore: at(70_000), at: at(70_001), limit: 2 });
        expect(stale.map((record) => record.key)).toEqual(['before-crash', 'before-crash-2']);
        expect(await store.claimPendingDeliveries({ ...claim, limit: 0 })).toEqual([]);
      });

      it('hands a pending delivery of a replica whose lease ran out to one peer only, and none of a live replica', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        await store.registerReplica('dead', 5);
        await store.registerReplica('alive', 5);
        await peer.registerReplica('b', 5);
        await peer.registerReplica('c', 5);
        await peer.registerReplica('d', 5);
        await store.recordDelivery(delivery('of-dead', { replica: 'dead', receivedAt: at(1) }), WEEK_MS);
        await store.recordDelivery(delivery('of-alive', { replica: 'alive', receivedAt: at(2) }), WEEK_MS);
        await store.recordDelivery(delivery('of-unknown', { replica: 'gone', receivedAt: at(3) }), WEEK_MS);
        expect(await store.heartbeat('dead', 0)).toEqual({ ok: true });
        const claim = (replica: string, staleBefore: Date) => ({ replica, processStartedAt: at(0), staleBefore, at: at(5), limit: 10 });
        // Not stale yet: only the row of the replica whose lease ran out may be taken, and by one of two racing peers.
        const raced = await Promise.all([store.claimPendingDeliveries(claim('b', at(-1))), peer.claimPendingDeliveries(claim('c', at(-1)))]);
        expect(raced.flat().map((record) => record.key)).toEqual(['of-dead']);
        // Stale: the unknown replica's row too, never the live one's, nor again the one a live peer took. A third
        // replica asks: the winner of the race would get its own row back once stale, and either peer may win.
        const later = await peer.claimPendingDeliveries(claim('d', at(60_000)));
        expect(later.map((record) => record.key)).toEqual(['of-unknown']);
        expect(await store.getDelivery('of-alive')).toMatchObject({ replica: 'alive' });
      });

      it('rejects calls made after close with RR_STORE_UNAVAILABLE, and writes those made before it', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        const before = Promise.all(Array.from({ length: 5 }, (_, i) => store.recordDelivery(delivery(`closing-${i}`), WEEK_MS)));
        const closing = store.close();
        await expectCode(store.recordDelivery(delivery('after-close'), WEEK_MS), 'RR_STORE_UNAVAILABLE');
        await expectCode(store.finishDelivery('closing-0', 'processed'), 'RR_STORE_UNAVAILABLE');
        expect((await before).every((result) => !result.duplicate)).toBe(true);
        await closing;
        expect(await peer.listDeliveries()).toHaveLength(5);
      });
    });

    describe('room tombstones', () => {
      it('marks a room started and reports it', async () => {
        const store = await open();
        expect(await store.getRoom('r')).toBeUndefined();
        expect(await store.markRoomStarted('r', T0, 60_000)).toBe(true);
        const room = await store.getRoom('r');
        expect(room).toMatchObject({ room: 'r', status: 'started' });
        expect(room?.updatedAt.getTime()).toBe(T0.getTime());
        expect(await store.markRoomStarted('r', at(1000), 60_000)).toBe(true);
      });

      it('ignores a start that comes within the tombstone window after the end of the same room', async () => {
        const store = await open();
        await store.markRoomStarted('r', T0, 60_000);
        await store.markRoomEnded('r', at(1000));
        expect(await store.markRoomStarted('r', at(2000), 60_000)).toBe(false);
        const room = await store.getRoom('r');
        expect(room).toMatchObject({ status: 'ended' });
        expect(room?.updatedAt.getTime()).toBe(at(1000).getTime());
      });

      it('ignores a late start of an ended session whatever the time, and revives the room for another session', async () => {
        const store = await open();
        await store.markRoomEnded('sess', T0, 's-1');
        expect(await store.markRoomStarted('sess', at(3_600_000), 0, 's-1')).toBe(false);
        expect((await store.getRoom('sess'))?.status).toBe('ended');
        expect(await store.markRoomStarted('sess', at(1), 60_000, 's-2')).toBe(true);
        expect((await store.getRoom('sess'))?.status).toBe('started');
      });

      it('ignores the late end of an earlier session once the room runs another, and ends the current one', async () => {
        const store = await open();
        expect(await store.markRoomStarted('two', T0, 0, 's-1')).toBe(true);
        expect(await store.markRoomEnded('two', at(10), 's-1')).toBe(true);
        expect(await store.markRoomStarted('two', at(20), 0, 's-2')).toBe(true);
        // s-1's end again (a replay, a reordered retry): the room stays started under s-2.
        expect(await store.markRoomEnded('two', at(30), 's-1')).toBe(false);
        expect((await store.getRoom('two'))?.status).toBe('started');
        // An end with no session id, or of s-2, ends it; a second end of an ended room is still an end.
        expect(await store.markRoomEnded('two', at(40), 's-2')).toBe(true);
        expect(await store.markRoomEnded('two', at(50))).toBe(true);
        expect((await store.getRoom('two'))?.status).toBe('ended');
        expect(await store.markRoomStarted('two', at(60), 0, 's-2')).toBe(false);
      });

      it("takes the session of a start that names a new one while the room is live, so the old session's end is late", async () => {
        const store = await open();
        expect(await store.markRoomStarted('swap', T0, 0, 's-1')).toBe(true);
        expect(await store.markRoomStarted('swap', at(10), 0, 's-2')).toBe(true);
        expect(await store.markRoomEnded('swap', at(20), 's-1')).toBe(false);
        expect((await store.getRoom('swap'))?.status).toBe('started');
        expect(await store.markRoomEnded('swap', at(30), 's-2')).toBe(true);
      });

      it('leaves a tombstone for an end that arrives before any start, so the late start is ignored', async () => {
        const store = await open();
        await store.markRoomEnded('late', at(5000));
        expect(await store.getRoom('late')).toMatchObject({ status: 'ended' });
        expect(await store.markRoomStarted('late', T0, 60_000)).toBe(false);
        expect((await store.activeRooms()).map((room) => room.room)).not.toContain('late');
      });

      it('starts a room again once the tombstone is older than the window, or after clearRoom', async () => {
        const store = await open();
        await store.markRoomEnded('r', T0);
        expect(await store.markRoomStarted('r', at(61_000), 60_000)).toBe(true);
        expect(await store.getRoom('r')).toMatchObject({ status: 'started' });

        await store.markRoomEnded('r', at(62_000));
        expect(await store.markRoomStarted('r', at(63_000), 60_000)).toBe(false);
        await store.clearRoom('r');
        expect(await store.getRoom('r')).toBeUndefined();
        expect(await store.markRoomStarted('r', at(63_000), 60_000)).toBe(true);
        expect(await store.getRoom('r')).toMatchObject({ status: 'started' });
        await store.clearRoom('never-seen');
      });

      it('prunes tombstones older than a time, never live rooms', async () => {
        const store = await open();
        await store.markRoomEnded('gone', at(-DAY_MS));
        await store.markRoomEnded('recent', T0);
        await store.markRoomStarted('live', at(-2 * DAY_MS), 60_000);
        expect(await store.pruneRooms(at(-1000))).toBe(1);
        expect(await store.getRoom('gone')).toBeUndefined();
        expect(await store.getRoom('recent')).toMatchObject({ status: 'ended' });
        expect(await store.getRoom('live')).toMatchObject({ status: 'started' });
      });
    });

    describe('room ownership', () => {
      async function startRooms(store: ContractStore, count: number, prefix = 'room'): Promise<string[]> {
        const rooms = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
        for (const [i, room] of rooms.entries()) await store.markRoomStarted(room, at(i), 60_000);
        return rooms;
      }

      it('claims pending rooms up to the capacity, counting rooms already owned', async () => {
        const store = await open();
        const rooms = await startRooms(store, 5);
        await store.registerReplica('a', 3);
        const first = await store.claimRooms('a', { capacity: 3, leaseMs: LEASE_MS });
        expect(first.map((claim) => claim.room)).toEqual(rooms.slice(0, 3));
        expect(await store.claimRooms('a', { capacity: 3, leaseMs: LEASE_MS })).toEqual([]);
        const more = await store.claimRooms('a', { capacity: 4, leaseMs: LEASE_MS });
        expect(more.map((claim) => claim.room)).toEqual([rooms[3]]);
        expect((await store.ownedRooms('a')).map((owned) => owned.room)).toEqual(rooms.slice(0, 4));
        for (const claim of [...first, ...more]) {
          expect(await store.roomState(claim.room)).toMatchObject({ owner: 'a', epoch: claim.epoch, status: 'pending' });
        }
      });

      it('claims the rooms that started first, a released or orphaned room by its start, the name breaking ties', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        await startRooms(store, 4);
        await store.markRoomStarted('tie-b', at(10), 60_000);
        await store.markRoomStarted('tie-a', at(10), 60_000);
        await store.registerReplica('a', 2);
        await peer.registerReplica('b', 10);
        const claim = async (via: ContractStore, id: string, capacity: number) =>
          (await via.claimRooms(id, { capacity, leaseMs: LEASE_MS })).map((claimed) => claimed.room);

        expect(await claim(store, 'a', 2)).toEqual(['room-00', 'room-01']);
        await store.releaseRooms('a', ['room-00']);
        // The released room is older than every room still pending: it goes first.
        expect(await claim(peer, 'b', 3)).toEqual(['room-00', 'room-02', 'room-03']);
        expect(await claim(peer, 'b', 4)).toEqual(['tie-a']);
        // The lease of `a` runs out: its room, older than the one still pending, is taken first.
        await store.heartbeat('a', 0);
        expect(await claim(peer, 'b', 5)).toEqual(['room-01']);
        expect(await claim(peer, 'b', 6)).toEqual(['tie-b']);
      });

      it('gives a claimed room a larger epoch than it had', async () => {
        const store = await open();
        await store.markRoomStarted('r', T0, 60_000);
        const before = (await store.roomState('r'))?.epoch ?? Number.NaN;
        await store.registerReplica('a', 1);
        const [claim] = await store.claimRooms('a', { capacity: 1, leaseMs: LEASE_MS });
        expect(claim?.epoch).toBeGreaterThan(before);
      });

      it('never exceeds a capacity nor gives one room to two replicas under concurrent claims', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        const rooms = await startRooms(store, 10);
        await store.registerReplica('a', 3);
        await peer.registerReplica('b', 3);
        const claims = await Promise.all(
          Array.from({ length: 24 }, (_, i) =>
            i % 2 === 0 ? store.claimRooms('a', { capacity: 3, leaseMs: LEASE_MS }) : peer.claimRooms('b', { capacity: 3, leaseMs: LEASE_MS }),
          ),
        );
        const claimedByA = claims
          .filter((_, i) => i % 2 === 0)
          .flat()
          .map((claim) => claim.room);
        const claimedByB = claims
          .filter((_, i) => i % 2 === 1)
          .flat()
          .map((claim) => claim.room);
        expect(claimedByA).toHaveLength(3);
        expect(claimedByB).toHaveLength(3);
        const all = [...claimedByA, ...claimedByB];
        expect(new Set(all).size).toBe(6);
        expect((await store.ownedRooms('a')).map((owned) => owned.room).sort()).toEqual([...claimedByA].sort());
        expect((await peer.ownedRooms('b')).map((owned) => owned.room).sort()).toEqual([...claimedByB].sort());
        const active = await store.activeRooms();
        expect(active).toHaveLength(10);
        expect(
          active
            .filter((room) => room.owner === null)
            .map((room) => room.room)
            .sort(),
        ).toEqual(rooms.filter((room) => !all.includes(room)));
      });

      it('does not take rooms from a replica whose lease is live', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        await startRooms(store, 2);
        await store.registerReplica('a', 5);
        await peer.registerReplica('b', 5);
        expect(await store.claimRooms('a', { capacity: 5, leaseMs: LEASE_MS })).toHaveLength(2);
        expect(await peer.claimRooms('b', { capacity: 5, leaseMs: LEASE_MS })).toEqual([]);
        expect(await store.heartbeat('a', LEASE_MS)).toEqual({ ok: true });
      });

      it('lets another replica take over when a lease runs out, and fences the old owner', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        await store.markRoomStarted('r', T0, 60_000);
        await store.registerReplica('a', 2);
        await peer.registerReplica('b', 2);
        const [claim] = await store.claimRooms('a', { capacity: 2, leaseMs: LEASE_MS });
        if (claim === undefined) throw new Error('a claimed nothing');
        expect(await store.markAttached('r', 'a', claim.epoch, 'session-1')).toBe(true);

        // A zero lease ends now: the same as a replica that stopped renewing (killed, partitioned).
        expect(await store.heartbeat('a', 0)).toEqual({ ok: true });
        const [takeover] = await peer.claimRooms('b', { capacity: 2, leaseMs: LEASE_MS });
        expect(takeover?.room).toBe('r');
        expect(takeover?.epoch).toBeGreaterThan(claim.epoch);
        expect(takeover?.sessionId).toBe('session-1');

        expect(await store.markAttached('r', 'a', claim.epoch)).toBe(false);
        expect(await store.recordAttachFailure('r', 'a', claim.epoch, 'late')).toBe(false);
        expect(await store.ownedRooms('a')).toEqual([]);
        expect(await store.heartbeat('a', LEASE_MS)).toEqual({ ok: false });
        expect(await peer.markAttached('r', 'b', takeover?.epoch ?? -1)).toBe(true);
        expect(await store.roomState('r')).toMatchObject({ owner: 'b', status: 'attached', epoch: takeover?.epoch });
      });

      it('releases rooms so a peer claims them at once (drain hands rooms over)', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        const rooms = await startRooms(store, 3);
        await store.registerReplica('a', 3);
        await peer.registerReplica('b', 3);
        const claimed = await store.claimRooms('a', { capacity: 3, leaseMs: LEASE_MS });
        expect(claimed).toHaveLength(3);

        await store.setDraining('a');
        expect(await store.releaseRooms('a', [rooms[0] ?? '', 'not-mine'])).toEqual([rooms[0]]);
        expect(await store.claimRooms('a', { capacity: 3, leaseMs: LEASE_MS })).toEqual([]); // draining claims nothing
        expect(await store.releaseRooms('a')).toEqual(rooms.slice(1));
        expect(await store.ownedRooms('a')).toEqual([]);

        const taken = await peer.claimRooms('b', { capacity: 3, leaseMs: LEASE_MS });
        expect(taken.map((claim) => claim.room)).toEqual(rooms);
        for (const claim of taken) {
          const before = claimed.find((c) => c.room === claim.room)?.epoch ?? Number.POSITIVE_INFINITY;
          expect(claim.epoch).toBeGreaterThan(before);
        }
        expect((await store.listReplicas()).find((replica) => replica.id === 'a')).toMatchObject({ draining: true, live: true });
      });

      it('releases the rooms of a replica that deregisters, and forgets it', async () => {
        const store = await open();
        await startRooms(store, 2);
        await store.registerReplica('a', 2);
        await store.registerReplica('b', 2);
        await store.claimRooms('a', { capacity: 2, leaseMs: LEASE_MS });
        await store.deregisterReplica('a');
        expect(await store.heartbeat('a', LEASE_MS)).toEqual({ ok: false });
        expect(await store.claimRooms('a', { capacity: 2, leaseMs: LEASE_MS })).toEqual([]); // unknown replica
        expect(await store.claimRooms('b', { capacity: 2, leaseMs: LEASE_MS })).toHaveLength(2);
        expect((await store.listReplicas()).map((replica) => replica.id)).toEqual(['b']);
      });

      it('releases rooms held under a replica id when that id registers again (a restarted process)', async () => {
        const store = await open();
        await startRooms(store, 2);
        await store.registerReplica('a', 2);
        const before = await store.claimRooms('a', { capacity: 2, leaseMs: LEASE_MS });
        await store.registerReplica('a', 2);
        expect(await store.ownedRooms('a')).toEqual([]);
        const after = await store.claimRooms('a', { capacity: 2, leaseMs: LEASE_MS });
        expect(after.map((claim) => claim.room)).toEqual(before.map((claim) => claim.room));
        for (const [i, claim] of after.entries()) expect(claim.epoch).toBeGreaterThan(before[i]?.epoch ?? Number.POSITIVE_INFINITY);
      });

      it('takes an ended room from its owner and fences it', async () => {
        const store = await open();
        await store.markRoomStarted('r', T0, 60_000);
        await store.registerReplica('a', 1);
        const [claim] = await store.claimRooms('a', { capacity: 1, leaseMs: LEASE_MS });
        await store.markRoomEnded('r', at(1000));
        expect(await store.ownedRooms('a')).toEqual([]);
        expect(await store.markAttached('r', 'a', claim?.epoch ?? -1)).toBe(false);
        expect(await store.activeRooms()).toEqual([]);
        expect(await store.roomState('r')).toMatchObject({ status: 'ended', owner: null });
        expect((await store.roomState('r'))?.endedAt?.getTime()).toBe(at(1000).getTime());
      });

      it('counts attach attempts and keeps the last error and session id', async () => {
        const store = await open();
        await store.markRoomStarted('r', T0, 60_000);
        await store.registerReplica('a', 1);
        const [claim] = await store.claimRooms('a', { capacity: 1, leaseMs: LEASE_MS });
        const epoch = claim?.epoch ?? -1;
        expect(await store.recordAttachFailure('r', 'a', epoch, 'handshake refused')).toBe(true);
        expect(await store.roomState('r')).toMatchObject({ status: 'pending', attempts: 1, lastError: 'handshake refused', owner: 'a' });
        expect(await store.markAttached('r', 'a', epoch, 'sess-9')).toBe(true);
        expect(await store.roomState('r')).toMatchObject({ status: 'attached', attempts: 2, lastError: null, sessionId: 'sess-9' });
        expect(await store.ownedRooms('a')).toEqual([{ room: 'r', epoch, status: 'attached', sessionId: 'sess-9' }]);
      });

      it('tells every replica when another store instance starts a room', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        const room = `notified-${Math.random().toString(36).slice(2)}`;
        const change = waitForChange(store, (changed) => changed === room);
        const unsubscribe = (await change.ready) as () => Promise<void>;
        await peer.markRoomStarted(room, T0, 60_000);
        await change.seen;
        await unsubscribe();
      });

      it('tells every replica when rooms are released', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        await startRooms(store, 2, 'rel');
        await store.registerReplica('a', 2);
        await store.claimRooms('a', { capacity: 2, leaseMs: LEASE_MS });
        const change = waitForChange(peer, () => true);
        const unsubscribe = (await change.ready) as () => Promise<void>;
        await store.releaseRooms('a');
        await change.seen;
        await unsubscribe();
      });

      it('prunes replicas whose lease ran out long ago; their rooms stay claimable', async () => {
        const store = await open();
        await store.markRoomStarted('r', T0, 60_000);
        await store.registerReplica('dead', 1);
        await store.registerReplica('live', 1);
        await store.claimRooms('dead', { capacity: 1, leaseMs: LEASE_MS });
        await store.heartbeat('dead', 0);
        expect(await store.pruneReplicas(0)).toBe(1);
        expect((await store.listReplicas()).map((replica) => replica.id)).toEqual(['live']);
        expect((await store.claimRooms('live', { capacity: 1, leaseMs: LEASE_MS })).map((claim) => claim.room)).toEqual(['r']);
      });

      it('keeps capacity, single ownership, growing epochs and fencing over any sequence of operations', async () => {
        const store = await open();
        const peer = await open({ peerOf: store });
        const replicas = [
          { id: 'p0', capacity: 2, via: store },
          { id: 'p1', capacity: 3, via: peer },
          { id: 'p2', capacity: 1, via: store },
        ] as const;
        const rooms = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'];
        const operation = fc.oneof(
          fc.record({ kind: fc.constant('claim' as const), replica: fc.nat(2) }),
          fc.record({ kind: fc.constant('expire' as const), replica: fc.nat(2) }),
          fc.record({ kind: fc.constant('release' as const), replica: fc.nat(2), room: fc.option(fc.nat(5), { nil: undefined }) }),
          fc.record({ kind: fc.constant('end' as const), room: fc.nat(5) }),
          fc.record({ kind: fc.constant('restart' as const), room: fc.nat(5) }),
          fc.record({ kind: fc.constant('attach' as const), replica: fc.nat(2), room: fc.nat(5) }),
        );
        let tick = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25 }), async (operations) => {
            await Promise.all(rooms.map((room) => store.clearRoom(room)));
            for (const replica of replicas) await replica.via.registerReplica(replica.id, replica.capacity, { leaseMs: LEASE_MS });
            for (const room of rooms) await store.markRoomStarted(room, at(tick++), 0);
            const lastEpoch = new Map<string, number>();
            // What each replica last learned it holds: a claim's epoch, possibly stale by now.
            const known = new Map<string, number>();
            for (const op of operations) {
              if (op.kind === 'claim') {
                const replica = replicas[op.replica];
                if (replica === undefined) continue;
                for (const claim of await replica.via.claimRooms(replica.id, { capacity: replica.capacity, leaseMs: LEASE_MS })) {
                  known.set(`${replica.id}/${claim.room}`, claim.epoch);
                }
              } else if (op.kind === 'expire') {
                const replica = replicas[op.replica];
                if (replica !== undefined) await replica.via.heartbeat(replica.id, 0);
              } else if (op.kind === 'release') {
                const replica = replicas[op.replica];
                const room = op.room === undefined ? undefined : rooms[op.room];
                if (replica !== undefined) await replica.via.releaseRooms(replica.id, room === undefined ? undefined : [room]);
              } else if (op.kind === 'end') {
                await peer.markRoomEnded(rooms[op.room] ?? '', at(tick++));
              } else if (op.kind === 'restart') {
                await store.clearRoom(rooms[op.room] ?? '');
                await store.markRoomStarted(rooms[op.room] ?? '', at(tick++), 0);
              } else {
                const replica = replicas[op.replica];
                const room = rooms[op.room];
                if (replica === undefined || room === undefined) continue;
                const epoch = known.get(`${replica.id}/${room}`);
                if (epoch === undefined) continue;
                const state = await store.roomState(room);
                const owns = state !== undefined && state.status !== 'ended' && state.owner === replica.id && state.epoch === epoch;
                // Fencing: the write succeeds exactly when the replica still holds this epoch.
                expect(await replica.via.markAttached(room, replica.id, epoch)).toBe(owns);
              }
              const active = await store.activeRooms();
              for (const replica of replicas) {
                const owned = await replica.via.ownedRooms(replica.id);
                expect(owned.length).toBeLessThanOrEqual(replica.capacity);
                // What a replica is told it owns is what the rooms' rows say.
                expect(owned.map((row) => row.room)).toEqual(active.filter((row) => row.owner === replica.id).map((row) => row.room));
              }
              for (const room of rooms) {
                const state = await store.roomState(room);
                if (state === undefined) continue;
                if (state.status === 'ended') expect(state.owner).toBeNull();
                expect(state.epoch).toBeGreaterThanOrEqual(lastEpoch.get(room) ?? 0);
                lastEpoch.set(room, state.epoch);
              }
            }
          }),
          { numRuns: 25 },
        );
      });
    });

    describe('arguments and lifecycle', () => {
      it('rejects a negative lease, a fractional capacity or a negative window with RR_STORE_OPTION_INVALID', async () => {
        const store = await open();
        await expectCode(store.registerReplica('a', 1.5), 'RR_STORE_OPTION_INVALID');
        await expectCode(store.heartbeat('a', -1), 'RR_STORE_OPTION_INVALID');
        await expectCode(store.claimRooms('a', { capacity: 1, leaseMs: Number.NaN }), 'RR_STORE_OPTION_INVALID');
        await expectCode(store.recordDelivery(delivery('x'), -5), 'RR_STORE_OPTION_INVALID');
        await expectCode(store.markRoomStarted('r', T0, -1), 'RR_STORE_OPTION_INVALID');
      });

      it('answers ping while open; after close every call rejects with RR_STORE_UNAVAILABLE and close is idempotent', async () => {
        const store = await open();
        await store.ping();
        await store.close();
        await store.close();
        await expectCode(store.ping(), 'RR_STORE_UNAVAILABLE');
        await expectCode(store.recordDelivery(delivery('after-close'), WEEK_MS), 'RR_STORE_UNAVAILABLE');
        await expectCode(store.claimRooms('a', { capacity: 1, leaseMs: LEASE_MS }), 'RR_STORE_UNAVAILABLE');
        await expectCode(
          store.onRoomsChanged(() => undefined),
          'RR_STORE_UNAVAILABLE',
        );
      });
    });
  });
}
