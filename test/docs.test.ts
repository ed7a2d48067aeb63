/**
 * The notes the code relies on live in docs/, and every comment that cites them names a section that exists
 * (docs/architecture.md §Style 15). Documents outside the repository are never cited.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokenCitations, citationsIn, FORBIDDEN_DOCUMENTS, forbiddenMentionsIn, listTextFiles, readDocs, sectionsOf } from './support/citations.js';

const ROOT = path.join(import.meta.dirname, '..');
/** Where citations live. docs/ (the pages cite each other), README.md and the Dockerfile are read too. */
const SCANNED = ['src', 'test', 'bench', 'agents', 'scripts', 'docs', 'README.md', 'Dockerfile'];
/** This test and its checker quote bad citations on purpose. */
const OWN_FILES = new Set([path.join('test', 'docs.test.ts'), path.join('test', 'support', 'citations.ts')]);
const files = listTextFiles(ROOT, SCANNED)
  .filter((file) => !OWN_FILES.has(file))
  .map((file) => ({ file, text: readFileSync(path.join(ROOT, file), 'utf8') }));
const docs = readDocs(ROOT);

describe('docs/', () => {
  it('has the protocol, architecture, coordination and references notes', () => {
    expect([...docs.keys()].sort()).toEqual(expect.arrayContaining(['architecture.md', 'coordination.md', 'protocol.md', 'references.md']));
  });

  it('keeps every section letter and number of the protocol notes, §A.1 to §H.2', () => {
    const expected = [
      ...['A', 'A.1', 'A.2', 'A.3', 'A.4', 'A.5', 'A.6', 'A.7', 'A.8', 'B', 'C', 'D', 'D.1', 'D.2', 'D.3', 'D.4', 'E'],
      ...['E.1', 'E.2', 'E.3', 'E.4', 'E.5', 'E.6', 'E.7', 'E.8', 'E.9', 'E.10', 'F', 'G', 'H', 'H.1', 'H.2', 'Gaps'],
    ];
    expect(expected.filter((id) => !docs.get('protocol.md')?.has(id))).toEqual([]);
  });

  it('numbers the fifteen style habits of the architecture notes', () => {
    const habits = Array.from({ length: 15 }, (_, i) => `Style ${i + 1}`);
    expect(habits.filter((id) => !docs.get('architecture.md')?.has(id))).toEqual([]);
  });
});

describe('citations in src/, test/, bench/, docs/ and the README', () => {
  it('reads at least one file of each scanned folder', () => {
    for (const dir of ['src', 'test', 'bench'])
      expect(
        files.some(({ file }) => file.startsWith(`${dir}${path.sep}`)),
        dir,
      ).toBe(true);
  });

  it('never cite a document outside the repository', () => {
    expect(files.flatMap(({ file, text }) => forbiddenMentionsIn(file, text))).toEqual([]);
  });

  it('name only sections that exist in the cited docs/ file', () => {
    const citations = files.flatMap(({ file, text }) => citationsIn(file, text));
    expect(citations.length).toBeGreaterThan(0);
    expect(brokenCitations(citations, docs)).toEqual([]);
  });
});

describe('the citation checker', () => {
  const sample = ['protocol.md', sectionsOf('## §A Webhooks\n### §A.4 The signature\n## §Gaps\n1. one\n3. three\n')] as const;
  const known = new Map([sample, ['architecture.md', sectionsOf('### §Style 7 — one config schema\n')]]);

  it('reads sections from § headings and numbered items under a § word heading', () => {
    expect([...sample[1]].sort()).toEqual(['A', 'A.4', 'Gaps', 'Gaps 1', 'Gaps 3']);
  });

  it('finds a cited section that does not exist, in a comment broken across lines', () => {
    const text = '/**\n * Signed as Python does (docs/protocol.md\n * §A.4, §A.9; docs/architecture.md §Style 7 and §Style 8).\n */';
    expect(brokenCitations(citationsIn('x.ts', text), known)).toEqual(['x.ts:3: docs/protocol.md §A.9', 'x.ts:3: docs/architecture.md §Style 8']);
  });

  it('checks both ends of a range, numbered items, bare protocol sections and unknown files', () => {
    const text = '// docs/protocol.md §A–A.5, §Gaps 3 and §Gaps 2; bare §A.4 and §D.1; RFC 6455 §7.4; docs/nope.md §x';
    expect(brokenCitations(citationsIn('y.ts', text), known)).toEqual([
      'y.ts:1: docs/protocol.md §A.5',
      'y.ts:1: docs/protocol.md §Gaps 2',
      'y.ts:1: docs/nope.md §x',
      'y.ts:1: docs/protocol.md §D.1',
    ]);
  });

  it('finds a mention of each document outside the repository', () => {
    const text = FORBIDDEN_DOCUMENTS.map((name) => `// see ${name} §1`).join('\n');
    expect(forbiddenMentionsIn('z.ts', text)).toEqual(FORBIDDEN_DOCUMENTS.map((name, i) => `z.ts:${i + 1}: ${name}`));
  });
});
