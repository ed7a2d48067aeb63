/**
 * Webhook ingest: signed `room.started` deliveries through the whole path (verify, dedupe, ledger,
 * acknowledge) against a bare fastify route that parses the same body, both under the same autocannon load
 * on loopback, at 10 and at 50 connections. Every delivery is distinct (a counter in `room_name`, MeshAgent scheme: the signature covers
 * the body), pre-signed before the run so the load generator spends no time signing. The server under test
 * runs in its own process; each roomrunner run has its own bare-fastify run right before it, so a noisy
 * neighbour hits both alike.
 */
import { join } from 'node:path';
import { autocannon, type AutocannonResult } from './lib/autocannon.js';
import { BENCH_DIR, PROFILE_DIR, startChild } from './lib/child.js';
import type { IngestKind, IngestStartArgs } from './lib/ingest-server.js';
import { createSchema, postgresUnreachable, type BenchSchema } from './lib/postgres.js';
import { clearProfiles, newestProfile, profileMarkdown, summarizeProfile } from './lib/profile.js';
import type { BenchOptions, BenchResult, Figure } from './lib/types.js';
import { pythonDumps, signWebhook } from '../src/webhooks/signatures/index.js';

const SECRET = 'bench-ingest-webhook-secret';
const CONNECTION_COUNTS = [10, 50] as const;
const WARMUP_S = 2;
const DURATION_S = 6;
/** bare, subject, bare, subject: a burst of load from a neighbour is less likely to hit one side only. */
const ROUNDS = 2;
/** Pre-signed deliveries; past this the generator signs on the fly (still distinct). */
const POOL_SIZE = 120_000;
type Kind = Exclude<IngestKind, 'bare'>;
type Connections = (typeof CONNECTION_COUNTS)[number];
/** The targets per store and connection count; those not named are reported, not judged. */
const TARGETS: Partial<Record<`${Kind}@${Connections}`, { readonly ratio: number; readonly p99Ms?: number }>> = {
  'embedded@10': { ratio: 0.25, p99Ms: 5 },
  'embedded@50': { ratio: 0.5, p99Ms: 20 },
  'postgres@50': { ratio: 0.3 },
};
/**
 * MeshAgent's Python `WebhookServer` (stateless, aiohttp), measured on this machine in one run beside a bare
 * fastify route with the same load (distinct signed bodies): its req/s as a ratio to that route. Its package
 * comes from PyPI, which this machine cannot reach, so it is cited rather than measured here; comparing
 * ratios to the same bare route keeps the comparison fair across runs.
 */
const PYTHON_WEBHOOK_SERVER: Record<Connections, { readonly rps: number; readonly ratio: number }> = {
  10: { rps: 3_860, ratio: 0.14 },
  50: { rps: 3_959, ratio: 0.16 },
};
const PYTHON_TARGET = 3;

interface Delivery {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

function delivery(i: number): Delivery {
  const room = `bench-ingest-${i}`;
  const body = pythonDumps({ event: 'room.started', data: { room_name: room, room_url: `ws://127.0.0.1:9/rooms/${room}`, session_id: `s-${i}` } });
  return { body: Buffer.from(body), headers: { 'content-type': 'application/json', ...signWebhook('meshagent', { body, secret: SECRET }) } };
}

interface RunFigures {
  readonly label: string;
  /** Which store answered (src/store engine and driver). */
  readonly store: string;
  readonly result: AutocannonResult;
  readonly sent: number;
  readonly unexpected: number;
}

interface Cursor {
  i: number;
  /** Answers other than 200 `{"ok":true}` (a duplicate, an error). */
  unexpected: number;
}

async function load(url: string, pool: readonly Delivery[], cursor: Cursor, seconds: number, connections: number): Promise<AutocannonResult> {
  return autocannon({
    url,
    method: 'POST',
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          const n = cursor.i++;
          const d = pool[n] ?? delivery(n);
          return { ...request, body: d.body, headers: d.headers };
        },
        onResponse: (status, body) => {
          if (status !== 200 || body !== '{"ok":true}') cursor.unexpected += 1;
        },
      },
    ],
  });
}

async function runOne(
  kind: IngestKind,
  connections: Connections,
  args: Omit<IngestStartArgs, 'kind' | 'secret'>,
  pool: readonly Delivery[],
  options: BenchOptions,
): Promise<RunFigures> {
  const name = `ingest-${kind}-${connections}`;
  if (options.profile) clearProfiles(join(PROFILE_DIR, name));
  const child = await startChild('ingest-server.ts', { name, profile: options.profile && kind !== 'bare' });
  try {
    const { url, store } = await child.call<{ url: string; store: string }>('start', { kind, secret: SECRET, ...args });
    const cursor: Cursor = { i: 0, unexpected: 0 };
    await load(url, pool, cursor, WARMUP_S, connections);
    const before = cursor.i;
    cursor.unexpected = 0;
    const result = await load(url, pool, cursor, DURATION_S, connections);
    await child.call('stats');
    options.log(
      `  ${store.padEnd(24)} ${String(connections).padStart(2)} conns ${result.requests.average.toFixed(0).padStart(7)} req/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  non2xx ${result.non2xx}  unexpected ${cursor.unexpected}  errors ${result.errors}`,
    );
    return { label: kind, store, result, sent: cursor.i - before, unexpected: cursor.unexpected };
  } finally {
    await child.close();
  }
}

/** The values named in a comma-separated env var, in `all`'s order; all of them when it is unset. */
function pick<T extends string | number>(env: string | undefined, all: readonly T[], parse: (word: string) => unknown = (word) => word): T[] {
  if (env === undefined || env.trim() === '') return [...all];
  const named = new Set(env.split(',').map((word) => parse(word.trim())));
  return all.filter((value) => named.has(value));
}

const LABEL: Record<Kind, string> = { memory: 'MemoryStore', embedded: 'embedded default on disk', postgres: 'PostgreSQL' };

export async function runIngest(options: BenchOptions): Promise<BenchResult> {
  const started = Date.now();
  const t0 = performance.now();
  const pool: Delivery[] = [];
  for (let i = 0; i < POOL_SIZE; i++) pool.push(delivery(i));
  options.log(`  ${POOL_SIZE} deliveries signed in ${(performance.now() - t0).toFixed(0)} ms`);

  const figures: Figure[] = [];
  const notes: string[] = [
    `autocannon at ${CONNECTION_COUNTS.join(' and ')} connections, ${WARMUP_S} s warm-up then ${DURATION_S} s measured per run, ${ROUNDS} rounds of bare-then-roomrunner per store and connection count, loopback; the server runs in its own process ` +
      `(logs at \`info\` to stdout, discarded; the per-socket request bound is off, because autocannon keeps sending on a socket the server asked to close and Node answers those 503), autocannon in the driver. Each delivery is a distinct, pre-signed MeshAgent-scheme \`room.started\` ` +
      `(JWT over the SHA-256 of the body) — no duplicates; \`onRoomStarted\` does nothing, so this is ingest only. The baseline is a bare fastify ` +
      `\`POST /webhook\` that parses the same JSON body and answers \`{"ok":true}\`, run right before each roomrunner run on the same bodies. Throughput is the mean of the rounds, p99 the worse round. ` +
      'The embedded default is the store `roomrunner serve` opens in a fresh directory on disk: SQLite, each delivery fsynced (group commit) before its 200.',
    `MeshAgent's Python \`WebhookServer\` (stateless: it records nothing) is cited, not measured here (its package comes from PyPI, which this machine cannot reach): measured earlier on this machine beside the same bare route, ` +
      CONNECTION_COUNTS.map((c) => `${PYTHON_WEBHOOK_SERVER[c].rps} req/s (${PYTHON_WEBHOOK_SERVER[c].ratio}×) at ${c} connections`).join(', ') +
      '. Its figure compares ratios to the bare route, so a faster or slower machine today does not move it.',
  ];
  const pgDown = await postgresUnreachable();
  // INGEST_KINDS=embedded,memory and INGEST_CONNECTIONS=50 run a part (to measure one variant several times in a sitting).
  const kinds = pick<Kind>(process.env['INGEST_KINDS'], ['memory', 'embedded', 'postgres']);
  for (const connections of pick<Connections>(process.env['INGEST_CONNECTIONS'], CONNECTION_COUNTS, Number)) {
    for (const kind of kinds) {
      if (kind === 'postgres' && pgDown !== undefined) {
        if (connections === CONNECTION_COUNTS[0]) notes.push(`PostgreSQL rows not run: ${pgDown}.`);
        continue;
      }
      const bares: RunFigures[] = [];
      const subjects: RunFigures[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        bares.push(await runOne('bare', connections, {}, pool, options));
        let schema: BenchSchema | undefined;
        try {
          if (kind === 'postgres') schema = await createSchema('ingest');
          subjects.push(await runOne(kind, connections, schema ? { databaseUrl: schema.url } : {}, pool, options));
        } finally {
          await schema?.drop();
        }
      }
      const rps = (runs: RunFigures[]): number => runs.reduce((sum, r) => sum + r.result.requests.average, 0) / runs.length;
      const p99 = (runs: RunFigures[]): number => Math.max(...runs.map((r) => r.result.latency.p99));
      const each = (runs: RunFigures[]): string => runs.map((r) => r.result.requests.average.toFixed(0)).join(' / ');
      const total = subjects.reduce((n, r) => n + r.result.requests.total, 0);
      const unexpected = subjects.reduce((n, r) => n + r.unexpected + r.result.errors + r.result.timeouts, 0);
      const label = `${LABEL[kind]}${kind === 'embedded' ? `: ${subjects[0]?.store}` : ''}, ${connections} connections`;
      const target = TARGETS[`${kind}@${connections}`];
      const note =
        `mean of ${ROUNDS} rounds (${each(subjects)} req/s; bare ${each(bares)} req/s); ${total} requests, p50 ${Math.max(...subjects.map((r) => r.result.latency.p50))} ms` +
        (unexpected > 0 ? `, ${unexpected} answers not 200 {"ok":true} (or errors)` : ', every answer 200 {"ok":true}');
      figures.push({
        name: `ingest throughput, ${label}`,
        value: rps(subjects),
        unit: 'req/s',
        baseline: rps(bares),
        baselineLabel: 'bare fastify route',
        target: target === undefined ? { kind: 'info' } : { kind: 'ratio-min', min: target.ratio },
        note,
      });
      figures.push({
        name: `ingest latency p99, ${label}`,
        value: p99(subjects),
        unit: 'ms',
        baseline: p99(bares),
        baselineLabel: 'bare fastify route',
        target: target?.p99Ms === undefined ? { kind: 'info' } : { kind: 'below', max: target.p99Ms },
        note: `the worse of the ${ROUNDS} rounds (${subjects.map((r) => r.result.latency.p99).join(' / ')} ms)`,
      });
      if (kind === 'embedded') {
        const python = PYTHON_WEBHOOK_SERVER[connections];
        figures.push({
          name: `ingest vs MeshAgent's Python WebhookServer (cited), ${connections} connections: ratio to bare fastify`,
          value: rps(subjects) / rps(bares),
          unit: '× bare',
          baseline: python.ratio,
          baselineLabel: `Python WebhookServer's ratio to bare fastify (cited, ${python.rps} req/s)`,
          target: { kind: 'ratio-min', min: PYTHON_TARGET },
          note: 'roomrunner records and fsyncs every delivery before its 200; the Python server records nothing',
        });
      }
      if (options.profile) {
        const file = newestProfile(join(PROFILE_DIR, `ingest-${kind}-${connections}`));
        if (file) notes.push(profileMarkdown(`CPU profile of the ${label} server`, summarizeProfile(file, join(BENCH_DIR, '..')), join(BENCH_DIR, '..')));
      }
    }
  }
  return { id: 'ingest', title: 'Webhook ingest', date: new Date(started).toISOString(), durationMs: Date.now() - started, status: 'ran', figures, notes };
}
