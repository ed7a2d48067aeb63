/**
 * Flag parsing shared by every `roomrunner` command: a thin layer over `node:util` `parseArgs` so each
 * command declares its flags once (for parsing and for `--help`) and every mistake is reported the same
 * way, naming the flag and what to pass. Exit code 2 for usage errors, as is conventional.
 *
 * Environment fallbacks are declared per flag (`env`) but read from the record the command passes in:
 * only the command file touches `process.env`.
 */
import { errorMessage } from '../util/error-message.js';
import { parseArgs } from 'node:util';
import { isRoomrunnerError, RoomrunnerError } from '../errors.js';
import { describeNetworkError, networkHint } from '../net-error.js';

/** Exit code for a usage mistake (unknown flag, missing value, bad value). */
export const USAGE_EXIT_CODE = 2;

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** One-letter alias, e.g. `p` for `-p`. */
  readonly short?: string;
  /** Shown in help after the flag, e.g. `<port>`. Strings only. */
  readonly placeholder?: string;
  /** Environment variable read when the flag is absent (strings only). */
  readonly env?: string;
  /** Shown in help; applied by the command, not here. */
  readonly defaultText?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** Parsed values: strings (or undefined) for string flags, booleans for boolean flags. */
export type FlagValues<S extends FlagSpecs> = {
  readonly [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean : string | undefined;
};

/** A mistake on the command line; the message names the flag. */
export class UsageError extends RoomrunnerError {
  readonly exitCode = USAGE_EXIT_CODE;

  constructor(message: string) {
    super('RR_CLI_USAGE', message);
  }
}

export interface ParseFlagsOptions {
  /** Environment for `env` fallbacks; pass `process.env` from the command file. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface ParsedFlags<S extends FlagSpecs> {
  readonly values: FlagValues<S>;
  /** Flags given on the command line (not filled in from the environment). */
  readonly given: ReadonlySet<keyof S & string>;
  /** True when `--help` or `-h` was given (always accepted). */
  readonly help: boolean;
}

/**
 * Parses `argv` against `specs`. Positional arguments are refused.
 * @throws UsageError naming the unknown flag, the flag missing its value, or the stray argument.
 */
export function parseFlags<S extends FlagSpecs>(argv: readonly string[], specs: S, options: ParseFlagsOptions = {}): ParsedFlags<S> {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(specs)) {
    config[name] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: false });
  } catch (error) {
    throw toUsageError(error, specs, argv);
  }
  const values: Record<string, string | boolean | undefined> = {};
  const given = new Set<string>();
  for (const [name, spec] of Object.entries(specs)) {
    const raw = parsed.values[name];
    if (raw !== undefined) given.add(name);
    if (spec.type === 'boolean') {
      values[name] = raw === true;
      continue;
    }
    const fromEnv = spec.env === undefined ? undefined : options.env?.[spec.env];
    const value = typeof raw === 'string' ? raw : fromEnv === '' ? undefined : fromEnv;
    values[name] = value;
  }
  return { values: values as FlagValues<S>, given: given as Set<keyof S & string>, help: parsed.values['help'] === true };
}

export interface IntegerRange {
  readonly min?: number;
  readonly max?: number;
}

/**
 * An integer flag within `[min, max]`, or `fallback` when absent. Every number flag of every command is read
 * through this, so a bad one always gets the same message.
 * @throws UsageError `--<name> must be an integer from 0 to 65535, got "<value>"` (see {@link integerRule}).
 */
export function integerFlag(name: string, value: string | undefined, fallback: number, range: IntegerRange = {}): number {
  if (value === undefined) return fallback;
  const number = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new UsageError(`--${name} ${integerRule(range)}, got ${JSON.stringify(value)}`);
  }
  return number;
}

/** What a number flag takes, in words: `must be an integer from 0 to 65535`, `… of 1 or more`, `… of at most 10`. */
export function integerRule(range: IntegerRange = {}): string {
  const { min, max } = range;
  if (min !== undefined && max !== undefined) return `must be an integer from ${min} to ${max}`;
  if (min !== undefined) return `must be an integer of ${min} or more`;
  if (max !== undefined) return `must be an integer of at most ${max}`;
  return 'must be an integer';
}

/**
 * A flag restricted to `choices`, or `fallback` when absent.
 * @throws UsageError naming the flag and the accepted values.
 */
export function choiceFlag<T extends string>(name: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/**
 * A comma-separated list flag (`a,b,c`), trimmed, empties dropped; `fallback` when absent.
 * @throws UsageError when the flag is given but lists nothing.
 */
export function listFlag(name: string, value: string | undefined, fallback: readonly string[]): string[] {
  if (value === undefined) return [...fallback];
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new UsageError(`--${name} must list at least one value (comma-separated), got ${JSON.stringify(value)}`);
  return items;
}

/**
 * An absolute http(s) URL flag.
 * @throws UsageError naming the flag.
 */
export function urlFlag(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--${name} must be an absolute URL such as http://127.0.0.1:8080/webhook, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--${name} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  return url.href;
}

/** The `--help` text: usage line, summary, then one line per flag with its env fallback and default. */
export function formatHelp(command: string, summary: string, specs: FlagSpecs, footer: readonly string[] = []): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const left = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${spec.type === 'string' ? ` ${spec.placeholder ?? '<value>'}` : ''}`;
    const notes = [spec.env === undefined ? undefined : `env ${spec.env}`, spec.defaultText === undefined ? undefined : `default ${spec.defaultText}`].filter(
      (note): note is string => note !== undefined,
    );
    return { left, right: notes.length === 0 ? spec.description : `${spec.description} (${notes.join('; ')})` };
  });
  rows.push({ left: '-h, --help', right: 'Show this help.' });
  const width = Math.max(...rows.map((row) => row.left.length));
  return [
    `usage: roomrunner ${command} [flags]`,
    '',
    summary,
    '',
    'flags:',
    ...rows.map((row) => `  ${row.left.padEnd(width)}  ${row.right}`),
    ...(footer.length === 0 ? [] : ['', ...footer]),
  ].join('\n');
}

function toUsageError(error: unknown, specs: FlagSpecs, argv: readonly string[]): UsageError {
  const code = (error as { code?: unknown }).code;
  const message = errorMessage(error);
  // parseArgs quotes the offending token: "Unknown option '--prot'", "Option '--port <value>' argument missing".
  // "Option '-p, --port <value>' argument missing" names the long form after the short one: prefer it.
  const quoted = /'([^']+)'/.exec(message)?.[1];
  const token = quoted === undefined ? undefined : (/--[^\s,<=]+/.exec(quoted)?.[0] ?? /-[^\s,<=]+/.exec(quoted)?.[0] ?? quoted);
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const suggestion = token === undefined ? undefined : closestFlag(token.replace(/^-+/, '').split('=')[0] ?? '', Object.keys(specs));
      return new UsageError(`unknown flag ${token ?? message}${suggestion === undefined ? '' : ` (did you mean --${suggestion}?)`}`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      // "argument missing", or "argument is ambiguous" when the next token starts with `-`.
      return new UsageError(
        message.includes('does not take')
          ? `flag ${token ?? '(unknown)'} is a switch and takes no value: give ${token ?? 'it'} to turn it on, leave it out for off`
          : `flag ${token ?? '(unknown)'} needs a value, e.g. ${token ?? '--flag'} <value> (use ${token ?? '--flag'}=<value> for a value starting with "-")`,
      );
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      // `--json yes`: a switch followed by what was meant as its value.
      const before = token === undefined ? undefined : argv[argv.indexOf(token) - 1];
      const flag = before?.startsWith('--') ? before.slice(2) : undefined;
      const switchHint =
        flag !== undefined && specs[flag]?.type === 'boolean' ? ` (--${flag} is a switch and takes no value: give it alone to turn it on)` : '';
      return new UsageError(`unexpected argument ${token === undefined ? message : JSON.stringify(token)}: this command takes only flags${switchHint}`);
    }
    default:
      return new UsageError(message);
  }
}

/** The declared flag nearest to `given` (edit distance ≤ 2), for "did you mean". */
function closestFlag(given: string, names: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(given, name);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The setting the room URL of `call` and `join --room` comes from. */
export const API_URL_SETTING = '--api-url / MESHAGENT_API_URL';

/** Where a command connects and which setting gave it the URL, for the words of a failed connect. */
export interface ConnectTarget {
  /** The websocket URL dialed (never with a token in it). */
  readonly url: string;
  /** The flag and env var the URL comes from, e.g. `--api-url / MESHAGENT_API_URL`. */
  readonly setting: string;
}

/**
 * The message for a RoomrunnerError: its own, or for a room connection that could not be opened because of the
 * network (refused, DNS, TLS, ...) the URL, the cause and what to check (src/net-error.ts).
 */
export function failureMessage(error: Error, target?: ConnectTarget): string {
  if (target !== undefined && isRoomrunnerError(error, 'RR_ROOM_NOT_READY') && error.cause !== undefined && networkHint(error.cause) !== undefined) {
    return describeNetworkError(error.cause, `websocket connect to ${target.url}`, { setting: target.setting });
  }
  return error.message;
}

/**
 * The exit code for a command's failure, after saying what went wrong on stderr: a usage mistake (2, with a
 * pointer to `--help`) or a RoomrunnerError (1, with its code; a failed connect to `target` says why and what to
 * check). Anything else is a bug and is rethrown.
 */
export function reportFailure(command: string, error: unknown, target?: ConnectTarget): number {
  if (error instanceof UsageError) {
    console.error(`roomrunner ${command}: ${error.message}\nRun \`roomrunner ${command} --help\` for the flags.`);
    return USAGE_EXIT_CODE;
  }
  if (isRoomrunnerError(error)) {
    console.error(`roomrunner ${command}: ${failureMessage(error, target)} [${error.code}]`);
    return 1;
  }
  throw error;
}
