/** Printing results: a plain-text table per benchmark for the terminal, Markdown for bench/RESULTS.md. */
import { machineLine, packagesLine, type Machine } from './machine.js';
import { metOf, ratioOf, targetText, type BenchResult, type Figure } from './types.js';

export interface StoredResult {
  readonly machine: Machine;
  /** The last run. */
  readonly result: BenchResult;
  /** Every run of the latest sitting (`npm run bench` runs each benchmark twice), the last one last. */
  readonly runs?: readonly BenchResult[];
}

/** The runs of a stored result, oldest first (one for results recorded before there were several). */
function runsOf(stored: StoredResult): readonly BenchResult[] {
  return stored.runs !== undefined && stored.runs.length > 0 ? stored.runs : [stored.result];
}

function num(value: number | null, unit = ''): string {
  if (value === null || !Number.isFinite(value)) return value === null ? '—' : String(value);
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit === '' ? text : `${text} ${unit}`;
}

interface Row {
  readonly figure: string;
  readonly value: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly target: string;
  readonly met: string;
}

/**
 * One row per figure of the last run, with each run's value, baseline and ratio side by side (one run: just its
 * own); met is `yes` when every run met the target, `NO` when none did, `k of n` otherwise.
 */
function rows(runs: readonly BenchResult[]): Row[] {
  const last = runs[runs.length - 1] as BenchResult;
  return last.figures.map((figure) => {
    const each = runs.map((run) => run.figures.find((f) => f.name === figure.name)).filter((f): f is Figure => f !== undefined);
    const per = (text: (f: Figure) => string): string => each.map(text).join(' / ');
    const mets = each.map(metOf);
    const judged = mets.filter((m): m is boolean => m !== null);
    const met =
      judged.length === 0 ? '—' : judged.every(Boolean) ? 'yes' : judged.some(Boolean) ? `${judged.filter(Boolean).length} of ${judged.length}` : 'NO';
    return {
      figure: figure.name,
      value: per((f) => num(f.value, f.unit)),
      baseline: figure.baseline === null ? '—' : `${per((f) => num(f.baseline, f.unit))} (${figure.baselineLabel})`,
      ratio: per((f) => {
        const ratio = ratioOf(f);
        return ratio === null ? '—' : `${ratio.toFixed(2)}×`;
      }),
      target: targetText(figure),
      met,
    };
  });
}

const HEADERS: Row = { figure: 'figure', value: 'value', baseline: 'baseline', ratio: 'ratio', target: 'target', met: 'met' };
const COLUMNS = Object.keys(HEADERS) as Array<keyof Row>;

/** A fixed-width table for the terminal. */
export function textTable(result: BenchResult): string {
  const all = [HEADERS, ...rows([result])];
  const width = Object.fromEntries(COLUMNS.map((c) => [c, Math.max(...all.map((r) => r[c].length))])) as Record<keyof Row, number>;
  const line = (r: Row): string => COLUMNS.map((c) => r[c].padEnd(width[c])).join('  ');
  const rule = COLUMNS.map((c) => '-'.repeat(width[c])).join('  ');
  const load = result.load ? `, load ${result.load.start.toFixed(1)} → ${result.load.end.toFixed(1)}` : '';
  const head = `== ${result.title} (${result.id}) — ${result.status}, ${(result.durationMs / 1000).toFixed(1)} s${load}`;
  return [head, line(HEADERS), rule, ...all.slice(1).map(line)].join('\n');
}

function mdCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** One section per run of the benchmark. */
export function markdownSections(stored: StoredResult): string[] {
  const runs = runsOf(stored);
  return runs.map((result, i) => markdownSection({ machine: stored.machine, result }, runs.length > 1 ? `run ${i + 1} of ${runs.length}` : undefined));
}

export function markdownSection(stored: StoredResult, which?: string): string {
  const { result, machine } = stored;
  const table = [
    '| figure | value | baseline (same run) | ratio | target | met |',
    '| --- | ---: | ---: | ---: | --- | :---: |',
    ...rows([result]).map((r) => `| ${COLUMNS.map((c) => mdCell(c === 'met' && r.met === 'NO' ? '**NO**' : r[c])).join(' | ')} |`),
  ].join('\n');
  const figureNotes = result.figures.filter((f) => f.note !== undefined).map((f) => `- *${f.name}*: ${f.note ?? ''}`);
  return [
    `## ${result.title} (\`npm run bench -- ${result.id}\`)${which === undefined ? '' : `, ${which}`}`,
    '',
    `Run ${result.date.replace('T', ' ').slice(0, 19)} UTC, ${(result.durationMs / 1000).toFixed(1)} s, status **${result.status}**. Machine: ${machineLine(machine)}` +
      (result.load
        ? `; 1-minute load average ${result.load.start.toFixed(1)} at the start, ${result.load.end.toFixed(1)} at the end (${machine.cores} cores, shared).`
        : '.'),
    '',
    result.figures.length > 0 ? table : '_No figures._',
    '',
    ...(figureNotes.length > 0 ? [...figureNotes, ''] : []),
    ...result.notes.flatMap((n) => [n, '']),
  ].join('\n');
}

export const ORDER = ['ingest', 'attach-storm', 'call-path', 'density', 'failover'] as const;

export function markdownDocument(results: Readonly<Record<string, StoredResult>>, latest: Machine, preface: string): string {
  const sections = ORDER.filter((id) => results[id] !== undefined).flatMap((id) => markdownSections(results[id] as StoredResult));
  const summary = [
    '| benchmark | figure | value (each run) | baseline (each run) | ratio (each run) | target | met |',
    '| --- | --- | ---: | ---: | ---: | --- | :---: |',
    ...ORDER.flatMap((id) => {
      const stored = results[id];
      if (!stored) return [];
      if (stored.result.figures.length === 0) return [`| ${id} | — | ${stored.result.status} | | | | |`];
      return rows(runsOf(stored)).map(
        (r) =>
          `| ${id} | ${mdCell(r.figure)} | ${mdCell(r.value)} | ${mdCell(r.baseline)} | ${r.ratio} | ${mdCell(r.target)} | ${r.met === 'NO' ? '**NO**' : r.met} |`,
      );
    }),
  ].join('\n');
  return [
    '# Benchmark results',
    '',
    preface,
    '',
    `Machine (latest run): ${machineLine(latest)}.`,
    '',
    `Packages: ${packagesLine(latest)}.`,
    '',
    '## Summary',
    '',
    summary,
    '',
    ...sections,
  ].join('\n');
}
