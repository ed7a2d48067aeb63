/**
 * Loading agent files afresh, and knowing which local files each one imports (`roomrunner dev` reloading).
 *
 * ES modules are cached by URL for the life of the process, so a file is loaded again by importing it under a new
 * URL: `agents/adder.ts?roomrunner-version=3`. That alone would re-run the agent file but not the local files it
 * imports (`./_helpers.ts` resolves to the same URL as before, so the cached module is reused). A module
 * resolve hook, registered once with `module.register`, passes the version on: whatever a versioned module imports
 * from a local file gets the same version, so the whole local tree loads afresh, while packages (anything under
 * `node_modules`) and roomrunner's own code stay shared — one zod, one roomrunner. The hook chains with the other
 * loaders: Node's own type stripping (22.18+, 24), tsx's global hooks (the repository's CLI) and tsx's scoped
 * `tsImport` (Node 20, see ./load-module.ts) all see the versioned URL and load the file under it.
 *
 * The hook also reports every versioned import (importer → imported file) over a message port; {@link ModuleGraph}
 * keeps them, so a save of a helper can be traced to the agent files that import it. On Node 20 to 22 the hooks
 * run on their own thread and these reports may arrive just after the import they belong to has finished; they
 * are only read at the next save, which is later by far.
 *
 * Each load keeps its modules for the life of the process (ES modules cannot be unloaded), which suits a
 * development loop but not a server: only `roomrunner dev` turns this on.
 */
import { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';

/** The query parameter that carries the version. */
export const VERSION_PARAM = 'roomrunner-version';

/**
 * The resolve hook, as plain JavaScript in a data: URL: it must load on the hooks thread before any TypeScript
 * loader exists there, and it is the same code under the sources and the compiled package.
 */
const HOOKS_SOURCE = `
const PARAM = ${JSON.stringify(VERSION_PARAM)};
let port;
let shared = [];
export function initialize(data) {
  port = data.port;
  shared = data.shared;
}
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  const parent = context.parentURL;
  if (typeof parent !== 'string' || !parent.startsWith('file:') || !result.url.startsWith('file:')) return result;
  const version = new URL(parent).searchParams.get(PARAM);
  if (version === null) return result;
  const url = new URL(result.url);
  const file = decodeURIComponent(url.pathname);
  if (file.includes('/node_modules/') || shared.some((prefix) => file.startsWith(prefix))) return result;
  url.searchParams.set(PARAM, version);
  port.postMessage({ importer: parent, imported: url.href });
  return { ...result, url: url.href };
}
`;

/** Which local files import which (file paths, no queries), as the hook reported them. */
export class ModuleGraph {
  readonly #imports = new Map<string, Set<string>>();
  readonly #listeners = new Set<() => void>();

  /** Call `listener` when a new import is recorded; returns the function that stops it. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Record that `importer` imports `imported` (file paths or file: URLs). */
  add(importer: string, imported: string): void {
    const from = toPath(importer);
    const to = toPath(imported);
    let set = this.#imports.get(from);
    if (set === undefined) {
      set = new Set();
      this.#imports.set(from, set);
    }
    if (set.has(to)) return;
    set.add(to);
    for (const listener of [...this.#listeners]) listener();
  }

  /** Every local file `file` imports, directly or not (itself excluded). */
  dependencies(file: string): Set<string> {
    const seen = new Set<string>();
    const stack = [...(this.#imports.get(file) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (seen.has(next) || next === file) continue;
      seen.add(next);
      stack.push(...(this.#imports.get(next) ?? []));
    }
    return seen;
  }

  /** Every file known to the graph: importers and imported. */
  files(): Set<string> {
    const all = new Set<string>(this.#imports.keys());
    for (const set of this.#imports.values()) for (const file of set) all.add(file);
    return all;
  }
}

/** roomrunner's own code: src/ in a checkout, dist/ in the package (this file is one level below it). */
export const ROOMRUNNER_CODE_DIR = `${path.dirname(path.dirname(fileURLToPath(import.meta.url)))}${path.sep}`;

let graph: ModuleGraph | undefined;

/**
 * Turn versioned loading on (once per process) and return the graph the hook fills. After this,
 * `importModule(file, { version })` (./load-module.ts) loads the file and its local imports afresh.
 */
export function enableVersionedImports(): ModuleGraph {
  if (graph) return graph;
  const created = new ModuleGraph();
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (message: { importer: string; imported: string }) => created.add(message.importer, message.imported));
  port1.unref();
  // roomrunner's own code stays shared: the agents' defineAgent and errors are the ones the server uses.
  register(`data:text/javascript,${encodeURIComponent(HOOKS_SOURCE)}`, import.meta.url, {
    data: { port: port2, shared: [ROOMRUNNER_CODE_DIR] },
    transferList: [port2],
  });
  graph = created;
  return created;
}

function toPath(fileOrUrl: string): string {
  return fileOrUrl.startsWith('file:') ? fileURLToPath(fileOrUrl.replace(/[?#].*$/, '')) : fileOrUrl;
}
