/**
 * Several replicas against a real PostgreSQL server (docs/coordination.md §Tests): separate processes (test/replicas/replica-process.ts)
 * attach the Adder to rooms on the emulator, coordinated through one database schema.
 *
 * What it shows, in order, on one run:
 * 1. 100 rooms started across three replicas (signed room.started POSTed to replica i % 3, as a load
 *    balancer would): every room gets the Adder, and at no moment the emulator recorded did a room have two
 *    live registrations of it.
 * 2. SIGKILL of the replica holding the most rooms: each of its rooms is registered again by another replica
 *    (the takeover time is printed, not asserted), still never two at once.
 * 3. A rolling deploy: a fresh replica starts, then one old replica gets SIGTERM; its rooms move to peers.
 * 4. The database restarted mid-run (`pg_ctl restart -m fast`) while webhooks keep coming (retried on 503 as
 *    the platform does): every delivery answered 200 is in the ledger, every live room is attached once.
 *
 * The database is a PRIVATE PostgreSQL server started for this file (test/faults/private-postgres.ts: initdb
 * on a free port), so restarting it never disturbs the shared cluster other files use in parallel. Without
 * initdb/pg_ctl it falls back to TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) and
 * simulates the restart by killing the replicas' connections (pg_terminate_backend), and says so. A fresh
 * schema per run, dropped after. No server at all: skipped loudly, or FAILS with ROOMRUNNER_REQUIRE_POSTGRES=1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { pythonDumps, signWebhook } from '../../src/webhooks/signatures/index.js';
import { startPrivatePostgres, type PrivatePostgres } from '../faults/private-postgres.js';
import { RegistrationTracker } from './registrations.js';

const SHARED_DATABASE_URL = process.env['TEST_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRED = process.env['ROOMRUNNER_REQUIRE_POSTGRES'] === '1';
const SCHEMA = `rr_replicas_${process.pid}_${randomBytes(4).toString('hex')}`;
const REPO = fileURLToPath(new URL('../..', import.meta.url));

const SECRET = 'replicas-room-secret';
const PROJECT = 'replicas-project';
const WEBHOOK_SECRET = 'replicas-webhook-secret';
const AGENT = 'samples.adder';
const ROOMS = 100;
const MAX_ROOMS = 70;
/** Short lease so the takeover happens within seconds; the default is 10 s. */
const LEASE_MS = 3_000;

let privateServer: PrivatePostgres | undefined;
let privateUnavailable: string | undefined;
try {
  privateServer = await startPrivatePostgres();
} catch (error) {
  privateUnavailable = error instanceof Error ? error.message : String(error);
}
const DATABASE_URL = privateServer?.url ?? SHARED_DATABASE_URL;

function urlFor(applicationName: string): string {
  const url = new URL(DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${SCHEMA}`);
  url.searchParams.set('application_name', applicationName);
  return url.toString();
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function reach(): Promise<string | undefined> {
  try {
    await withAdmin((client) => client.query('SELECT 1'));
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message || String((err as { code?: unknown }).code) : String(err);
  }
}

interface Replica {
  readonly id: string;
  readonly url: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly logFile: string;
}

interface ReplicaStatus {
  replica: { replicaId: string; lease: { state: string }; rooms: Array<{ room: string; epoch: number; phase: string }> };
}

const LOG_DIR = mkdtempSync(join(tmpdir(), 'roomrunner-replicas-'));
const children: ChildProcess[] = [];

/** Starts one replica process and resolves once it listens (it registered in the store before that). */
async function spawnReplica(emulator: Emulator, id: string): Promise<Replica> {
  const logFile = join(LOG_DIR, `${id}.log`);
  const logs: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/replicas/replica-process.ts'], {
    cwd: REPO,
    env: {
      ...process.env,
      DATABASE_URL: urlFor(`${SCHEMA}_${id}`),
      MESHAGENT_API_URL: emulator.url,
      MESHAGENT_SECRET: SECRET,
      MESHAGENT_PROJECT_ID: PROJECT,
      MESHAGENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      MESHAGENT_PORT: '0',
      MESHAGENT_HOST: '127.0.0.1',
      ROOMRUNNER_REPLICA_ID: id,
      ROOMRUNNER_IDENTITY: `rr-${id}`,
      ROOMRUNNER_MAX_ROOMS: String(MAX_ROOMS),
      ROOMRUNNER_LEASE_MS: String(LEASE_MS),
      ROOMRUNNER_DRAIN_TIMEOUT_MS: '5000',
      LOG_LEVEL: process.env['TEST_REPLICA_LOG_LEVEL'] ?? 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      writeFileSync(logFile, logs.join('\n'));
      resolve({ code, signal });
    });
  });
  createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!line.startsWith('{"replica"')) return logs.push(line);
      resolve((JSON.parse(line) as { replica: { url: string } }).replica.url);
    });
    void exited.then(({ code, signal }) => reject(new Error(`replica ${id} exited (${code ?? signal}) before listening:\n${logs.slice(-20).join('\n')}`)));
  });
  return { id, url, child, exited, logFile };
}

async function replicaStatus(replica: Replica): Promise<ReplicaStatus> {
  return (await (await fetch(`${replica.url}/status`)).json()) as ReplicaStatus;
}

interface Delivered {
  readonly event: string;
  readonly room: string;
  readonly body: string;
  /** Answers 503 (or no answer) before the 200. */
  readonly unavailable: number;
}

/** POSTs a signed webhook until it is answered 200, as the platform retries a 503 or a refused connection. */
async function deliver(replica: Replica, event: string, data: Record<string, unknown>): Promise<Delivered> {
  const body = pythonDumps({ event, data });
  let unavailable = 0;
  for (let attempt = 1; attempt <= 300; attempt++) {
    const headers = signWebhook('meshagent', { body, secret: WEBHOOK_SECRET });
    let status: number;
    try {
      const response = await fetch(`${replica.url}/webhook`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
      status = response.status;
      if (status !== 200 && status !== 503) throw new Error(`webhook ${event} ${String(data['room_name'])}: ${status} ${await response.text()}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('webhook ')) throw err;
      status = 0;
    }
    if (status === 200) return { event, room: String(data['room_name']), body, unavailable };
    unavailable += 1;
    await sleep(Math.min(1_000, 50 * attempt));
  }
  throw new Error(`webhook ${event} ${String(data['room_name'])} was never accepted`);
}

/** Restarts the private server, or kills the replicas' connections on the shared one; resolves with what it did. */
async function restartDatabase(): Promise<string> {
  if (privateServer !== undefined) {
    await privateServer.restart();
    return 'pg_ctl restart -m fast of the private server';
  }
  const killed = await withAdmin(async (client) => {
    const { rows } = await client.query<{ killed: boolean }>(
      'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name LIKE $1',
      [`${SCHEMA}_%`],
    );
    return rows.filter((row) => row.killed).length;
  });
  return `no private server (${privateUnavailable ?? 'unknown'}): pg_terminate_backend of ${killed} replica connections on the shared server`;
}

const unreachable = await reach();

if (unreachable !== undefined) {
  const message = `no private PostgreSQL server (${privateUnavailable ?? 'unknown'}) and ${DATABASE_URL} is unreachable (${unreachable})`;
  if (REQUIRED) {
    describe('replicas on PostgreSQL', () => {
      it('reaches the PostgreSQL server (ROOMRUNNER_REQUIRE_POSTGRES=1)', () => {
        throw new Error(`${message}: set TEST_DATABASE_URL to a running server`);
      });
    });
  } else {
    console.warn(`\n*** SKIPPING the replica tests: ${message}. Set TEST_DATABASE_URL, or ROOMRUNNER_REQUIRE_POSTGRES=1 to fail instead. ***\n`);
    describe.skip('replicas on PostgreSQL (no server)', () => {
      it('needs a PostgreSQL server', () => undefined);
    });
  }
} else {
  describe('three replica processes on PostgreSQL and the emulator', () => {
    let emulator: Emulator;
    let tracker: RegistrationTracker;
    const replicas = new Map<string, Replica>();
    const delivered: Delivered[] = [];
    const rooms: string[] = [];
    /** Rooms live after the restart phase. */
    let liveRooms: string[] = [];

    const servedBy = (room: string): string | undefined => {
      const live = tracker.live(room);
      return live.length === 1 ? live[0]?.participantName : undefined;
    };
    const live = (): Replica[] => [...replicas.values()].filter((r) => r.child.exitCode === null && r.child.signalCode === null);

    beforeAll(async () => {
      await withAdmin((client) => client.query(`CREATE SCHEMA ${SCHEMA}`));
      emulator = await startEmulator({ port: 0, secret: SECRET, projectId: PROJECT, idleGraceMs: 3_600_000, roomServer: { eventCapacity: 200_000 } });
      tracker = new RegistrationTracker(emulator.roomServer, AGENT);
      const started = await Promise.all(['a', 'b', 'c'].map((id) => spawnReplica(emulator, id)));
      for (const replica of started) replicas.set(replica.id, replica);
    }, 60_000);

    afterAll(async () => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all([...replicas.values()].map((r) => r.exited));
      tracker?.close();
      await emulator?.close();
      await withAdmin((client) => client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)).catch(() => undefined);
      await privateServer?.destroy();
      console.info(`replica logs: ${LOG_DIR}`);
    }, 60_000);

    it('attaches 100 rooms started across the replicas, each once at every moment', async () => {
      const all = [...replicas.values()];
      for (let i = 0; i < ROOMS; i++) rooms.push(`room-${String(i).padStart(3, '0')}`);
      const t0 = Date.now();
      await Promise.all(
        rooms.map(async (room, i) => {
          const info = emulator.roomServer.startSession(room);
          delivered.push(
            await deliver(all[i % all.length]!, 'room.started', { room_name: room, room_url: emulator.roomUrl(room), session_id: info.sessionId }),
          );
        }),
      );
      await tracker.until(() => rooms.every((room) => servedBy(room) !== undefined));
      const spread = await Promise.all(all.map(async (r) => [r.id, (await replicaStatus(r)).replica.rooms.length] as const));
      console.info(`100 rooms attached in ${Date.now() - t0} ms; rooms per replica: ${spread.map(([id, n]) => `${id}=${n}`).join(' ')}`);
      expect(tracker.violations).toEqual([]);
      expect(spread.reduce((sum, [, n]) => sum + n, 0)).toBe(ROOMS);
      for (const [, n] of spread) expect(n).toBeLessThanOrEqual(MAX_ROOMS);
    }, 60_000);

    it('moves every room of a SIGKILLed replica to the others, never registering an agent twice in a room', async () => {
      const statuses = await Promise.all(live().map(async (r) => ({ replica: r, rooms: (await replicaStatus(r)).replica.rooms.map((x) => x.room) })));
      statuses.sort((x, y) => y.rooms.length - x.rooms.length);
      const victim = statuses[0]!;
      const name = `rr-${victim.replica.id}`;
      for (const room of victim.rooms) expect(servedBy(room)).toBe(name);

      const killedAt = Date.now();
      victim.replica.child.kill('SIGKILL');
      await tracker.until(() => victim.rooms.every((room) => servedBy(room) !== undefined && servedBy(room) !== name));
      const takeoverMs = Math.max(...victim.rooms.map((room) => (tracker.live(room)[0]?.at ?? killedAt) - killedAt));
      console.info(
        `SIGKILL of replica ${victim.replica.id} holding ${victim.rooms.length} rooms: all registered elsewhere after ${takeoverMs} ms (lease ${LEASE_MS} ms)`,
      );
      expect(await victim.replica.exited).toMatchObject({ signal: 'SIGKILL' });
      expect(tracker.violations).toEqual([]);
      expect(rooms.every((room) => servedBy(room) !== undefined)).toBe(true);
    }, 60_000);

    it('hands the rooms of a replica drained by SIGTERM to its peers within seconds (a rolling deploy)', async () => {
      const fresh = await spawnReplica(emulator, 'd');
      replicas.set(fresh.id, fresh);
      const old = live().filter((r) => r.id !== 'd');
      const statuses = await Promise.all(old.map(async (r) => ({ replica: r, rooms: (await replicaStatus(r)).replica.rooms.map((x) => x.room) })));
      statuses.sort((x, y) => y.rooms.length - x.rooms.length);
      const drained = statuses[0]!;
      const name = `rr-${drained.replica.id}`;

      const termAt = Date.now();
      drained.replica.child.kill('SIGTERM');
      await tracker.until(() => drained.rooms.every((room) => servedBy(room) !== undefined && servedBy(room) !== name));
      const movedMs = Math.max(...drained.rooms.map((room) => (tracker.live(room)[0]?.at ?? termAt) - termAt));
      const exit = await drained.replica.exited;
      const toFresh = drained.rooms.filter((room) => servedBy(room) === 'rr-d').length;
      console.info(
        `SIGTERM of replica ${drained.replica.id}: ${drained.rooms.length} rooms moved in ${movedMs} ms (${toFresh} to the new replica d); it exited after ${Date.now() - termAt} ms`,
      );
      expect(exit).toEqual({ code: 0, signal: null });
      expect(tracker.violations).toEqual([]);
      const replicaRows = await withAdmin((client) => client.query<{ id: string }>(`SELECT id FROM ${SCHEMA}.replicas ORDER BY id`));
      expect(replicaRows.rows.map((row) => row.id)).not.toContain(drained.replica.id);
    }, 60_000);

    it('loses no delivery when the database restarts mid-run, and ends with every live room attached once', async () => {
      const targets = live();
      const newRooms = Array.from({ length: 20 }, (_, i) => `late-${String(i).padStart(2, '0')}`);
      const endedRooms = rooms.slice(0, 5);
      const registrationsBefore = tracker.history.length;
      const restarting = restartDatabase();
      // Webhooks keep coming while the server restarts: one every 50 ms, each retried until answered 200.
      const sent = Promise.all(
        newRooms.map(async (room, i) => {
          await sleep(50 * i);
          const info = emulator.roomServer.startSession(room);
          delivered.push(
            await deliver(targets[i % targets.length]!, 'room.started', { room_name: room, room_url: emulator.roomUrl(room), session_id: info.sessionId }),
          );
          const ended = endedRooms[i];
          if (ended !== undefined) {
            const session = emulator.roomServer.listRooms().find((r) => r.name === ended)?.sessionId;
            emulator.roomServer.endSession(ended);
            delivered.push(await deliver(targets[(i + 1) % targets.length]!, 'room.ended', { room_name: ended, session_id: session }));
          }
        }),
      );
      const [how] = await Promise.all([restarting, sent]);
      liveRooms = [...rooms.filter((room) => !endedRooms.includes(room)), ...newRooms];
      const t0 = Date.now();
      await tracker.until(() => liveRooms.every((room) => servedBy(room) !== undefined) && endedRooms.every((room) => tracker.live(room).length === 0));
      const retried = delivered.filter((d) => d.unavailable > 0).length;
      const reattached = new Set(
        tracker.history
          .slice(registrationsBefore)
          .map((r) => r.room)
          .filter((room) => !newRooms.includes(room)),
      ).size;
      console.info(
        `database restart (${how}): ${retried} deliveries answered 503 or refused first; all ${liveRooms.length} live rooms attached ${Date.now() - t0} ms after the last delivery; ${reattached} earlier rooms were registered again meanwhile`,
      );
      expect(tracker.violations).toEqual([]);

      // Every delivery answered 200 is in the ledger, byte for byte.
      const ledger = await withAdmin((client) =>
        client.query<{ event: string; room: string; body: string }>(`SELECT event, room, body FROM ${SCHEMA}.deliveries`),
      );
      const bodies = new Set(ledger.rows.map((row) => row.body));
      expect(delivered.filter((d) => !bodies.has(d.body))).toEqual([]);
      expect(delivered).toHaveLength(ROOMS + newRooms.length + endedRooms.length);
      // The store agrees: live rooms attached by a live replica, ended rooms ended.
      await expect
        .poll(
          async () => {
            const { rows } = await withAdmin((client) =>
              client.query<{ room: string; status: string; owner: string | null }>(`SELECT room, status, owner FROM ${SCHEMA}.rooms`),
            );
            const owners = new Set(live().map((r) => r.id));
            return {
              attached: rows
                .filter((row) => row.status === 'attached' && row.owner !== null && owners.has(row.owner))
                .map((row) => row.room)
                .sort(),
              ended: rows
                .filter((row) => row.status === 'ended')
                .map((row) => row.room)
                .sort(),
            };
          },
          { timeout: 20_000, interval: 250 },
        )
        .toEqual({ attached: [...liveRooms].sort(), ended: [...endedRooms].sort() });
    }, 90_000);

    it.skipIf(privateServer === undefined)(
      'leaves every room when the database stays down longer than the lease (self-fencing), and takes them all back when it returns',
      async () => {
        const server = privateServer!;
        await server.stop('fast');
        const downAt = Date.now();
        // Nothing renews a lease now: each replica leaves its rooms by itself, before any lease runs out.
        await tracker.until(() => liveRooms.every((room) => tracker.live(room).length === 0));
        const leftMs = Date.now() - downAt;
        for (const replica of live()) {
          const ready = await fetch(`${replica.url}/readyz`);
          expect(ready.status).toBe(503);
          expect(((await ready.json()) as { reasons: string[] }).reasons).toEqual(expect.arrayContaining(['store unavailable', 'replica lease unavailable']));
        }
        await server.start();
        const upAt = Date.now();
        await tracker.until(() => liveRooms.every((room) => servedBy(room) !== undefined));
        console.info(
          `database down: every room left ${leftMs} ms after the stop (lease ${LEASE_MS} ms); all ${liveRooms.length} back ${Date.now() - upAt} ms after the restart`,
        );
        expect(tracker.violations).toEqual([]);
        for (const replica of live()) {
          await expect.poll(async () => (await fetch(`${replica.url}/readyz`)).status, { timeout: 20_000, interval: 250 }).toBe(200);
        }
      },
      60_000,
    );
  });
}
