/** Printing results: a plain-text table per benchmark for the terminal, Markdown for bench/RESULTS.md. */
import { machineLine, packagesLine, type Machine } from './machine.js';
import { metOf, ratioOf, targetText, type BenchResult, type Figure } from './types.js';

export interface StoredResult {
  readonly machine: Machine;
  readonly result: BenchResult;
}

function num(value: number | null, unit = ''): string {
  if (value === null || !Number.isFinite(value)) return value === null ? '—' : String(value);
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit === '' ? text : `${text} ${unit}`;
}

function metText(figure: Figure): string {
  const met = metOf(figure);
  return met === null ? '—' : met ? 'yes' : 'NO';
}

interface Row {
  readonly figure: string;
  readonly value: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly target: string;
  readonly met: string;
}

function rows(result: BenchResult): Row[] {
  return result.figures.map((f) => {
    const ratio = ratioOf(f);
    return {
      figure: f.name,
      value: num(f.value, f.unit),
      baseline: f.baseline === null ? '—' : `${num(f.baseline, f.unit)} (${f.baselineLabel})`,
      ratio: ratio === null ? '—' : `${ratio.toFixed(2)}×`,
      target: targetText(f),
      met: metText(f),
    };
  });
}

const HEADERS: Row = { figure: 'figure', value: 'value', baseline: 'baseline', ratio: 'ratio', target: 'target', met: 'met' };
const COLUMNS = Object.keys(HEADERS) as Array<keyof Row>;

/** A fixed-width table for the terminal. */
export function textTable(result: BenchResult): string {
  const all = [HEADERS, ...rows(result)];
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

export function markdownSection(stored: StoredResult): string {
  const { result, machine } = stored;
  const table = [
    '| figure | value | baseline (same run) | ratio | target | met |',
    '| --- | ---: | ---: | ---: | --- | :---: |',
    ...rows(result).map((r) => `| ${COLUMNS.map((c) => mdCell(c === 'met' && r.met === 'NO' ? '**NO**' : r[c])).join(' | ')} |`),
  ].join('\n');
  const figureNotes = result.figures.filter((f) => f.note !== undefined).map((f) => `- *${f.name}*: ${f.note ?? ''}`);
  return [
    `## ${result.title} (\`npm run bench -- ${result.id}\`)`,
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
  const sections = ORDER.filter((id) => results[id] !== undefined).map((id) => markdownSection(results[id] as StoredResult));
  const summary = [
    '| benchmark | figure | value | baseline | ratio | target | met |',
    '| --- | --- | ---: | ---: | ---: | --- | :---: |',
    ...ORDER.flatMap((id) => {
      const stored = results[id];
      if (!stored) return [];
      if (stored.result.figures.length === 0) return [`| ${id} | — | ${stored.result.status} | | | | |`];
      return rows(stored.result).map(
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
