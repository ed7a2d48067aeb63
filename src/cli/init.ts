/**
 * `roomrunner init [dir]`: scaffold a project whose `npm test` passes right away: package.json (ESM, scripts dev,
 * test, build), a strict tsconfig, an example agent in agents/, a harness test (node:test through tsx, calls
 * typed by agent name), the MeshAgent service manifests in deploy/ (external and container), a Dockerfile,
 * .gitignore and README. The files come from ./templates (copied beside dist/cli by the build; kept
 * as .txt so tsc leaves them alone). A directory that exists and is not empty is refused: nothing is overwritten.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RoomrunnerError } from '../errors.js';
import { formatHelp, parseFlags, reportFailure, UsageError, type FlagSpecs } from './args.js';
import type { Command } from './main.js';

const TEMPLATES_DIR = fileURLToPath(new URL('./templates/', import.meta.url));
// src/cli/ in a checkout and dist/cli/ in the package are both two levels below package.json.
const OWN_PACKAGE_JSON = new URL('../../package.json', import.meta.url);
/** Name of the example agent the templates define and test. */
export const EXAMPLE_AGENT_NAME = 'my.greeter';
/** The TypeScript the scaffold is checked with: the release scripts/consumer-check.sh type-checks it with. */
const TYPESCRIPT_RANGE = '^7.0.2';

const FLAGS = {} as const satisfies FlagSpecs;

interface OwnPackage {
  readonly version: string;
  readonly peerDependencies: Readonly<Record<string, string>>;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly devDependencies: Readonly<Record<string, string>>;
}

export const command: Command = {
  summary: 'scaffold a new project: an agent, a harness test, strict tsconfig, service manifests, Dockerfile',
  async run(argv) {
    try {
      // The one positional argument is the directory; everything else goes through the shared flag parser.
      const positionals = argv.filter((arg) => !arg.startsWith('-'));
      const parsed = parseFlags(
        argv.filter((arg) => arg.startsWith('-')),
        FLAGS,
      );
      if (parsed.help) {
        console.log(formatHelp('init [dir]', 'Scaffold a roomrunner project in dir (default: the current directory), which must be empty or absent.', FLAGS));
        return 0;
      }
      if (positionals.length > 1)
        throw new UsageError(`init takes one directory, got ${positionals.length}: ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
      const dir = path.resolve(positionals[0] ?? '.');
      const written = await scaffold(dir);
      const shown = path.relative(process.cwd(), dir) || '.';
      console.log(
        [
          `roomrunner init: created ${written.length} files in ${shown}`,
          '',
          ...(shown === '.' ? [] : [`  cd ${shown}`]),
          '  npm install',
          '  npm test        # the example agent, tested with the harness',
          '  npm run dev     # a local room with your agents',
        ].join('\n'),
      );
      return 0;
    } catch (error) {
      return reportFailure('init', error);
    }
  },
};

/**
 * Writes the project into `dir` (created if absent) and returns the paths written, relative to `dir`.
 * @throws RoomrunnerError `RR_INIT_DIR_NOT_EMPTY` when `dir` is a file or a directory with anything in it.
 */
export async function scaffold(dir: string): Promise<string[]> {
  await requireEmptyDir(dir);
  const own = JSON.parse(await readFile(OWN_PACKAGE_JSON, 'utf8')) as OwnPackage;
  const name = packageName(path.basename(dir));
  const values: Record<string, string> = { name, agentName: EXAMPLE_AGENT_NAME };
  const files = new Map<string, string>([['package.json', `${JSON.stringify(projectPackage(name, own), null, 2)}\n`]]);
  for (const template of await listTemplates(TEMPLATES_DIR)) {
    const text = await readFile(path.join(TEMPLATES_DIR, template), 'utf8');
    files.set(
      targetPath(template),
      text.replace(/\{\{(\w+)\}\}/g, (match, key: string) => values[key] ?? match),
    );
  }
  await mkdir(dir, { recursive: true });
  for (const [file, text] of files) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    // `wx`: never overwrite, even if something appeared in the directory since the check.
    await writeFile(path.join(dir, file), text, { flag: 'wx' });
  }
  return [...files.keys()];
}

function projectPackage(name: string, own: OwnPackage): Record<string, unknown> {
  return {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    engines: { node: '>=20' },
    scripts: {
      dev: 'roomrunner dev',
      test: 'tsc --noEmit -p . && node --import tsx --test test/*.test.ts',
      build: 'tsc -p tsconfig.build.json',
      start: 'roomrunner serve --agents dist/agents',
    },
    dependencies: { roomrunner: `^${own.version}`, zod: own.peerDependencies['zod'] },
    devDependencies: {
      '@types/node': own.devDependencies['@types/node'],
      tsx: own.dependencies['tsx'],
      typescript: TYPESCRIPT_RANGE,
    },
  };
}

async function requireEmptyDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) {
      throw new RoomrunnerError('RR_INIT_DIR_NOT_EMPTY', `${dir} exists and is not a directory: name a new or empty directory`, { data: { dir } });
    }
    entries = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (entries.length > 0) {
    const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? ', …' : '');
    throw new RoomrunnerError('RR_INIT_DIR_NOT_EMPTY', `${dir} is not empty (${shown}): name a new or empty directory, nothing was written`, {
      data: { dir, entries: entries.length },
    });
  }
}

async function listTemplates(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) found.push(...(await listTemplates(dir, relative)));
    else found.push(relative);
  }
  return found.sort();
}

/** `agents/greeter.ts.txt` → `agents/greeter.ts`; `gitignore.txt` → `.gitignore` (npm drops `.gitignore` files). */
function targetPath(template: string): string {
  const file = template.replace(/\.txt$/, '');
  return file === 'gitignore' ? '.gitignore' : file;
}

/** A valid npm package name from a directory name: lower case, letters, digits, `-`, `.` and `_`. */
function packageName(base: string): string {
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|-+$/g, '');
  return name === '' ? 'my-agents' : name;
}
