/**
 * Layers import downwards only (docs/architecture.md §Layers): every import in `src/` goes to its own part or to a
 * lower layer of the table, and no folders form a cycle. The table is read from the docs, so it cannot drift.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { folderCycles, importsOf, layerViolations, listSourceFiles, readImports, readLayers, unplacedParts, type SourceImport } from './support/layers.js';

const ROOT = path.join(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');
const layers = readLayers(readFileSync(path.join(ROOT, 'docs', 'architecture.md'), 'utf8'));
const files = listSourceFiles(SRC);
const imports = readImports(SRC);

describe('the layers of src/', () => {
  it('place every folder and top-level module of src/ on a layer', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(unplacedParts(files, layers)).toEqual([]);
  });

  it('list no part that src/ does not have', () => {
    const parts = new Set(files.map((file) => (file.includes('/') ? `${file.split('/')[0]}/` : file)));
    expect([...layers.keys()].filter((part) => !parts.has(part))).toEqual([]);
  });

  it('import only their own part or lower layers', () => {
    expect(imports.length).toBeGreaterThan(files.length);
    expect(layerViolations(imports, layers)).toEqual([]);
  });

  it('form no cycle between folders, subfolders included', () => {
    expect(folderCycles(imports)).toEqual([]);
  });
});

describe('the layer checker', () => {
  const table = [
    '## §Layers',
    '| layer | part | owns |',
    '|---|---|---|',
    '| 3 | `server/` | the top |',
    '| 2 | `http/` | the middle |',
    '| 2 | `webhooks/` | beside it |',
    '| 1 | `errors.ts` | the bottom |',
    '## §Next',
    '| 9 | `ignored/` | another section |',
  ].join('\n');

  it('reads the layer of each part from the §Layers table only', () => {
    expect([...readLayers(table)]).toEqual([
      ['server/', 3],
      ['http/', 2],
      ['webhooks/', 2],
      ['errors.ts', 1],
    ]);
  });

  it('refuses docs without the table, or with a part listed twice', () => {
    expect(() => readLayers('# Architecture\n')).toThrow('no "## §Layers" section');
    expect(() => readLayers('## §Layers\nno table\n')).toThrow('has no "| <layer> | `<part>` |" rows');
    expect(() => readLayers('## §Layers\n| 1 | `a/` | x |\n| 2 | `a/` | y |\n')).toThrow('lists a/ twice');
  });

  it('sees import, import type, export from and import() with their lines, and skips packages', () => {
    const text = [
      "import { z } from 'zod';",
      "import { RoomrunnerError } from '../errors.js';",
      "import type { Store } from '../store/store.js';",
      "export { buildApp } from '../http/app.js';",
      'const later = () => import("./signatures/index.js");',
    ].join('\n');
    expect(importsOf('webhooks/plugin.ts', text).map(({ line, specifier, target }) => [line, specifier, target])).toEqual([
      [2, '../errors.js', 'errors.ts'],
      [3, '../store/store.js', 'store/store.ts'],
      [4, '../http/app.js', 'http/app.ts'],
      [5, './signatures/index.js', 'webhooks/signatures/index.ts'],
    ]);
  });

  it('names an import of a higher layer and of the same layer, and allows lower ones', () => {
    const layered = readLayers(table);
    const found = [
      ...importsOf('http/app.ts', "import { WebhookServer } from '../server/webhook-server.js';\nimport { x } from '../errors.js';"),
      ...importsOf('http/app.ts', "import { webhookPlugin } from '../webhooks/plugin.js';"),
      ...importsOf('server/webhook-server.ts', "import { buildApp } from '../http/app.js';"),
    ];
    expect(layerViolations(found, layered)).toEqual([
      "src/http/app.ts:1 imports '../server/webhook-server.js': http/ (layer 2) may import only lower layers, and server/ is on layer 3",
      "src/http/app.ts:1 imports '../webhooks/plugin.js': http/ (layer 2) may import only lower layers, and webhooks/ is on the same layer",
    ]);
  });

  it('names a part the table does not place', () => {
    expect(unplacedParts(['http/app.ts', 'util/semaphore.ts', 'errors.ts', 'logger.ts'], readLayers(table))).toEqual([
      'util/ (src/util/semaphore.ts) has no layer in docs/architecture.md §Layers',
      'logger.ts (src/logger.ts) has no layer in docs/architecture.md §Layers',
    ]);
  });

  it('finds a cycle between a folder and its subfolder, and one through three folders, with an import for each edge', () => {
    const edge = (file: string, specifier: string): SourceImport => importsOf(file, `import { x } from '${specifier}';`)[0]!;
    const found = [
      edge('webhooks/plugin.ts', './signatures/index.js'),
      edge('webhooks/signatures/meshagent.ts', '../receive.js'),
      edge('a/one.ts', '../b/two.js'),
      edge('b/two.ts', '../c/three.js'),
      edge('c/three.ts', '../a/one.js'),
      edge('c/three.ts', '../errors.js'),
    ];
    expect(folderCycles(found)).toEqual([
      "a/, b/, c/: a/ -> b/ (src/a/one.ts:1 '../b/two.js') -> c/ (src/b/two.ts:1 '../c/three.js') -> a/ (src/c/three.ts:1 '../a/one.js')",
      "webhooks/, webhooks/signatures/: webhooks/ -> webhooks/signatures/ (src/webhooks/plugin.ts:1 './signatures/index.js') -> webhooks/ (src/webhooks/signatures/meshagent.ts:1 '../receive.js')",
    ]);
  });
});
