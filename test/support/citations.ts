/**
 * Reads the citations in source comments and the section anchors of `docs/*.md`, for test/docs.test.ts.
 *
 * A section anchor is a heading that starts with `§`: `### §A.4 The signature` defines `A.4`, `### §Style 7 — …`
 * defines `Style 7`, `## §claims` defines `claims`. A numbered item `3. …` under the heading `## §Gaps` defines
 * `Gaps 3`. A citation is `docs/<file>.md` followed by one or more `§<id>`, separated by commas, semicolons or
 * "and"; a range `§A.1–A.4` cites both ends. A bare `§A.4` (no file) cites docs/protocol.md, whose letters the
 * code has always used without naming the file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Documents outside the repository that comments must not cite (their facts now live in docs/). Built from
 * parts so that this file does not cite them itself.
 */
export const FORBIDDEN_DOCUMENTS: readonly string[] = ['meshagent-protocol', 'anchors', 'STYLE'].map((name) => `${name}.md`);

const SKIPPED_DIRS = new Set(['node_modules', '.git']);
const TEXT_FILE = /\.(?:[cm]?[jt]s|md|json|ya?ml|sh)$|^Dockerfile$/;

// One section id: a protocol letter (A, A.4), a numbered word (Style 7, Gaps 3), a word (Gaps), or kebab-case.
const ID = String.raw`(?:[A-H](?:\.\d+)?(?![\w-])|[A-Z][a-z]+ \d+(?!\w)|[A-Z][a-z]+(?![\w-])|[a-z][a-z0-9]*(?:-[a-z0-9]+)*)`;
const SECTION = new RegExp(String.raw`^[\s,;]*(?:and\s+)?§(${ID})(?:\s*[–-]\s*§?(${ID}))?`);
const CITATION = /docs\/([a-z0-9-]+)\.md/g;
// A bare protocol section; "RFC 6455 §7.4" and the like never match because they are not letters.
const BARE = /(?<![\w-])§([A-H](?:\.\d+)?)(?![\w-])(?:\s*[–-]\s*([A-H](?:\.\d+)?))?/g;

export interface Citation {
  readonly file: string;
  readonly line: number;
  readonly doc: string;
  readonly section: string;
}

/** Every text file under `dirs` (relative to `root`), as paths relative to `root`. */
export function listTextFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (relative: string): void => {
    const absolute = path.join(root, relative);
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(absolute);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      for (const name of readdirSync(absolute).sort()) if (!SKIPPED_DIRS.has(name)) walk(path.join(relative, name));
    } else if (TEXT_FILE.test(path.basename(relative))) {
      out.push(relative);
    }
  };
  for (const dir of dirs) walk(dir);
  return out;
}

/** Section ids a document defines with `§` headings, plus `Word N` for numbered items under a `§Word` heading. */
export function sectionsOf(markdown: string): Set<string> {
  const ids = new Set<string>();
  let word: string | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^#{1,6}\s+§(\S+(?: \d+)?)/.exec(line);
    if (heading) {
      const id = heading[1]!.replace(/[.,:;]+$/, '');
      ids.add(id);
      word = /^[A-Z][a-z]+$/.test(id) ? id : undefined;
      continue;
    }
    if (/^#{1,6}\s/.test(line)) word = undefined;
    const item = /^(\d+)\.\s/.exec(line);
    if (word !== undefined && item) ids.add(`${word} ${item[1]}`);
  }
  return ids;
}

/** Joins comment continuation lines so a citation broken across lines reads as one. */
function unwrap(text: string): { text: string; lineAt: (offset: number) => number } {
  const starts: number[] = [];
  let joined = '';
  let line = 1;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const content = i === 0 ? raw : raw.replace(/^\s*(?:\*(?!\/)|\/\/|#)?\s*/, ' ');
    for (let k = 0; k < content.length; k++) starts.push(line);
    joined += content;
    line++;
  });
  return { text: joined, lineAt: (offset) => starts[Math.min(offset, starts.length - 1)] ?? 1 };
}

/** The `docs/<file>.md §id` citations in one file's text, bare protocol sections included. */
export function citationsIn(file: string, text: string): Citation[] {
  const { text: flat, lineAt } = unwrap(text);
  const found: Citation[] = [];
  for (const match of flat.matchAll(CITATION)) {
    const doc = `${match[1]}.md`;
    let rest = flat.slice((match.index ?? 0) + match[0].length);
    let offset = (match.index ?? 0) + match[0].length;
    for (let step = SECTION.exec(rest); step !== null; step = SECTION.exec(rest)) {
      for (const section of [step[1], step[2]]) {
        if (section !== undefined) found.push({ file, line: lineAt(offset), doc, section });
      }
      rest = rest.slice(step[0].length);
      offset += step[0].length;
    }
  }
  for (const match of flat.matchAll(BARE)) {
    for (const section of [match[1], match[2]]) {
      if (section !== undefined) found.push({ file, line: lineAt(match.index ?? 0), doc: 'protocol.md', section });
    }
  }
  return found;
}

/** `file:line` of every mention of a document outside the repository. */
export function forbiddenMentionsIn(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const name of FORBIDDEN_DOCUMENTS) if (line.includes(name)) out.push(`${file}:${i + 1}: ${name}`);
  });
  return out;
}

/**
 * Citations whose document or section does not exist, as `file:line: docs/x.md §id`, each once (a section in a
 * `docs/protocol.md` list is also read as a bare protocol section).
 */
export function brokenCitations(citations: readonly Citation[], docs: ReadonlyMap<string, Set<string>>): string[] {
  const broken = citations.filter((c) => !(docs.get(c.doc)?.has(c.section) ?? false)).map((c) => `${c.file}:${c.line}: docs/${c.doc} §${c.section}`);
  return [...new Set(broken)];
}

/** Reads every `docs/*.md` under `root` into its section ids. */
export function readDocs(root: string): Map<string, Set<string>> {
  const dir = path.join(root, 'docs');
  return new Map(
    readdirSync(dir)
      .filter((name) => name.endsWith('.md'))
      .map((name) => [name, sectionsOf(readFileSync(path.join(dir, name), 'utf8'))]),
  );
}
