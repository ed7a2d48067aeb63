import { describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { NewDelivery } from '../../src/store/store.js';
import { runStoreContract, type ContractStore } from './contract.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function delivery(key: string, at: number, extra: Partial<NewDelivery> = {}): NewDelivery {
  return { key, event: 'room.started', room: 'r1', scheme: 'meshagent', body: '{}', receivedAt: new Date(at), ...extra };
}

describe('MemoryStore deliveries', () => {
  it('records a new key as pending with no attempts', async () => {
    const store = new MemoryStore();
    const { duplicate, record } = await store.recordDelivery(delivery('k1', T0), HOUR);
    expect(duplicate).toBe(false);
    expect(record).toMatchObject({ key: 'k1', result: 'pending', attempts: 0, lastError: null, room: 'r1' });
    expect(await store.getDelivery('k1')).toStrictEqual(record);
  });

  it('reports a known key within the window as a duplicate with the existing record', async () => {
    const store = new MemoryStore();
    const first = await store.recordDelivery(delivery('k1', T0), HOUR);
    const again = await store.recordDelivery(delivery('k1', T0 + HOUR - 1, { body: 'other' }), HOUR);
    expect(again.duplicate).toBe(true);
    expect(again.record).toStrictEqual(first.record);
  });

  it('records a key afresh once the window has passed', async () => {
    const store = new MemoryStore();
    await store.recordDelivery(delivery('k1', T0), HOUR);
    await store.finishDelivery('k1', 'processed');
    const later = await store.recordDelivery(delivery('k1', T0 + HOUR), HOUR);
    expect(later.duplicate).toBe(false);
    expect(later.record).toMatchObject({ result: 'pending', attempts: 0 });
  });

  it('hands pending deliveries to crash recovery: its own from before the process, stale ones of anyone, never running or finished ones', async () => {
    const store = new MemoryStore();
    await store.recordDelivery(delivery('mine-old', T0, { replica: 'a' }), HOUR);
    await store.recordDelivery(delivery('mine-running', T0, { replica: 'a' }), HOUR);
    await store.recordDelivery(delivery('mine-new', T0 + 10, { replica: 'a' }), HOUR);
    await store.recordDelivery(delivery('other', T0 + 1, { replica: 'b' }), HOUR);
    await store.recordDelivery(delivery('done', T0, { replica: 'a' }), HOUR);
    await store.finishDelivery('done', 'processed', null, new Date(T0 + 1));
    const claim = {
      replica: 'a',
      processStartedAt: new Date(T0 + 5),
      staleBefore: new Date(T0 - HOUR),
      at: new Date(T0 + 20),
      exclude: ['mine-running'],
      limit: 10,
    };
    expect((await store.claimPendingDeliveries(claim)).map((r) => [r.key, r.replica])).toEqual([['mine-old', 'a']]);
    expect(await store.claimPendingDeliveries(claim)).toEqual([]);
    const stale = await store.claimPendingDeliveries({ ...claim, staleBefore: new Date(T0 + 15), exclude: [] });
    expect(stale.map((r) => r.key)).toEqual(['mine-running', 'other', 'mine-new']);
    expect(await store.getDelivery('other')).toMatchObject({ replica: 'a', result: 'pending' });
  });

  it('counts attempts and keeps the last error, timed by the injected clock', async () => {
    const store = new MemoryStore({ now: () => T0 + 5 });
    await store.recordDelivery(delivery('k1', T0), HOUR);
    await store.finishDelivery('k1', 'failed', 'Error: boom');
    let record = await store.getDelivery('k1');
    expect(record).toMatchObject({ result: 'failed', attempts: 1, lastError: 'Error: boom' });
    expect(record?.updatedAt.getTime()).toBe(T0 + 5);
    await store.finishDelivery('k1', 'processed', null, new Date(T0 + 9));
    record = await store.getDelivery('k1');
    expect(record).toMatchObject({ result: 'processed', attempts: 2, lastError: null });
    expect(record?.updatedAt.getTime()).toBe(T0 + 9);
  });

  it('ignores finishing an unknown key', async () => {
    const store = new MemoryStore();
    await expect(store.finishDelivery('nope', 'processed')).resolves.toBeUndefined();
    expect(await store.getDelivery('nope')).toBeUndefined();
  });

  it('lists newest first with filters and a limit', async () => {
    const store = new MemoryStore();
    await store.recordDelivery(delivery('a', T0, { event: 'room.started', room: 'r1' }), HOUR);
    await store.recordDelivery(delivery('b', T0 + 1, { event: 'room.ended', room: 'r1' }), HOUR);
    await store.recordDelivery(delivery('c', T0 + 2, { event: 'room.started', room: 'r2' }), HOUR);
    await store.finishDelivery('c', 'failed', 'x');
    expect((await store.listDeliveries()).map((r) => r.key)).toStrictEqual(['c', 'b', 'a']);
    expect((await store.listDeliveries({ event: 'room.started' })).map((r) => r.key)).toStrictEqual(['c', 'a']);
    expect((await store.listDeliveries({ room: 'r1' })).map((r) => r.key)).toStrictEqual(['b', 'a']);
    expect((await store.listDeliveries({ result: 'failed' })).map((r) => r.key)).toStrictEqual(['c']);
    expect((await store.listDeliveries({ since: new Date(T0 + 1) })).map((r) => r.key)).toStrictEqual(['c', 'b']);
    expect((await store.listDeliveries({ limit: 1 })).map((r) => r.key)).toStrictEqual(['c']);
  });

  it('prunes deliveries received before a time', async () => {
    const store = new MemoryStore();
    await store.recordDelivery(delivery('a', T0), HOUR);
    await store.recordDelivery(delivery('b', T0 + 10), HOUR);
    expect(await store.pruneDeliveries(new Date(T0 + 10))).toBe(1);
    expect((await store.listDeliveries()).map((r) => r.key)).toStrictEqual(['b']);
  });

  it('forgets the oldest deliveries beyond its cap', async () => {
    const store = new MemoryStore({ maxDeliveries: 2 });
    for (const [i, key] of ['a', 'b', 'c'].entries()) await store.recordDelivery(delivery(key, T0 + i), HOUR);
    expect((await store.listDeliveries()).map((r) => r.key)).toStrictEqual(['c', 'b']);
  });
});

describe('MemoryStore rooms', () => {
  it('marks a room started and ended', async () => {
    const store = new MemoryStore();
    expect(await store.markRoomStarted('r1', new Date(T0), HOUR)).toBe(true);
    expect(await store.getRoom('r1')).toMatchObject({ room: 'r1', status: 'started' });
    await store.markRoomEnded('r1', new Date(T0 + 1));
    expect(await store.getRoom('r1')).toMatchObject({ status: 'ended' });
  });

  it('refuses a start while a fresh tombstone stands (the end arrived first)', async () => {
    const store = new MemoryStore();
    await store.markRoomEnded('r1', new Date(T0));
    expect(await store.markRoomStarted('r1', new Date(T0 - 5), HOUR)).toBe(false);
    expect(await store.markRoomStarted('r1', new Date(T0 + HOUR - 1), HOUR)).toBe(false);
    expect(await store.getRoom('r1')).toMatchObject({ status: 'ended' });
  });

  it('accepts a start once the tombstone is older than the window, or cleared', async () => {
    const store = new MemoryStore();
    await store.markRoomEnded('r1', new Date(T0));
    expect(await store.markRoomStarted('r1', new Date(T0 + HOUR), HOUR)).toBe(true);
    await store.markRoomEnded('r2', new Date(T0));
    await store.clearRoom('r2');
    expect(await store.getRoom('r2')).toBeUndefined();
    expect(await store.markRoomStarted('r2', new Date(T0 + 1), HOUR)).toBe(true);
  });
});

describe('MemoryStore lifecycle', () => {
  it('pings while open and rejects every call with RR_STORE_UNAVAILABLE once closed', async () => {
    const store = new MemoryStore();
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
    await store.close();
    const err = await store.ping().catch((e: unknown) => e);
    expect(isRoomrunnerError(err, 'RR_STORE_UNAVAILABLE')).toBe(true);
    await expect(store.recordDelivery(delivery('k', T0), HOUR)).rejects.toThrow(/closed/);
  });
});

// The same contract as the SQL stores: a peer is another replica's handle on the same in-process database.
runStoreContract(
  'MemoryStore',
  async (options) => (options?.peerOf instanceof MemoryStore ? new MemoryStore({ peerOf: options.peerOf }) : new MemoryStore()),
  async (store: ContractStore) => store.close(),
);
