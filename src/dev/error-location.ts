/**
 * Where a load or definition error of an agent file happened, in the `file:line:column` form editors and
 * terminals link, and its message without the loader's wrapping. The loaders say it in different ways:
 *
 * - esbuild (tsx): `Transform failed with 1 error:\n/abs/agents/a.ts:2:33: ERROR: Unexpected ";"`;
 * - Node's own parser (a `.js` file, or type stripping): a stack starting `file:///abs/agents/a.ts:2`, the source
 *   line, then a caret under the column;
 * - an error thrown while the module runs (a definition error, `defineAgent` refusing its options): the first
 *   stack frame in the user's code, skipping packages and roomrunner's own files.
 *
 * The error may be wrapped (RoomrunnerError's `cause`); the chain is searched outermost first.
 */
import { fileURLToPath } from 'node:url';

export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
}

export interface LocatedError {
  readonly location: SourceLocation;
  /** The error's own message, first line, without "failed to load" or "Transform failed" wrapping. */
  readonly message: string;
}

const ESBUILD = /^(\/[^\n]*?|[A-Za-z]:\\[^\n]*?):(\d+):(\d+): ERROR: (.*)$/m;
const PARSER_HEAD = /^(file:\/\/\/[^\n]*?):(\d+)\n/;
const FRAME = /^\s*at (?:.*? \()?((?:file:\/\/)?\/[^\n]*?):(\d+):(\d+)\)?$/;

/**
 * Locate `error`, thrown loading `file`. `shared` are path prefixes of code that is not the user's (roomrunner's
 * own folder); frames there and under node_modules are skipped.
 */
export function locateError(error: unknown, file: string, shared: readonly string[] = []): LocatedError {
  const chain = causes(error);
  for (const e of chain) {
    const text = `${e.message}\n${e.stack ?? ''}`;
    const esbuild = ESBUILD.exec(text);
    if (esbuild) return { location: { file: esbuild[1] as string, line: Number(esbuild[2]), column: Number(esbuild[3]) }, message: esbuild[4] as string };
  }
  for (const e of chain) {
    const head = PARSER_HEAD.exec(e.stack ?? '');
    if (head) {
      const lines = (e.stack ?? '').split('\n');
      const caret = lines[2]?.indexOf('^') ?? -1;
      return {
        location: { file: toPath(head[1] as string), line: Number(head[2]), ...(caret >= 0 ? { column: caret + 1 } : {}) },
        message: firstLine(e.message),
      };
    }
  }
  const innermost = chain.at(-1);
  const message = innermost ? firstLine(innermost.message) : String(error);
  for (const e of chain) {
    for (const line of (e.stack ?? '').split('\n').slice(1)) {
      const frame = FRAME.exec(line);
      if (!frame) continue;
      const path = toPath(frame[1] as string);
      if (path.includes('/node_modules/') || shared.some((prefix) => path.startsWith(prefix))) continue;
      return { location: { file: path, line: Number(frame[2]), column: Number(frame[3]) }, message };
    }
  }
  return { location: { file }, message };
}

/** `file:line:column`, with the parts known. */
export function formatLocation(location: SourceLocation, relativeTo?: (file: string) => string): string {
  const file = relativeTo ? relativeTo(location.file) : location.file;
  if (location.line === undefined) return file;
  return location.column === undefined ? `${file}:${location.line}` : `${file}:${location.line}:${location.column}`;
}

function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && !chain.includes(current)) {
    chain.push(current);
    current = current.cause;
  }
  return chain;
}

function toPath(fileOrUrl: string): string {
  return fileOrUrl.startsWith('file:') ? fileURLToPath(fileOrUrl.replace(/[?#].*$/, '')) : fileOrUrl.replace(/\?[^/]*$/, '');
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
