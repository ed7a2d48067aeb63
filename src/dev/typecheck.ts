/**
 * Type errors while `roomrunner dev` runs: the project's own TypeScript, as `tsc --noEmit --watch` in a child
 * process, on the nearest tsconfig.json above the agents folder. Agents load without type checking (type
 * stripping and tsx only remove types), so this is what tells a user that a save type-checks; it never blocks a
 * reload. Each time tsc finishes a pass it reports every error of the project.
 *
 * Without TypeScript in the project (resolved from the tsconfig's folder, the way `npx tsc` would), or without a
 * tsconfig.json, it reports why once and does nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export interface TypeDiagnostic {
  /** Absolute path. */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** e.g. `TS2322`. */
  readonly code: string;
  readonly message: string;
}

export interface TypeCheckOptions {
  /** Where to look for tsconfig.json (this folder and its parents): the agents folder. */
  readonly from: string;
  /** After each pass of tsc: every error of the project (empty when it type-checks). */
  readonly onReport: (diagnostics: TypeDiagnostic[]) => void;
  /** Once, when there is nothing to run (no TypeScript, no tsconfig.json) or tsc stopped; says why. */
  readonly onUnavailable: (reason: string) => void;
  /** The tsc script to run; default: the project's `typescript/bin/tsc`. */
  readonly tsc?: string;
}

const DIAGNOSTIC = /^(.+)\((\d+),(\d+)\): error (TS\d+): (.*)$/;
const PASS_DONE = /Found \d+ errors?\. Watching for file changes\./;

/**
 * Parses tsc's `--pretty false` watch output line by line: `file(line,col): error TSnnnn: message`, indented
 * continuation lines, and the "Found N errors. Watching for file changes." line that ends a pass.
 */
export class TscOutputParser {
  readonly #cwd: string;
  #diagnostics: TypeDiagnostic[] = [];

  constructor(cwd: string) {
    this.#cwd = cwd;
  }

  /** Feed one line; returns the pass's diagnostics when the line ends a pass, else undefined. */
  line(text: string): TypeDiagnostic[] | undefined {
    if (PASS_DONE.test(text)) {
      const done = this.#diagnostics;
      this.#diagnostics = [];
      return done;
    }
    const match = DIAGNOSTIC.exec(text);
    if (match) {
      this.#diagnostics.push({
        file: path.resolve(this.#cwd, match[1] as string),
        line: Number(match[2]),
        column: Number(match[3]),
        code: match[4] as string,
        message: match[5] as string,
      });
      return undefined;
    }
    const last = this.#diagnostics.at(-1);
    if (last && /^\s+\S/.test(text)) this.#diagnostics[this.#diagnostics.length - 1] = { ...last, message: `${last.message} ${text.trim()}` };
    return undefined;
  }
}

/** The nearest tsconfig.json in `dir` or a parent folder; undefined when there is none. */
export function findTsconfig(dir: string): string | undefined {
  let current = path.resolve(dir);
  for (;;) {
    const candidate = path.join(current, 'tsconfig.json');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/** A running type check; {@link stop} ends tsc. */
export interface TypeCheck {
  stop(): void;
}

/** Start the type check (see the file comment). */
export function startTypeCheck(options: TypeCheckOptions): TypeCheck {
  const idle: TypeCheck = { stop: () => undefined };
  const tsconfig = findTsconfig(options.from);
  if (tsconfig === undefined) {
    options.onUnavailable(`no tsconfig.json in ${path.resolve(options.from)} or above`);
    return idle;
  }
  const cwd = path.dirname(tsconfig);
  let tsc = options.tsc;
  if (tsc === undefined) {
    try {
      tsc = createRequire(path.join(cwd, 'package.json')).resolve('typescript/bin/tsc');
    } catch {
      options.onUnavailable(`TypeScript is not installed in ${cwd} (npm install --save-dev typescript)`);
      return idle;
    }
  }
  const child: ChildProcess = spawn(process.execPath, [tsc, '--noEmit', '--watch', '--pretty', 'false', '--preserveWatchOutput', '-p', tsconfig], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    // A background check: it must not slow the reloads and calls in the foreground.
    if (child.pid !== undefined) setPriority(child.pid, 10);
  } catch {
    // Not allowed here; it runs at normal priority.
  }
  let stopped = false;
  const parser = new TscOutputParser(cwd);
  if (child.stdout) {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const done = parser.line(line);
      if (done !== undefined) options.onReport(done);
    });
  }
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString()}`.slice(-2_000)));
  child.on('error', (error) => {
    if (!stopped) options.onUnavailable(`tsc could not start: ${error.message}`);
  });
  child.on('exit', (code, signal) => {
    if (stopped) return;
    const why = stderr.trim().split('\n').at(-1) ?? '';
    options.onUnavailable(`tsc stopped (${signal ?? `exit code ${code}`})${why ? `: ${why}` : ''}`);
  });
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      child.kill();
    },
  };
}
