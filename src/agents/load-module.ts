/**
 * Imports one agent file, TypeScript included, with whatever the running Node can do:
 * - `.js` / `.mjs`: a plain `import()`.
 * - `.ts` / `.mts`: first a plain `import()` — Node 22.18+ and 24 strip types natively, and under the repository's
 *   own CLI tsx's hooks are already registered. When Node cannot (Node 20: ERR_UNKNOWN_FILE_EXTENSION), or the file
 *   needs what type stripping does not do (enums, `import './x.js'` naming a `.ts` file), it is imported again
 *   through tsx's scoped `tsImport`, which leaves the rest of the process untouched. Without tsx installed the error
 *   says what to install or which Node to use.
 *
 * With a `version`, the file is imported under a versioned URL so it runs afresh (`roomrunner dev`; see
 * ./module-versions.ts, which also makes its local imports load afresh).
 */
import { pathToFileURL } from 'node:url';
import { VERSION_PARAM } from './module-versions.js';

/** Errors after which the file is loaded through tsx instead. */
const NEEDS_A_LOADER = new Set([
  'ERR_UNKNOWN_FILE_EXTENSION',
  'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX',
  'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING',
  'ERR_MODULE_NOT_FOUND',
  'ERR_INVALID_TYPESCRIPT_SYNTAX',
]);

/** Why a load failure happened, in words a user can act on; undefined when there is nothing to add. */
export function loadHint(cause: unknown): string | undefined {
  const text = cause instanceof Error ? `${cause.message} ${(cause as { code?: string }).code ?? ''}` : String(cause);
  if (/top-level await|require is not defined in ES module|Cannot use import statement outside a module|ERR_REQUIRE_ASYNC_MODULE/i.test(text)) {
    return 'the agents folder is in a CommonJS package: set "type": "module" in its package.json (or name the agent files .mts)';
  }
  return undefined;
}

export interface ImportOptions {
  /** Load the file afresh under this version (see ./module-versions.ts). */
  readonly version?: number;
}

/** The file's module namespace. Throws what the import threw (see {@link loadHint} for advice). */
export async function importModule(file: string, options: ImportOptions = {}): Promise<Record<string, unknown>> {
  const plain = pathToFileURL(file).href;
  const url = options.version === undefined ? plain : `${plain}?${VERSION_PARAM}=${options.version}`;
  if (!/\.m?ts$/.test(file)) return (await import(url)) as Record<string, unknown>;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code !== 'string' || !NEEDS_A_LOADER.has(code)) throw cause;
    let tsx: { tsImport: (specifier: string, parentURL: string) => Promise<unknown> };
    try {
      tsx = (await import('tsx/esm/api')) as typeof tsx;
    } catch {
      const version = process.versions.node;
      throw new Error(
        `Node ${version} cannot load this TypeScript file by itself (${code}): install tsx beside roomrunner (npm install tsx), use Node 22.18 or newer, or compile the agents to JavaScript`,
        { cause },
      );
    }
    return (await tsx.tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
}
