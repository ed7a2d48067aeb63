/**
 * The replica lease on fake time (a ManualClock passed as its `clock`): heartbeats on their interval,
 * self-fencing on its own clock before the store's lease ends, un-fencing only on a renewal sent in time,
 * re-registering after `ok: false`, and a clean close. The store is scripted per call so each answer (success,
 * failure, `ok: false`, a late answer, none) is chosen by the test.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { ReplicaLease, type LeaseLoss, type LeaseStore } from '../../src/orchestrator/replica-lease.js';
import { ManualClock } from '../support/manual-clock.js';

const LEASE_MS = 10_000;
const HEARTBEAT_MS = 2_000;
/** leaseMs - min(heartbeat / 2, lease / 4): the lease is trusted until 1 s before the store's lease ends. */
const FENCE_AFTER_MS = 9_000;

type Answer = () => Promise<{ ok: boolean }>;

/** A coordinator whose heartbeat answers come from a script; every call is recorded. */
class ScriptedStore implements LeaseStore {
  readonly calls: string[] = [];
  readonly answers: Answer[] = [];
  registerFailures = 0;

  async registerReplica(id: string, capacity: number, options?: { leaseMs?: number }): Promise<void> {
    this.calls.push(`register ${id} ${capacity} ${options?.leaseMs}`);
    if (this.registerFailures > 0) {
      this.registerFailures -= 1;
      throw new Error('store down');
    }
  }

  heartbeat(id: string, leaseMs: number): Promise<{ ok: boolean }> {
    this.calls.push(`heartbeat ${id} ${leaseMs}`);
    const next = this.answers.shift();
    return next ? next() : Promise.resolve({ ok: true });
  }

  async setDraining(id: string): Promise<void> {
    this.calls.push(`draining ${id}`);
  }

  async deregisterReplica(id: string): Promise<void> {
    this.calls.push(`deregister ${id}`);
  }

  count(prefix: string): number {
    return this.calls.filter((call) => call.startsWith(prefix)).length;
  }
}

const fail: Answer = () => Promise.reject(new Error('connection refused'));

function startLease(store: ScriptedStore, options: { draining?: () => boolean; onLost?: (loss: LeaseLoss) => Promise<void> } = {}) {
  const losses: LeaseLoss[] = [];
  let renewals = 0;
  const lease = new ReplicaLease({
    store,
    replicaId: 'replica-a',
    capacity: 8,
    leaseMs: LEASE_MS,
    heartbeatIntervalMs: HEARTBEAT_MS,
    logger: silentLogger(),
    draining: options.draining ?? (() => false),
    onLost: async (loss) => {
      losses.push(loss);
      await options.onLost?.(loss);
    },
    onRenewed: () => {
      renewals += 1;
    },
    clock,
  });
  return { lease, losses, renewals: () => renewals };
}

let clock: ManualClock;
beforeEach(() => {
  clock = new ManualClock(Date.parse('2026-12-02T12:00:00Z'));
});

describe('ReplicaLease', () => {
  it('registers on start and renews once per heartbeat interval, staying valid', async () => {
    const store = new ScriptedStore();
    const { lease, renewals } = startLease(store);
    await lease.start();
    expect(store.calls).toEqual(['register replica-a 8 10000']);
    expect(lease.valid).toBe(true);
    expect(lease.status()).toMatchObject({ state: 'held', selfFenceAt: '2026-12-02T12:00:09.000Z' });

    await clock.advance(HEARTBEAT_MS * 5);
    expect(store.count('heartbeat replica-a 10000')).toBe(5);
    expect(renewals()).toBe(6);
    expect(lease.valid).toBe(true);
    expect(() => lease.check()).not.toThrow();
    await lease.close();
  });

  it('fences itself before the store lease ends when heartbeats fail, and takes rooms again on the next success', async () => {
    const store = new ScriptedStore();
    const { lease, losses } = startLease(store);
    await lease.start();
    store.answers.push(fail, fail, fail, fail);

    await clock.advance(FENCE_AFTER_MS - 1);
    expect(losses).toEqual([]);
    expect(lease.valid).toBe(true);
    expect(() => lease.check()).toThrow(/heartbeat failed: connection refused/);

    await clock.advance(1);
    expect(losses).toEqual(['lease-expired']);
    expect(lease.valid).toBe(false);
    expect(lease.status().state).toBe('self-fenced');
    expect(() => lease.check()).toThrow(
      expect.objectContaining({ code: 'RR_REPLICA_LEASE_NOT_HELD', message: expect.stringMatching(/could not renew its lease in time/) }),
    );

    // The fifth heartbeat (at 10 s) succeeds: sent in time for itself, so the lease is trusted again.
    await clock.advance(HEARTBEAT_MS);
    expect(losses).toEqual(['lease-expired']);
    expect(lease.valid).toBe(true);
    expect(lease.status().state).toBe('held');
    await lease.close();
  });

  it('stays fenced when a renewal is answered after its own deadline, and takes rooms again on the next one in time', async () => {
    const store = new ScriptedStore();
    const { lease, losses } = startLease(store);
    await lease.start();
    let answerLate: (value: { ok: boolean }) => void = () => undefined;
    // Heartbeats at 2, 4 and 6 s fail; the one sent at 8 s hangs (later ticks share it) past its own deadline at 17 s.
    store.answers.push(fail, fail, fail, () => new Promise((resolve) => (answerLate = resolve)));
    await clock.advance(FENCE_AFTER_MS);
    expect(losses).toEqual(['lease-expired']);

    await clock.advance(8_500);
    answerLate({ ok: true });
    await clock.advance(0);
    expect(lease.status()).toMatchObject({ state: 'self-fenced', renewedAt: '2026-12-02T12:00:08.000Z' });
    expect(lease.valid).toBe(false);

    // The tick at 18 s is answered at once: the lease is trusted again, with no second loss reported.
    await clock.advance(500);
    expect(lease.status()).toMatchObject({ state: 'held', renewedAt: '2026-12-02T12:00:18.000Z' });
    expect(lease.valid).toBe(true);
    expect(losses).toEqual(['lease-expired']);
    await lease.close();
  });

  it("fences itself exactly at its deadline while a renewal hangs, and a late answer restores trust only until that renewal's own deadline", async () => {
    const store = new ScriptedStore();
    const { lease, losses } = startLease(store);
    await lease.start();
    let answer: (value: { ok: boolean }) => void = () => undefined;
    // The heartbeat sent at 2 s is never answered meanwhile: the ticks at 4, 6 and 8 s share it.
    store.answers.push(() => new Promise((resolve) => (answer = resolve)));
    await clock.advance(FENCE_AFTER_MS - 1);
    expect(store.count('heartbeat')).toBe(1);
    expect(lease.valid).toBe(true);
    expect(losses).toEqual([]);
    await clock.advance(1);
    expect(losses).toEqual(['lease-expired']);
    expect(lease.valid).toBe(false);

    // Answered at 10 s: sent at 2 s, it vouches for the lease until 11 s, and no longer.
    await clock.advance(1_000);
    answer({ ok: true });
    await clock.advance(0);
    expect(lease.status()).toMatchObject({ state: 'held', renewedAt: '2026-12-02T12:00:02.000Z', selfFenceAt: '2026-12-02T12:00:11.000Z' });
    await clock.advance(999);
    expect(lease.valid).toBe(true);
    await clock.advance(1);
    expect(losses).toEqual(['lease-expired', 'lease-expired']);
    expect(lease.valid).toBe(false);

    // The tick at 12 s sends a fresh heartbeat, answered at once.
    await clock.advance(1_000);
    expect(lease.status()).toMatchObject({ state: 'held', renewedAt: '2026-12-02T12:00:12.000Z' });
    expect(lease.valid).toBe(true);
    await lease.close();
  });

  it('leaves every room and registers again when a heartbeat is answered ok: false', async () => {
    const store = new ScriptedStore();
    const order: string[] = [];
    const { lease, losses } = startLease(store, {
      onLost: async () => {
        order.push(`left rooms after ${store.calls.length} calls`);
      },
    });
    await lease.start();
    store.answers.push(() => Promise.resolve({ ok: false }));
    await clock.advance(HEARTBEAT_MS);
    expect(losses).toEqual(['lease-lost']);
    expect(store.calls).toEqual(['register replica-a 8 10000', 'heartbeat replica-a 10000', 'register replica-a 8 10000']);
    expect(order).toEqual(['left rooms after 2 calls']);
    expect(lease.valid).toBe(true);
    await lease.close();
  });

  it('registers again as draining when the replica is draining', async () => {
    const store = new ScriptedStore();
    const { lease } = startLease(store, { draining: () => true });
    await lease.start();
    expect(store.calls).toEqual(['register replica-a 8 10000', 'draining replica-a']);
    await lease.close();
  });

  it('keeps a failed registration for readiness and registers on a later tick', async () => {
    const store = new ScriptedStore();
    store.registerFailures = 1;
    const { lease } = startLease(store);
    await lease.start();
    expect(lease.registered).toBe(false);
    expect(lease.valid).toBe(false);
    expect(() => lease.check()).toThrow(/replica replica-a is not registered: store down/);
    expect(lease.status()).toMatchObject({ state: 'unregistered', renewedAt: null, lastError: 'store down' });

    await clock.advance(HEARTBEAT_MS);
    expect(lease.registered).toBe(true);
    expect(lease.valid).toBe(true);
    expect(() => lease.check()).not.toThrow();
    await lease.close();
  });

  it('stops beating and deregisters on close, once', async () => {
    const store = new ScriptedStore();
    const { lease, losses } = startLease(store);
    await lease.start();
    await lease.close();
    await lease.close();
    expect(clock.pending).toBe(0);
    await clock.advance(LEASE_MS * 3);
    expect(store.calls).toEqual(['register replica-a 8 10000', 'deregister replica-a']);
    expect(losses).toEqual([]);
  });

  it('refuses a lease under 100 ms and a heartbeat above half the lease, naming the setting', () => {
    const store = new ScriptedStore();
    const base = { store, replicaId: 'r', capacity: 1, logger: silentLogger(), draining: () => false, onLost: async () => {}, onRenewed: () => {} };
    for (const options of [
      { ...base, leaseMs: 99 },
      { ...base, leaseMs: 1_000, heartbeatIntervalMs: 501 },
      { ...base, leaseMs: 1_000, heartbeatIntervalMs: 0 },
    ]) {
      let thrown: unknown;
      try {
        new ReplicaLease(options);
      } catch (error) {
        thrown = error;
      }
      expect(isRoomrunnerError(thrown) && thrown.code).toBe('RR_CONFIG_INVALID');
    }
  });
});
