/**
 * Failover: three replicas (test/replicas/replica-process.ts, the documented replica entry) on one
 * PostgreSQL schema hold 1,000 rooms; the one holding the most is SIGKILLed; how long until every one of its
 * rooms has the Adder registered by another replica, and whether any room ever had two live registrations.
 * Baseline, same run: how long the same three replicas took to attach the 1,000 rooms in the first place
 * (room.started POSTed round-robin, 1 ms apart, → last registration). Production lease (10 s) and heartbeat.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { BENCH_DIR, PROFILE_DIR, startChild } from './lib/child.js';
import { clearProfiles, newestProfile, profileMarkdown, summarizeProfile } from './lib/profile.js';
import type { RoomSeen } from './lib/emulator-process.js';
import { createSchema, postgresUnreachable, type BenchSchema } from './lib/postgres.js';
import { percentile, sleep, waitUntil } from './lib/stats.js';
import type { BenchOptions, BenchResult, Figure } from './lib/types.js';
import { pythonDumps, signWebhook } from '../src/webhooks/signatures/index.js';

const REPO = join(BENCH_DIR, '..');
const REPLICA_ENTRY = 'test/replicas/replica-process.ts';
const SECRET = 'bench-failover-room-secret';
const PROJECT = 'bench-failover-project';
const WEBHOOK_SECRET = 'bench-failover-webhook-secret';
const ROOMS = 1_000;
const REPLICAS = 3;
/** Per replica: two survivors can hold every room. */
const MAX_ROOMS = 500;
const LEASE_MS = 10_000;
const SPREAD_MS = 1_000;
const WAIT_MS = 60_000;
const FAILOVER_TARGET_MS = 15_000;

interface Replica {
  readonly id: string;
  readonly url: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

async function spawnReplica(id: string, databaseUrl: string, apiUrl: string, profile: boolean): Promise<Replica> {
  const profileArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, `failover-${id}`)}`] : [];
  const child = spawn(process.execPath, [...profileArgs, '--import', 'tsx', REPLICA_ENTRY], {
    cwd: REPO,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      MESHAGENT_API_URL: apiUrl,
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
      LOG_LEVEL: 'info',
    },
    // Logs go to stderr and are discarded, as a log shipper would take them; stdout carries the ready line.
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${id} did not start within 30 s`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{"replica"')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { replica: { url: string } }).replica.url);
    });
    void exited.then(() => reject(new Error(`replica ${id} exited while starting`)));
  });
  return { id, url, child, exited };
}

async function stopReplica(replica: Replica, signal: NodeJS.Signals, waitMs: number): Promise<void> {
  if (replica.child.exitCode !== null || replica.child.signalCode !== null || replica.child.pid === undefined) return;
  process.kill(replica.child.pid, signal);
  const timer = setTimeout(() => {
    if (replica.child.exitCode === null && replica.child.signalCode === null && replica.child.pid !== undefined) process.kill(replica.child.pid, 'SIGKILL');
  }, waitMs);
  await replica.exited;
  clearTimeout(timer);
}

async function postStarts(replicas: readonly Replica[], names: readonly string[], wsUrl: string): Promise<{ t0: number; failed: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  let failed = 0;
  const sends: Array<Promise<void>> = [];
  const t0 = Date.now();
  for (let i = 0; i < names.length; i++) {
    const due = t0 + (SPREAD_MS * i) / names.length;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    const room = names[i] as string;
    const target = new URL(`${(replicas[i % replicas.length] as Replica).url}/webhook`);
    const body = pythonDumps({ event: 'room.started', data: { room_name: room, room_url: `${wsUrl}/rooms/${room}` } });
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...signWebhook('meshagent', { body, secret: WEBHOOK_SECRET }),
    };
    sends.push(
      new Promise<void>((resolve) => {
        const req = request({ agent, method: 'POST', host: target.hostname, port: target.port, path: target.pathname, headers }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) failed += 1;
            resolve();
          });
        });
        req.on('error', () => {
          failed += 1;
          resolve();
        });
        req.end(body);
      }),
    );
  }
  await Promise.all(sends);
  agent.destroy();
  return { t0, failed };
}

async function owners(schema: BenchSchema): Promise<Map<string, string[]>> {
  const client = new pg.Client({ connectionString: schema.url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ room: string; owner: string }>(`SELECT room, owner FROM rooms WHERE status = 'attached' AND owner IS NOT NULL`);
    const byOwner = new Map<string, string[]>();
    for (const { room, owner } of rows) byOwner.set(owner, [...(byOwner.get(owner) ?? []), room]);
    return byOwner;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function notRun(started: number, reason: string): BenchResult {
  return {
    id: 'failover',
    title: 'Failover',
    date: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    status: 'not-run',
    figures: [],
    notes: [reason],
  };
}

export async function runFailover(options: BenchOptions): Promise<BenchResult> {
  const started = Date.now();
  if (!existsSync(join(REPO, REPLICA_ENTRY))) return notRun(started, `Not run: the replica entry ${REPLICA_ENTRY} does not exist yet.`);
  const pgDown = await postgresUnreachable();
  if (pgDown !== undefined) return notRun(started, `Not run: PostgreSQL is unreachable (${pgDown}).`);

  const schema = await createSchema('failover');
  const emulator = await startChild('emulator-process.ts', { name: 'failover-emulator' });
  const replicas: Replica[] = [];
  try {
    const { url: apiUrl, wsUrl } = await emulator.call<{ url: string; wsUrl: string }>('start', { secret: SECRET, projectId: PROJECT, eventCapacity: 100_000 });
    if (options.profile) for (let i = 1; i <= REPLICAS; i++) clearProfiles(join(PROFILE_DIR, `failover-r${i}`));
    for (let i = 1; i <= REPLICAS; i++) replicas.push(await spawnReplica(`r${i}`, schema.url, apiUrl, options.profile));
    const names = Array.from({ length: ROOMS }, (_, i) => `failover-${i}`);
    await emulator.call('startSessions', { names });

    // Baseline: the first attach of every room, through the same three replicas.
    const { t0, failed } = await postStarts(replicas, names, wsUrl);
    await waitUntil(async () => (await emulator.call<number>('registeredCount', { prefix: 'failover-' })) >= ROOMS, WAIT_MS, 100);
    const first = await emulator.call<Record<string, RoomSeen>>('seen', { prefix: 'failover-' });
    const firstAt = names.map((r) => first[r]?.registeredAt[0]).filter((v): v is number => v !== undefined);
    const initialMs = Math.max(...firstAt.map((at) => at - t0));
    options.log(`  initial attach: ${firstAt.length}/${ROOMS} rooms in ${initialMs} ms (${failed} webhooks not answered 200)`);
    // Let every attachment reach the store (markAttached) before reading owners.
    await waitUntil(async () => [...(await owners(schema)).values()].reduce((n, rooms) => n + rooms.length, 0) >= ROOMS, 20_000, 200);
    const byOwner = await owners(schema);
    const spread = [...byOwner.entries()].map(([owner, rooms]) => `${owner}: ${rooms.length}`).join(', ');
    const [victimId, victimRooms] = [...byOwner.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? ['', []];
    const victim = replicas.find((r) => r.id === victimId);
    if (!victim || victimRooms.length === 0) throw new Error(`no replica owns attached rooms (owners: ${spread || 'none'})`);
    options.log(`  owners: ${spread}; killing ${victimId} (${victimRooms.length} rooms)`);

    await sleep(1_000);
    const tKill = Date.now();
    await stopReplica(victim, 'SIGKILL', 5_000);
    const takenOver = async (): Promise<Record<string, RoomSeen>> => emulator.call<Record<string, RoomSeen>>('seen', { prefix: 'failover-' });
    await waitUntil(
      async () => {
        const seen = await takenOver();
        return victimRooms.every((room) => (seen[room]?.registeredAt ?? []).some((at) => at >= tKill));
      },
      WAIT_MS,
      200,
    );
    const after = await takenOver();
    const takeover = victimRooms
      .map((room) => (after[room]?.registeredAt ?? []).find((at) => at >= tKill))
      .map((at) => (at === undefined ? Number.NaN : at - tKill));
    const moved = takeover.filter(Number.isFinite);
    const lost = takeover.length - moved.length;
    const failoverMs = lost > 0 ? Number.POSITIVE_INFINITY : Math.max(...moved);
    const doubles = names.reduce((n, room) => n + (after[room]?.overlaps ?? 0), 0);
    options.log(
      `  failover: ${moved.length}/${victimRooms.length} rooms re-registered, last after ${failoverMs} ms (p50 ${percentile(moved, 50)} ms); ${doubles} double registrations`,
    );
    const deciles = [0, 10, 25, 50, 75, 90, 100].map((p) => `p${p} ${p === 0 ? Math.min(...moved) : percentile(moved, p)}`).join(', ');
    const newOwners = [...(await owners(schema)).entries()]
      .map(([owner, rooms]) => `${owner}: ${rooms.filter((r) => victimRooms.includes(r)).length}`)
      .join(', ');
    options.log(`  takeover times (ms after the kill): ${deciles}; the victim's rooms now at ${newOwners}`);

    const figures: Figure[] = [
      {
        // The name is the same in every run (the summary lines runs up by name); the count goes in the note.
        name: 'failover: the rooms of a SIGKILLed replica attached elsewhere',
        value: failoverMs,
        unit: 'ms',
        baseline: initialMs,
        baselineLabel: `first attach of all ${ROOMS} rooms`,
        target: { kind: 'below', max: FAILOVER_TARGET_MS },
        note: `${victimRooms.length} rooms moved; takeover times after the kill: ${deciles}; lease ${LEASE_MS} ms; owners before the kill: ${spread}; the victim's rooms went to ${newOwners}`,
      },
      { name: 'double registrations (whole run)', value: doubles, unit: 'rooms', baseline: null, baselineLabel: '', target: { kind: 'at-most', max: 0 } },
      { name: 'rooms not taken over within 60 s', value: lost, unit: 'rooms', baseline: null, baselineLabel: '', target: { kind: 'at-most', max: 0 } },
    ];
    const notes = [
      `${REPLICAS} replica processes (\`${REPLICA_ENTRY}\`, logs at \`info\` discarded) on one fresh PostgreSQL schema, maxRooms ${MAX_ROOMS} each, lease ` +
        `${LEASE_MS} ms with the default heartbeat, reconciliation on (every 30 s). ${ROOMS} sessions started on the emulator, then each \`room.started\` ` +
        `POSTed to replica i % ${REPLICAS}, ${SPREAD_MS / ROOMS} ms apart. The replica owning the most rooms (from the \`rooms\` table) is SIGKILLed; the ` +
        `time is kill → the last of its rooms registered again (emulator event time). A double registration is a \`toolkit.registered\` recorded while ` +
        `another participant's registration of the Adder in that room was still live (not unregistered, not disconnected).`,
    ];
    if (options.profile) {
      // The survivors write their profiles when they exit (SIGTERM drains, then exits 0).
      await Promise.all(replicas.map((r) => stopReplica(r, 'SIGTERM', 15_000)));
      const survivor = replicas.find((r) => r.id !== victimId);
      const file = survivor ? newestProfile(join(PROFILE_DIR, `failover-${survivor.id}`)) : undefined;
      if (file)
        notes.push(
          profileMarkdown(
            `CPU profile of surviving replica ${survivor?.id ?? ''} (whole life: first attach, takeover, drain)`,
            summarizeProfile(file, REPO),
            REPO,
          ),
        );
    }
    return { id: 'failover', title: 'Failover', date: new Date(started).toISOString(), durationMs: Date.now() - started, status: 'ran', figures, notes };
  } finally {
    await Promise.all(replicas.map((r) => stopReplica(r, 'SIGTERM', 15_000)));
    await emulator.close(20_000);
    await schema.drop().catch(() => undefined);
  }
}
