/**
 * Reads the imports of `src/` and checks them against the layer table of docs/architecture.md §Layers, for
 * test/layers.test.ts.
 *
 * A *part* is a folder of `src/` (`room/`) or a top-level module (`errors.ts`). The table gives each part a layer
 * number, 1 at the bottom; a file may import its own part and parts of lower layers only, so parts on one layer
 * never import each other and no two parts can form a cycle. Imports are read with TypeScript's own scanner
 * (`ts.preProcessFile`), which sees `import`, `import type`, `export … from` and `import()` alike; only relative
 * specifiers are ours. Folders are also checked for cycles one level finer (`webhooks/signatures/` against
 * `webhooks/`), which the table cannot see.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One relative import of a source file. Paths are relative to `src/`, with `/` separators. */
export interface SourceImport {
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  /** The imported file, `.js` read as `.ts`. */
  readonly target: string;
}

/** Every `.ts` file under `srcDir`, relative to it, with `/` separators, sorted. */
export function listSourceFiles(srcDir: string): string[] {
  const out: string[] = [];
  const walk = (relative: string): void => {
    for (const name of readdirSync(path.join(srcDir, relative))) {
      const child = relative === '' ? name : `${relative}/${name}`;
      if (statSync(path.join(srcDir, child)).isDirectory()) walk(child);
      else if (name.endsWith('.ts')) out.push(child);
    }
  };
  walk('');
  return out.sort();
}

/** The relative imports of one file (`file` relative to `src/`). */
export function importsOf(file: string, text: string): SourceImport[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .filter(({ fileName }) => fileName.startsWith('./') || fileName.startsWith('../'))
    .map(({ fileName, pos }) => ({
      file,
      line: lineAt(text, pos),
      specifier: fileName,
      target: path.posix.normalize(path.posix.join(path.posix.dirname(file), fileName)).replace(/\.js$/, '.ts'),
    }));
}

/** The part a path belongs to: `room/` for `room/url.ts`, `errors.ts` for `errors.ts`. */
export function partOf(file: string): string {
  const slash = file.indexOf('/');
  return slash === -1 ? file : file.slice(0, slash + 1);
}

/** A folder one level finer than a part: `webhooks/signatures/` for `webhooks/signatures/meshagent.ts`. */
export function folderOf(file: string): string {
  const dir = path.posix.dirname(file);
  return dir === '.' ? file : `${dir}/`;
}

/**
 * The layer of each part, from the table under `## §Layers`: rows `| <layer> | \`<part>\` | …`.
 * @throws Error when the section or its table is missing, or a part is listed twice.
 */
export function readLayers(markdown: string): Map<string, number> {
  const start = markdown.search(/^## §Layers\b/m);
  if (start === -1) throw new Error('docs/architecture.md has no "## §Layers" section');
  const rest = markdown.slice(start + 1);
  const end = rest.search(/^## /m);
  const section = end === -1 ? rest : rest.slice(0, end);
  const layers = new Map<string, number>();
  for (const match of section.matchAll(/^\|\s*(\d+)\s*\|\s*`([^`]+)`\s*\|/gm)) {
    const [, layer, part] = match as unknown as [string, string, string];
    if (layers.has(part)) throw new Error(`docs/architecture.md §Layers lists ${part} twice`);
    layers.set(part, Number(layer));
  }
  if (layers.size === 0) throw new Error('docs/architecture.md §Layers has no "| <layer> | `<part>` |" rows');
  return layers;
}

/** The parts of `files` that the table does not place, each named with a file that belongs to it. */
export function unplacedParts(files: readonly string[], layers: ReadonlyMap<string, number>): string[] {
  const parts = new Map<string, string>();
  for (const file of files) if (!parts.has(partOf(file))) parts.set(partOf(file), file);
  return [...parts].filter(([part]) => !layers.has(part)).map(([part, file]) => `${part} (src/${file}) has no layer in docs/architecture.md §Layers`);
}

/** Every import of a part on the same or a higher layer, as `src/<file>:<line> imports '<specifier>': <why>`. */
export function layerViolations(imports: readonly SourceImport[], layers: ReadonlyMap<string, number>): string[] {
  const out: string[] = [];
  for (const entry of imports) {
    const from = partOf(entry.file);
    const to = partOf(entry.target);
    const fromLayer = layers.get(from);
    const toLayer = layers.get(to);
    if (from === to || fromLayer === undefined || toLayer === undefined || toLayer < fromLayer) continue;
    const where = toLayer === fromLayer ? 'the same layer' : `layer ${toLayer}`;
    out.push(
      `src/${entry.file}:${entry.line} imports '${entry.specifier}': ${from} (layer ${fromLayer}) may import only lower layers, and ${to} is on ${where}`,
    );
  }
  return out;
}

/**
 * The cycles between folders (and top-level modules), one per strongly connected group: its members, then its
 * shortest cycle with the first import that makes each edge,
 * `a/, b/: a/ -> b/ (src/a/x.ts:3 '../b/y.js') -> a/ (src/b/y.ts:9 '../a/x.js')`.
 */
export function folderCycles(imports: readonly SourceImport[]): string[] {
  const edges = new Map<string, Map<string, SourceImport>>();
  for (const entry of imports) {
    const from = folderOf(entry.file);
    const to = folderOf(entry.target);
    if (from === to) continue;
    const out = edges.get(from) ?? new Map<string, SourceImport>();
    if (!out.has(to)) out.set(to, entry);
    edges.set(from, out);
  }
  return stronglyConnected(edges)
    .filter((group) => group.length > 1)
    .map((group) => `${group.join(', ')}: ${describeCycle(shortestCycle(group, edges), edges)}`);
}

/** Tarjan's algorithm over the folder graph; groups come out in a stable order. */
function stronglyConnected(edges: ReadonlyMap<string, ReadonlyMap<string, SourceImport>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of [...(edges.get(node)?.keys() ?? [])].sort()) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== node);
    groups.push(group.sort());
  };
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node);
  return groups;
}

/** The shortest path from the group's first folder back to itself, staying inside the group. */
function shortestCycle(group: readonly string[], edges: ReadonlyMap<string, ReadonlyMap<string, SourceImport>>): string[] {
  const members = new Set(group);
  const start = group[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const next of [...(edges.get(node)?.keys() ?? [])].sort()) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
        return [...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

function describeCycle(cycle: readonly string[], edges: ReadonlyMap<string, ReadonlyMap<string, SourceImport>>): string {
  let out = cycle[0]!;
  for (let i = 1; i < cycle.length; i++) {
    const entry = edges.get(cycle[i - 1]!)!.get(cycle[i]!)!;
    out += ` -> ${cycle[i]} (src/${entry.file}:${entry.line} '${entry.specifier}')`;
  }
  return out;
}

function lineAt(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** All relative imports of every source file under `srcDir`. */
export function readImports(srcDir: string): SourceImport[] {
  return listSourceFiles(srcDir).flatMap((file) => importsOf(file, readFileSync(path.join(srcDir, file), 'utf8')));
}
