/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): self time by function and by package or
 * source directory, so RESULTS.md can say where the time went.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface ProfileLine {
  readonly name: string;
  readonly selfMs: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  /** Sampled time not idle: shares are of this. */
  readonly busyMs: number;
  readonly byFunction: readonly ProfileLine[];
  readonly byArea: readonly ProfileLine[];
}

/**
 * The main thread's profile among those in `dir`. Node names each thread's file
 * `CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile`, and the main thread's id is 0; room worker threads and
 * tsx's module loader thread write their own profiles next to it. Without a thread-0 file (another naming),
 * the one with the most busy (non-idle) time.
 */
export function newestProfile(dir: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return undefined;
  }
  const profiles = entries.filter((name) => name.endsWith('.cpuprofile') && statSync(join(dir, name)).size > 0);
  const main = profiles.filter((name) => name.split('.')[4] === '0').sort();
  if (main.length > 0) return join(dir, main[main.length - 1] as string);
  let best: { file: string; busy: number } | undefined;
  for (const name of profiles) {
    const file = join(dir, name);
    const summary = summarizeProfile(file, dir, 1_000_000);
    const idle = summary.byFunction.find((l) => l.name === '(idle)')?.selfMs ?? 0;
    const busy = summary.totalMs - idle;
    if (!best || busy > best.busy) best = { file, busy };
  }
  return best?.file;
}

/** Empties a profile directory before a run, so the summary reads this run's profile. */
export function clearProfiles(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Where a frame's code lives: a package name, a `src/...` directory, `node:` internals, or a V8 marker. */
function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName === '' ? '(anonymous native)' : `(${functionName})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const src = /\/(src\/[^/]+|bench|agents|test)\//.exec(url);
  if (src?.[1]) return src[1];
  return url;
}

export function summarizeProfile(file: string, root: string, top = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const selfUs = new Map<number, number>();
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, deltas[i] ?? 0));
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const busyUs = [...selfUs.entries()].reduce((a, [id, us]) => a + (idleIds.has(id) ? 0 : us), 0) || 1;
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url === '' ? '' : ` ${url.startsWith('file://') ? relative(root, new URL(url).pathname) : url}:${lineNumber + 1}`;
    const key = `${functionName || '(anonymous)'}${where}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const a = areaOf(url, functionName);
    area.set(a, (area.get(a) ?? 0) + us);
  }
  const lines = (m: Map<string, number>): ProfileLine[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: us / busyUs }));
  const byFunction = lines(fn);
  return { file, totalMs: totalUs / 1000, busyMs: busyUs / 1000, byFunction, byArea: lines(area).filter((l) => l.name !== '((idle))') };
}

/** Markdown lines for a summary. */
export function profileMarkdown(title: string, summary: ProfileSummary, root: string): string {
  const rows = (lines: readonly ProfileLine[]): string =>
    lines
      .filter((l) => l.name !== '(idle)')
      .map((l) => `| ${(l.share * 100).toFixed(1)} % | ${l.selfMs.toFixed(0)} ms | \`${l.name.replace(/\|/g, '\\|')}\` |`)
      .join('\n');
  return [
    `**${title}** (\`${relative(root, summary.file)}\`: ${summary.busyMs.toFixed(0)} ms busy of ${summary.totalMs.toFixed(0)} ms sampled; shares are of busy time)`,
    '',
    '| self | ms | by area |',
    '| ---: | ---: | --- |',
    rows(summary.byArea),
    '',
    '| self | ms | by function |',
    '| ---: | ---: | --- |',
    rows(summary.byFunction),
  ].join('\n');
}
