/** What a benchmark hands back to bench/run.ts: figures with their same-run baselines, and notes. */

/** How a figure is judged against its target. */
export type Target =
  /** value / baseline must be at least `min`. */
  | { readonly kind: 'ratio-min'; readonly min: number }
  /** value / baseline must be at most `max`. */
  | { readonly kind: 'ratio-max'; readonly max: number }
  /** value must be below `max` (in the figure's unit). */
  | { readonly kind: 'below'; readonly max: number }
  /** value must be at most `max` (in the figure's unit), e.g. 0 lost rooms. */
  | { readonly kind: 'at-most'; readonly max: number }
  /** Reported, not judged. */
  | { readonly kind: 'info' };

export interface Figure {
  /** e.g. `ingest rps (PGlite)`. */
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The same-run baseline in the same unit; null when the figure has none (a count of lost rooms). */
  readonly baseline: number | null;
  /** What the baseline is, e.g. `bare fastify route`. */
  readonly baselineLabel: string;
  readonly target: Target;
  /** Extra words for the table (what limited it, how many samples). */
  readonly note?: string;
}

export interface BenchResult {
  /** Short id used on the command line: ingest, attach-storm, call-path, density, failover. */
  readonly id: string;
  readonly title: string;
  /** ISO date of the run. */
  readonly date: string;
  readonly durationMs: number;
  /** `ran`, or `not-run` (with the reason in notes), or `failed` (with the error in notes). */
  readonly status: 'ran' | 'not-run' | 'failed';
  readonly figures: readonly Figure[];
  /** Setup and findings, one paragraph each; Markdown. */
  readonly notes: readonly string[];
  /** 1-minute load averages at the start and the end (the machine is shared: a busy neighbour shows here). */
  readonly load?: { readonly start: number; readonly end: number };
}

export interface BenchOptions {
  /** Pass `--cpu-prof` to the processes under test and summarise the profiles. */
  readonly profile: boolean;
  /** Print progress lines. */
  readonly log: (line: string) => void;
}

/** The ratio value / baseline, or null without a baseline. */
export function ratioOf(figure: Figure): number | null {
  if (figure.baseline === null || figure.baseline === 0 || !Number.isFinite(figure.baseline)) return null;
  return figure.value / figure.baseline;
}

/** Whether the figure met its target; null for info figures or when it cannot be judged. */
export function metOf(figure: Figure): boolean | null {
  const { target } = figure;
  const ratio = ratioOf(figure);
  switch (target.kind) {
    case 'ratio-min':
      return ratio === null ? null : ratio >= target.min;
    case 'ratio-max':
      return ratio === null ? null : ratio <= target.max;
    case 'below':
      return Number.isFinite(figure.value) ? figure.value < target.max : false;
    case 'at-most':
      return Number.isFinite(figure.value) ? figure.value <= target.max : false;
    case 'info':
      return null;
  }
}

export function targetText(figure: Figure): string {
  const { target } = figure;
  switch (target.kind) {
    case 'ratio-min':
      return `ratio ≥ ${target.min}`;
    case 'ratio-max':
      return `ratio ≤ ${target.max}`;
    case 'below':
      return `< ${target.max} ${figure.unit}`;
    case 'at-most':
      return `≤ ${target.max} ${figure.unit}`;
    case 'info':
      return '—';
  }
}
