/**
 * `npm run bench [-- <name>...] [-- --profile] [-- --runs N]`: runs the benchmarks (all, or those named: ingest,
 * attach-storm, call-path, density, failover) N times (default 2: all of them once, then all again, so a noisy
 * neighbour is less likely to hit one benchmark's every run), prints a table per run, and records every run
 * with the machine and package versions in bench/results.json and bench/RESULTS.md. Benchmarks not run this time keep their last
 * recorded results. Every figure is a ratio to a baseline measured in the same run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR } from './lib/child.js';
import { machine } from './lib/machine.js';
import { markdownDocument, ORDER, textTable, type StoredResult } from './lib/report.js';
import type { BenchOptions, BenchResult } from './lib/types.js';

type BenchId = (typeof ORDER)[number];

const ALIASES: Record<string, BenchId> = {
  ingest: 'ingest',
  'attach-storm': 'attach-storm',
  storm: 'attach-storm',
  attach: 'attach-storm',
  'call-path': 'call-path',
  call: 'call-path',
  density: 'density',
  failover: 'failover',
};

const RUNNERS: Record<BenchId, () => Promise<(options: BenchOptions) => Promise<BenchResult>>> = {
  ingest: async () => (await import('./ingest.js')).runIngest,
  'attach-storm': async () => (await import('./attach-storm.js')).runAttachStorm,
  'call-path': async () => (await import('./call-path.js')).runCallPath,
  density: async () => (await import('./density.js')).runDensity,
  failover: async () => (await import('./failover.js')).runFailover,
};

const RESULTS_JSON = join(BENCH_DIR, 'results.json');
const RESULTS_MD = join(BENCH_DIR, 'RESULTS.md');
const FINDINGS_MD = join(BENCH_DIR, 'findings.md');

const PREFACE = [
  'Written by `npm run bench` (bench/run.ts); do not edit by hand — the findings section comes from bench/findings.md.',
  'Every figure is compared with a baseline measured in the same run, on the same machine, over loopback. Each benchmark',
  'runs twice (all once, then all again; `--runs N` for another count): the summary shows both runs side by side, and a',
  'target counts as met only when every run met it.',
  'Claims of speed and resilience in the README rest on these numbers only, never on timed assertions in tests.',
  'Run one benchmark with `npm run bench -- <name>` (ingest, attach-storm, call-path, density, failover); add `--profile`',
  'to write CPU profiles of the processes under test to bench/profiles/ and summarise them here; `--render` only rewrites',
  'this file from bench/results.json. The one-off investigations behind the findings are in bench/experiments/.',
].join('\n');

/** How many times `npm run bench` runs each benchmark unless `--runs` says otherwise. */
const DEFAULT_RUNS = 2;

function parseArgs(argv: readonly string[]): { ids: BenchId[]; profile: boolean; render: boolean; runs: number } {
  const ids: BenchId[] = [];
  let profile = false;
  let render = false;
  let runs = DEFAULT_RUNS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--profile') profile = true;
    else if (arg === '--render') render = true;
    else if (arg === '--runs' || arg.startsWith('--runs=')) {
      const text = arg === '--runs' ? argv[++i] : arg.slice('--runs='.length);
      runs = Number(text);
      if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs takes a whole number of runs, 1 or more, got ${JSON.stringify(text)}`);
    } else if (arg === '--') continue;
    else {
      const id = ALIASES[arg];
      if (id === undefined) throw new Error(`unknown benchmark ${JSON.stringify(arg)}: pick from ${ORDER.join(', ')} (or --profile, --runs N)`);
      if (!ids.includes(id)) ids.push(id);
    }
  }
  return { ids: ids.length > 0 ? ORDER.filter((id) => ids.includes(id)) : [...ORDER], profile, render, runs };
}

function loadStored(): Record<string, StoredResult> {
  if (!existsSync(RESULTS_JSON)) return {};
  try {
    return JSON.parse(readFileSync(RESULTS_JSON, 'utf8')) as Record<string, StoredResult>;
  } catch {
    return {};
  }
}

function write(stored: Record<string, StoredResult>, latest: ReturnType<typeof machine>): void {
  writeFileSync(RESULTS_JSON, `${JSON.stringify(stored, null, 2)}\n`);
  const findings = existsSync(FINDINGS_MD) ? readFileSync(FINDINGS_MD, 'utf8').trim() : '';
  const doc = markdownDocument(stored, latest, PREFACE);
  writeFileSync(RESULTS_MD, `${doc.trimEnd()}\n${findings === '' ? '' : `\n${findings}\n`}`);
}

async function main(): Promise<void> {
  const { ids, profile, render, runs } = parseArgs(process.argv.slice(2));
  const m = machine();
  const stored = loadStored();
  if (render) {
    // Only rewrite RESULTS.md from results.json (after editing findings.md); nothing is measured.
    const latest = Object.values(stored).sort((a, b) => (a.result.date < b.result.date ? 1 : -1))[0]?.machine ?? m;
    write(stored, latest);
    process.stdout.write('bench/RESULTS.md rewritten from bench/results.json\n');
    return;
  }
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  log(`roomrunner benchmarks: ${ids.join(', ')}, ${runs} run${runs === 1 ? '' : 's'}${profile ? ' (with CPU profiles)' : ''}`);
  const began = Date.now();
  const sitting = new Map<BenchId, BenchResult[]>();
  for (let run = 1; run <= runs; run++)
    for (const id of ids) {
      log(`\n-- ${id}, run ${run} of ${runs}`);
      const started = Date.now();
      const loadStart = loadavg()[0] ?? 0;
      let result: BenchResult;
      try {
        const run = await RUNNERS[id]();
        result = await run({ profile, log });
      } catch (error) {
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
        log(`  failed: ${text}`);
        result = {
          id,
          title: id,
          date: new Date(started).toISOString(),
          durationMs: Date.now() - started,
          status: 'failed',
          figures: [],
          notes: [`The benchmark failed: \`${text.split('\n')[0] ?? ''}\``],
        };
      }
      result = { ...result, load: { start: loadStart, end: loadavg()[0] ?? 0 } };
      const done = [...(sitting.get(id) ?? []), result];
      sitting.set(id, done);
      stored[id] = { machine: m, result, runs: done };
      log(`\n${textTable(result)}`);
      // Write after each benchmark, so a later failure keeps what was measured.
      write(stored, m);
    }
  log(`\nall done in ${((Date.now() - began) / 1000).toFixed(0)} s; results in bench/RESULTS.md`);
}

await main();
// Anything a benchmark left open (a keep-alive agent, a timer) must not keep `npm run bench` alive.
process.exit(0);
