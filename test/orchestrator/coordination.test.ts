/**
 * Coordinated mode in one process. First, several RemoteTaskRunnerServers ("replicas") share one in-process
 * database (MemoryStore peers; PGlite where a test writes SQL) and attach rooms on the emulator over real
 * sockets. The same code runs across processes on PostgreSQL in test/replicas; here each behaviour gets a
 * small, fast case of its own. No timed assertions: every wait is on an emulator event or a store state.
 * Then RoomCoordination alone on fake time (a ManualClock shared by the replicas and their database), for what
 * depends on time: heartbeat claims, the claim spread, the drain's grace, self-fencing and takeover.
 */
import { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { RoomrunnerError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import type { AttachRequest, DetachOptions, RoomAttachments } from '../../src/orchestrator/attachments.js';
import { DEFAULT_CLAIM_SPREAD_MS, RoomCoordination } from '../../src/orchestrator/coordination.js';
import { RemoteTaskRunnerServer, type RemoteTaskRunnerServerOptions } from '../../src/orchestrator/runner-server.js';
import { isCoordinator } from '../../src/store/coordinated-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { PgliteStore } from '../../src/store/pglite-store.js';
import type { Store } from '../../src/store/store.js';
import { sleep } from '../../src/util/clock.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { RegistrationTracker } from '../replicas/registrations.js';
import { ManualClock, settle } from '../support/manual-clock.js';

const SECRET = 'coordination-room-secret';
const PROJECT = 'coordination-project';
const WEBHOOK_SECRET = 'coordination-webhook-secret';
const AGENT = 'samples.adder';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface World {
  emulator: Emulator;
  tracker: RegistrationTracker;
  /** The replicas' shared database: memory store peers of `memory`, or PgliteStores on `pglite` when there is one. */
  memory: MemoryStore;
  pglite: PGlite | undefined;
}

/** One PGlite database for the tests that need SQL (starting one takes seconds). */
let sharedPglite: Promise<PGlite> | undefined;
afterAll(async () => {
  await (await sharedPglite)?.close();
});
function pgliteOnce(): Promise<PGlite> {
  sharedPglite ??= PGlite.create();
  return sharedPglite;
}

async function world(options: { pglite?: boolean } = {}): Promise<World> {
  const emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT, idleGraceMs: 600_000 });
  cleanups.push(() => emulator.close());
  const pglite = options.pglite ? await pgliteOnce() : undefined;
  const tracker = new RegistrationTracker(emulator.roomServer, AGENT);
  cleanups.push(() => tracker.close());
  return { emulator, tracker, memory: new MemoryStore(), pglite };
}

/** A store on the shared database whose calls fail with RR_STORE_UNAVAILABLE while `down` is set. */
async function switchableStore(w: World): Promise<{ store: PgliteStore | MemoryStore; outage: { down: boolean } }> {
  const real = w.pglite ? await PgliteStore.open({ pglite: w.pglite }) : new MemoryStore({ peerOf: w.memory });
  const outage = { down: false };
  const store = new Proxy(real, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (outage.down && prop !== 'close') return Promise.reject(new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the store is down (test)'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, outage };
}

async function replica(w: World, id: string, extra: Partial<RemoteTaskRunnerServerOptions> & { apiUrl?: string } = {}) {
  const { store, outage } = await switchableStore(w);
  const config = loadConfig(
    {
      secret: SECRET,
      projectId: PROJECT,
      apiUrl: w.emulator.url,
      webhookSecrets: [WEBHOOK_SECRET],
      port: 0,
      host: '127.0.0.1',
      logLevel: (process.env['TEST_LOG_LEVEL'] as 'silent' | undefined) ?? 'silent',
      drainTimeoutMs: 2_000,
      identity: `rr-${id}`,
    },
    {},
  );
  const server = new RemoteTaskRunnerServer({
    agents: [adder],
    config,
    store,
    replicaId: id,
    leaseMs: 1_000,
    heartbeatIntervalMs: 150,
    reconcileIntervalMs: 0,
    defaultMetrics: false,
    retry: { retries: 1, minTimeoutMs: 20, maxTimeoutMs: 100, attemptTimeoutMs: 5_000 },
    connection: { backoff: { initialMs: 20 } },
    ...extra,
  });
  const address = await server.start();
  cleanups.push(() => server.close());
  return { server, address, store, outage };
}

function postSigned(base: string, event: string, data: Record<string, unknown>): Promise<Response> {
  const body = pythonDumps({ event, data });
  const headers = signWebhook('meshagent', { body, secret: WEBHOOK_SECRET });
  return fetch(`${base}/webhook`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
}

async function startRoom(w: World, base: string, room: string, extra: Record<string, unknown> = {}): Promise<void> {
  const info = w.emulator.roomServer.startSession(room);
  const response = await postSigned(base, 'room.started', { room_name: room, room_url: w.emulator.roomUrl(room), session_id: info.sessionId, ...extra });
  expect(response.status).toBe(200);
}

type Status = { replica: { replicaId: string; lease: { state: string }; rooms: Array<{ room: string; epoch: number; phase: string }> } | null };

async function status(base: string): Promise<Status> {
  return (await (await fetch(`${base}/status`)).json()) as Status;
}

const servedBy = (w: World, room: string): string | undefined => {
  const live = w.tracker.live(room);
  return live.length === 1 ? live[0]?.participantName : undefined;
};

describe('coordination', () => {
  it('runs on every store roomrunner ships, and refuses a store with only the ledger', async () => {
    const w = await world({ pglite: true });
    expect(isCoordinator(new MemoryStore())).toBe(true);
    expect(isCoordinator(await PgliteStore.open({ pglite: w.pglite as PGlite }))).toBe(true);
    // A store of the user's with the ledger but not the coordinator methods.
    const ledgerOnly = new Proxy(new MemoryStore(), { get: (target, name) => (name === 'claimRooms' ? undefined : Reflect.get(target, name)) });
    expect(isCoordinator(ledgerOnly)).toBe(false);
    const config = loadConfig({ secret: SECRET, projectId: PROJECT, apiUrl: w.emulator.url, webhookSecrets: [WEBHOOK_SECRET], logLevel: 'silent' }, {});
    expect(() => new RemoteTaskRunnerServer({ agents: [adder], store: ledgerOnly as Store, config })).toThrow(/needs a store that coordinates rooms/);
  });

  it("attaches every room once, within each replica's cap, and shows owned rooms with their epochs in /status", async () => {
    const w = await world();
    const a = await replica(w, 'a', { maxRooms: 2 });
    await replica(w, 'b', { maxRooms: 3 }); // the peer that takes what a's cap leaves
    const rooms = ['cap-1', 'cap-2', 'cap-3', 'cap-4', 'cap-5'];
    for (const room of rooms) await startRoom(w, a.address.url, room);
    await w.tracker.until(() => rooms.every((room) => servedBy(w, room) !== undefined));
    expect(w.tracker.violations).toEqual([]);
    const names = rooms.map((room) => servedBy(w, room));
    expect(names.filter((name) => name === 'rr-a')).toHaveLength(2);
    expect(names.filter((name) => name === 'rr-b')).toHaveLength(3);

    const statusA = await status(a.address.url);
    expect(statusA.replica).toMatchObject({ replicaId: 'a', lease: { state: 'held' } });
    expect(statusA.replica?.rooms).toHaveLength(2);
    for (const owned of statusA.replica?.rooms ?? []) {
      const row = await a.store.roomState(owned.room);
      expect(row).toMatchObject({ owner: 'a', epoch: owned.epoch });
    }
    await expect.poll(async () => (await a.store.activeRooms()).map((row) => row.status), { timeout: 10_000 }).toEqual(rooms.map(() => 'attached'));
    expect((await fetch(`${a.address.url}/readyz`)).status).toBe(200);
  });

  it('hands its rooms to a peer on drain, releasing each as soon as its agents are unregistered', async () => {
    const w = await world();
    const a = await replica(w, 'a', { maxRooms: 3 });
    const rooms = ['drain-1', 'drain-2', 'drain-3'];
    for (const room of rooms) await startRoom(w, a.address.url, room);
    await w.tracker.until(() => rooms.every((room) => servedBy(w, room) === 'rr-a'));
    const b = await replica(w, 'b', { maxRooms: 3 });

    await a.server.close();
    await w.tracker.until(() => rooms.every((room) => servedBy(w, room) === 'rr-b'));
    expect(w.tracker.violations).toEqual([]);
    expect((await b.store.listReplicas()).map((r) => r.id)).toEqual(['b']);
    const metrics = await (await fetch(`${b.address.url}/metrics`)).text();
    expect(metrics).toMatch(/roomrunner_room_claims_total 3/);
  });

  it('leaves a room at once when another replica becomes its owner (fencing)', async () => {
    const w = await world({ pglite: true });
    const pglite = w.pglite as PGlite;
    const a = await replica(w, 'a');
    await startRoom(w, a.address.url, 'fenced');
    await w.tracker.until(() => servedBy(w, 'fenced') === 'rr-a');
    // An intruder takes the room the way a claim would (new owner, new epoch) and says so.
    await pglite.query(`INSERT INTO replicas (id, capacity, lease_expires_at) VALUES ('intruder', 1, now() + interval '1 hour')`);
    await pglite.query(`UPDATE rooms SET owner = 'intruder', epoch = nextval('room_epoch_seq') WHERE room = 'fenced'`);
    await pglite.query(`SELECT pg_notify('roomrunner_rooms', 'fenced')`);

    await w.tracker.until(() => w.tracker.live('fenced').length === 0);
    expect((await status(a.address.url)).replica?.rooms).toEqual([]);
    expect(a.server.attachments.has('fenced')).toBe(false);
  });

  it("makes the owner leave when another replica receives room.ended, and ignores that session's late start on every replica", async () => {
    const w = await world();
    const a = await replica(w, 'a');
    const b = await replica(w, 'b');
    const info = w.emulator.roomServer.startSession('ending');
    await postSigned(a.address.url, 'room.started', { room_name: 'ending', session_id: info.sessionId });
    await w.tracker.until(() => servedBy(w, 'ending') !== undefined);
    // room.ended goes to the replica that does not own the room.
    const other = servedBy(w, 'ending') === 'rr-a' ? b : a;

    expect((await postSigned(other.address.url, 'room.ended', { room_name: 'ending', session_id: info.sessionId })).status).toBe(200);
    await w.tracker.until(() => w.tracker.live('ending').length === 0);
    // The late start, on either replica, finds the session's tombstone.
    for (const server of [a, b]) {
      expect((await postSigned(server.address.url, 'room.started', { room_name: 'ending', session_id: info.sessionId, late: true })).status).toBe(200);
      await server.server.idle();
    }
    expect(await a.store.roomState('ending')).toMatchObject({ status: 'ended', owner: null, sessionId: info.sessionId });
    // A new session of the same room starts at once.
    await postSigned(other.address.url, 'room.started', { room_name: 'ending', session_id: 'next-session' });
    await w.tracker.until(() => servedBy(w, 'ending') !== undefined);
    expect(w.tracker.violations).toEqual([]);
  });

  it('with the store down: readiness false and webhooks 503, rooms left once the lease cannot be renewed, all back when the store is', async () => {
    const w = await world();
    const a = await replica(w, 'a');
    await startRoom(w, a.address.url, 'outage');
    const first = w.tracker.history.length;
    await w.tracker.until(() => servedBy(w, 'outage') === 'rr-a');
    expect((await fetch(`${a.address.url}/readyz`)).status).toBe(200);

    a.outage.down = true;
    const notReady = await fetch(`${a.address.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { reasons: string[] }).reasons).toContain('store unavailable');
    w.emulator.roomServer.startSession('during-outage');
    expect((await postSigned(a.address.url, 'room.started', { room_name: 'during-outage' })).status).toBe(503);
    // Self-fencing: no renewal within the lease, so the replica leaves the room by itself.
    await w.tracker.until(() => w.tracker.live('outage').length === 0);
    expect((await status(a.address.url)).replica?.lease.state).toBe('self-fenced');

    a.outage.down = false;
    expect((await postSigned(a.address.url, 'room.started', { room_name: 'during-outage' })).status).toBe(200);
    await w.tracker.until(() => servedBy(w, 'outage') === 'rr-a' && servedBy(w, 'during-outage') === 'rr-a');
    expect(w.tracker.history.length).toBeGreaterThan(first + 1);
    await expect.poll(async () => (await fetch(`${a.address.url}/readyz`)).status, { timeout: 10_000 }).toBe(200);
    expect(w.tracker.violations).toEqual([]);
  });

  it('reconciles with the platform: a room the webhooks missed becomes pending and is attached, a room the platform lost is ended', async () => {
    const w = await world();
    const a = await replica(w, 'a');
    w.emulator.roomServer.startSession('missed');
    await a.store.markRoomStarted('vanished', new Date(Date.now() - 60_000), 0);
    await a.server.reconcile();
    await w.tracker.until(() => servedBy(w, 'missed') === 'rr-a');
    expect(await a.store.roomState('vanished')).toMatchObject({ status: 'ended', owner: null });
  });

  it('joins again a room that dropped its connection while this replica still owns it', async () => {
    const w = await world();
    const a = await replica(w, 'a');
    await startRoom(w, a.address.url, 'dropped');
    await w.tracker.until(() => servedBy(w, 'dropped') === 'rr-a');
    const first = w.tracker.live('dropped')[0]?.participantId ?? '';
    w.emulator.roomServer.closeParticipant('dropped', first, 1000, 'removed');
    await w.tracker.until(() => w.tracker.live('dropped').some((r) => r.participantId !== first));
    expect(servedBy(w, 'dropped')).toBe('rr-a');
    expect(await a.store.roomState('dropped')).toMatchObject({ owner: 'a', lastError: null });
  });

  it('releases a room whose attach keeps failing here, so that a peer attaches it', async () => {
    const w = await world();
    // Nothing listens on port 9 of 127.0.0.1: every connection attempt is refused until the attempt times out.
    const broken = await replica(w, 'broken', { apiUrl: 'http://127.0.0.1:9', retry: { retries: 0, attemptTimeoutMs: 300 } });
    w.emulator.roomServer.startSession('stubborn');
    await postSigned(broken.address.url, 'room.started', { room_name: 'stubborn' });
    await expect.poll(async () => (await broken.store.roomState('stubborn'))?.attempts ?? 0, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    expect((await broken.store.roomState('stubborn'))?.lastError).toBeTruthy();

    await replica(w, 'healthy');
    await w.tracker.until(() => servedBy(w, 'stubborn') === 'rr-healthy');
    await expect.poll(() => broken.store.roomState('stubborn'), { timeout: 10_000 }).toMatchObject({ owner: 'healthy', status: 'attached' });
  });
});

// --- on fake time: RoomCoordination over one in-process database, with the rooms' side scripted ---

/**
 * The part of RoomAttachments the coordination uses, with no sockets: an attach succeeds at once; a detach
 * unregisters at once (`onUnregistered`) and then lets calls in flight run for the whole grace, on the clock.
 */
class ScriptedAttachments {
  readonly maxRooms: number;
  readonly #clock: ManualClock;
  readonly #rooms = new Map<string, 'attached' | 'detaching'>();

  constructor(clock: ManualClock, maxRooms: number) {
    this.#clock = clock;
    this.maxRooms = maxRooms;
  }

  attach(request: AttachRequest): 'attaching' | 'duplicate' | 'full' {
    if (this.#rooms.has(request.room)) return 'duplicate';
    if (this.#rooms.size >= this.maxRooms) return 'full';
    this.#rooms.set(request.room, 'attached');
    return 'attaching';
  }

  async settled(): Promise<void> {}

  state(room: string): 'attached' | 'detaching' | undefined {
    return this.#rooms.get(room);
  }

  lastError(): null {
    return null;
  }

  failedFinally(): boolean {
    return false;
  }

  async detach(room: string, _reason: string, graceMs: number, options: DetachOptions = {}): Promise<boolean> {
    if (!this.#rooms.has(room)) return false;
    this.#rooms.set(room, 'detaching');
    await options.onUnregistered?.();
    if (graceMs > 0) await sleep(this.#clock, graceMs);
    this.#rooms.delete(room);
    return true;
  }

  rooms(): string[] {
    return [...this.#rooms.keys()];
  }

  get size(): number {
    return this.#rooms.size;
  }

  countRooms(except: (room: string) => boolean): number {
    return this.rooms().filter((room) => !except(room)).length;
  }
}

const LEASE_MS = 10_000;
const HEARTBEAT_MS = 2_500;
/** leaseMs − min(heartbeat / 2, lease / 4) (docs/coordination.md §self-fencing). */
const FENCE_AFTER_MS = 8_750;

interface FakeReplica {
  readonly coordination: RoomCoordination;
  readonly attachments: ScriptedAttachments;
  readonly outage: { down: boolean };
  /** How many times the replica called each store method. */
  readonly calls: Map<string, number>;
}

/**
 * Replicas sharing one memory database whose clock, like theirs, is `clock`; `skew.ms` puts the database's clock
 * ahead of theirs (a replica's lease runs out in the database while the replica still counts it valid).
 */
function fakeTimeWorld(clock: ManualClock) {
  const skew = { ms: 0 };
  const root = new MemoryStore({ now: () => clock.now() + skew.ms });
  const started = (room: string) => root.markRoomStarted(room, new Date(clock.now()), 0);
  const replica = async (
    id: string,
    options: {
      maxRooms?: number;
      notifications?: boolean;
      /** Stands between the replica and the store's markAttached: `write` makes the real call. */
      markAttached?: (write: () => Promise<boolean>) => Promise<boolean>;
    } = {},
  ): Promise<FakeReplica> => {
    const peer = new MemoryStore({ peerOf: root });
    const outage = { down: false };
    const calls = new Map<string, number>();
    const store = new Proxy(peer, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        // A replica that hears no notifications (they were lost): only its heartbeat makes it sync.
        if (prop === 'onRoomsChanged' && options.notifications === false) return async () => async () => undefined;
        return (...args: unknown[]) => {
          calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
          if (outage.down) return Promise.reject(new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the store is down (test)'));
          const call = () => (value as (...a: unknown[]) => unknown).apply(target, args);
          if (prop === 'markAttached' && options.markAttached) return options.markAttached(call as () => Promise<boolean>);
          return call();
        };
      },
    });
    const attachments = new ScriptedAttachments(clock, options.maxRooms ?? 4);
    const coordination = new RoomCoordination({
      store,
      attachments: attachments as unknown as RoomAttachments,
      replicaId: id,
      leaseMs: LEASE_MS,
      heartbeatIntervalMs: HEARTBEAT_MS,
      roomUrl: (room) => `ws://rooms.invalid/${room}`,
      logger: silentLogger(),
      clock,
    });
    await coordination.start();
    await clock.advance(0);
    cleanups.push(async () => {
      outage.down = false;
      await coordination.close();
    });
    return { coordination, attachments, outage, calls };
  };
  return { root, started, replica, skew };
}

describe('coordination on fake time', () => {
  it('claims a room it heard nothing about on its next heartbeat tick', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const deaf = await w.replica('deaf', { notifications: false });
    await w.started('quiet');
    await clock.advance(HEARTBEAT_MS - 1);
    expect(deaf.coordination.holds('quiet')).toBe(false);
    expect(await w.root.roomState('quiet')).toMatchObject({ owner: null, status: 'pending' });

    await clock.advance(1);
    expect(deaf.coordination.holds('quiet')).toBe(true);
    expect(await w.root.roomState('quiet')).toMatchObject({ owner: 'deaf', status: 'attached' });
  });

  it("between heartbeats, a room's start costs one claim, and the notification that follows reads only that room", async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const one = await w.replica('one', { maxRooms: 50 });
    const before = { claims: one.calls.get('claimRooms') ?? 0, fullReads: one.calls.get('ownedRooms') ?? 0 };
    // A storm, as room.started runs it: the room is made pending and the replica woken, which claims it; the
    // store's notification of the start arrives once the room is held here.
    for (let i = 0; i < 40; i++) {
      await w.started(`storm-${i}`);
      one.coordination.wake();
      await clock.advance(0);
    }
    expect(one.coordination.size).toBe(40);
    expect(one.calls.get('claimRooms')).toBe(before.claims + 40);
    expect(one.calls.get('roomState')).toBe(40);
    expect(one.calls.get('ownedRooms') ?? 0).toBe(before.fullReads);

    await clock.advance(HEARTBEAT_MS);
    expect(one.calls.get('ownedRooms')).toBe(before.fullReads + 1);
  });

  it('leaves the rooms another replica took as soon as it is told, before its own heartbeat', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const slow = await w.replica('slow');
    await w.started('lost');
    await w.started('stays');
    await clock.advance(0);
    expect(slow.coordination.holds('lost') && slow.coordination.holds('stays')).toBe(true);
    // On the database's clock the lease of `slow` ran out (it does not know yet): a new replica claims one of its
    // rooms, the oldest first ('lost', by name among rooms started together).
    w.skew.ms = LEASE_MS;
    const taker = await w.replica('taker', { maxRooms: 1 });
    await clock.advance(0);
    expect(await w.root.roomState('lost')).toMatchObject({ owner: 'taker' });
    expect(taker.coordination.holds('lost')).toBe(true);

    // Well before its next heartbeat, the notification that named the room has made `slow` leave it, and only it.
    expect(slow.coordination.holds('lost')).toBe(false);
    expect(slow.attachments.rooms()).toEqual(['stays']);
  });

  it('claims only the slots that rooms attached here outside coordination (room.call) leave under the cap', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const one = await w.replica('one', { maxRooms: 4 });
    for (const room of ['call-1', 'call-2', 'call-3']) one.attachments.attach({ room, url: `ws://rooms.invalid/${room}`, trigger: 'room.call' });
    for (const room of ['started-1', 'started-2', 'started-3']) await w.started(room);
    await clock.advance(0);
    expect(one.coordination.size).toBe(1);
    // Never claimed, rather than claimed and given back when the attach found no slot.
    expect(one.calls.get('releaseRooms')).toBeUndefined();
    expect((await w.root.activeRooms()).filter((row) => row.owner === null).map((row) => row.room)).toEqual(['started-2', 'started-3']);
  });

  it('records an attachment with one markAttached at a time: checks while the write is in flight do not write again', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const waiting: Array<() => void> = [];
    let writes = 0;
    const slow = await w.replica('slow', {
      markAttached: async (write) => {
        writes += 1;
        await new Promise<void>((resolve) => waiting.push(resolve));
        return write();
      },
    });
    await w.started('room');
    await clock.advance(0);
    expect(slow.coordination.holds('room')).toBe(true);
    expect(writes).toBe(1);
    // Two heartbeats check ownership and read the room as still pending in the store, the write being in flight.
    await clock.advance(2 * HEARTBEAT_MS);
    expect(await w.root.roomState('room')).toMatchObject({ owner: 'slow', status: 'pending' });
    expect(writes).toBe(1);

    waiting.shift()?.();
    await clock.advance(0);
    expect(await w.root.roomState('room')).toMatchObject({ owner: 'slow', status: 'attached' });
    await clock.advance(HEARTBEAT_MS);
    expect(writes).toBe(1);
  });

  it('issues markAttached again on the next heartbeat when the write was lost', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    let writes = 0;
    const unlucky = await w.replica('unlucky', {
      markAttached: (write) => {
        writes += 1;
        return writes === 1 ? Promise.reject(new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the write was lost (test)')) : write();
      },
    });
    await w.started('room');
    await clock.advance(0);
    expect(unlucky.coordination.holds('room')).toBe(true);
    expect(await w.root.roomState('room')).toMatchObject({ owner: 'unlucky', status: 'pending' });

    await clock.advance(HEARTBEAT_MS);
    expect(writes).toBe(2);
    expect(await w.root.roomState('room')).toMatchObject({ owner: 'unlucky', status: 'attached' });
  });

  it('waits in proportion to its load before claiming, so that a less loaded peer picks first', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const busy = await w.replica('busy', { maxRooms: 2 });
    await w.started('first');
    await clock.advance(0);
    expect(busy.coordination.holds('first')).toBe(true); // alone: no wait, whatever the load
    // A live peer that claims nothing, registered by hand: `busy` is no longer alone from its next heartbeat.
    await w.root.registerReplica('idle', 0, { leaseMs: 3_600_000 });
    await clock.advance(HEARTBEAT_MS);

    // Holding 1 room of 2, it waits DEFAULT_CLAIM_SPREAD_MS × 1/2 before it claims.
    await w.started('second');
    await clock.advance(DEFAULT_CLAIM_SPREAD_MS / 2 - 1);
    expect(await w.root.roomState('second')).toMatchObject({ owner: null });
    await clock.advance(1);
    expect(await w.root.roomState('second')).toMatchObject({ owner: 'busy' });

    // An empty peer claims at once: a room that starts now is its, and the busy replica's wait finds nothing left.
    await busy.coordination.roomEnded('second', 'ended (test)');
    await w.root.markRoomEnded('second', new Date(clock.now()));
    const empty = await w.replica('empty', { maxRooms: 2 });
    await w.started('third');
    await clock.advance(0);
    expect(await w.root.roomState('third')).toMatchObject({ owner: 'empty' });
    await clock.advance(DEFAULT_CLAIM_SPREAD_MS);
    expect(busy.coordination.holds('third')).toBe(false);
    expect(empty.coordination.holds('third')).toBe(true);
  });

  it('stops waiting its turn to claim when it closes', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const busy = await w.replica('busy', { maxRooms: 1 });
    await w.root.registerReplica('idle', 0, { leaseMs: 3_600_000 });
    await w.started('held');
    await clock.advance(HEARTBEAT_MS);
    expect(busy.coordination.holds('held')).toBe(true);
    // Full, so its claim waits the whole spread before it would ask the store.
    await w.started('next');
    await clock.advance(1);
    let closed = false;
    const closing = busy.coordination.close().then(() => (closed = true));
    await settle();
    expect(closed).toBe(true);
    await closing;
    expect(clock.pending).toBe(0);
  });

  it('on drain, releases each room to a peer as soon as its agents are unregistered, and is done when the grace runs out', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const leaving = await w.replica('leaving');
    const rooms = ['hand-1', 'hand-2', 'hand-3'];
    for (const room of rooms) await w.started(room);
    await clock.advance(0);
    expect(rooms.every((room) => leaving.coordination.holds(room))).toBe(true);
    const peer = await w.replica('peer');

    let done = false;
    void leaving.coordination.handOff(5_000).then(() => (done = true));
    await clock.advance(0);
    // No time has passed: the peer owns and holds every room while the calls in flight still have their grace.
    for (const room of rooms) expect(await w.root.roomState(room)).toMatchObject({ owner: 'peer', status: 'attached' });
    expect(rooms.every((room) => peer.coordination.holds(room))).toBe(true);
    expect(leaving.attachments.rooms()).toEqual(rooms);

    await clock.advance(4_999);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
    expect(leaving.attachments.rooms()).toEqual([]);
  });

  it('leaves its rooms on its own clock before its lease ends when it cannot reach the store, and a peer takes them within a lease and a heartbeat', async () => {
    const clock = new ManualClock();
    const w = fakeTimeWorld(clock);
    const cut = await w.replica('cut');
    const peer = await w.replica('peer');
    await w.started('orphan');
    await clock.advance(0);
    const owner = (await w.root.roomState('orphan'))?.owner;
    const [from, to] = owner === 'cut' ? [cut, peer] : [peer, cut];
    const [fromId, toId] = owner === 'cut' ? ['cut', 'peer'] : ['peer', 'cut'];
    // The owner's heartbeats succeed up to now (a tick), then every store call fails.
    await clock.advance(HEARTBEAT_MS);
    from.outage.down = true;

    await clock.advance(FENCE_AFTER_MS - 1);
    expect(from.coordination.holds('orphan')).toBe(true);
    await clock.advance(1);
    expect(from.coordination.holds('orphan')).toBe(false);
    expect(from.attachments.rooms()).toEqual([]);
    expect(from.coordination.status().lease.state).toBe('self-fenced');
    // Its lease has not run out on the store's clock yet: no peer may take the room so far.
    expect(await w.root.roomState('orphan')).toMatchObject({ owner: fromId });
    expect(to.coordination.holds('orphan')).toBe(false);

    await clock.advance(LEASE_MS + HEARTBEAT_MS - FENCE_AFTER_MS);
    expect(await w.root.roomState('orphan')).toMatchObject({ owner: toId, status: 'attached' });
    expect(to.coordination.holds('orphan')).toBe(true);
  });
});
