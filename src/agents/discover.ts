/**
 * Finds agents in a folder (`agents/` by default). Every `.ts`, `.mts`, `.js` and `.mjs` file directly in it is
 * imported (TypeScript natively where Node strips types, else through tsx: see ./load-module.ts; no build step);
 * files named `*.test.*`, `*.d.ts` or starting with `_` or `.` are skipped. Every runtime export of a file must
 * be an agent: a `defineAgent`/`defineToolkit` value, a `TypedAgent` instance, or a `TypedAgent` subclass
 * (constructed with no arguments). Anything else, a file that fails to load, or two agents with one name is a
 * start-up error that names the file and export.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { RoomrunnerError } from '../errors.js';
import { importModule, loadHint, type ImportOptions } from './load-module.js';
import { isToolkit, type Toolkit } from './define-agent.js';
import { TypedAgent } from './class-agent.js';
import { errorMessage } from '../util/error-message.js';

const LOADABLE = /\.(m?ts|m?js)$/;
const SKIPPED = /(\.test\.|\.spec\.|\.d\.ts$)/;

export interface DiscoveredAgent {
  readonly toolkit: Toolkit;
  readonly file: string;
  readonly exportName: string;
}

/** Load every agent in `dir`, sorted by file then export name. */
export async function discoverAgents(dir: string): Promise<DiscoveredAgent[]> {
  const found: DiscoveredAgent[] = [];
  for (const file of await agentFiles(dir)) found.push(...(await loadAgentFile(file)));
  checkUniqueNames(found);
  return found;
}

/** The agent files directly in `dir` (absolute paths, sorted), by the naming rules above. */
export async function agentFiles(dir: string): Promise<string[]> {
  const absolute = path.resolve(dir);
  let entries: string[];
  try {
    entries = (await readdir(absolute, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (cause) {
    throw new RoomrunnerError('RR_AGENT_DISCOVERY_FAILED', `cannot read the agents folder ${absolute}: set --agents to a folder of agent files`, { cause });
  }
  return entries
    .filter(isAgentFileName)
    .sort()
    .map((name) => path.join(absolute, name));
}

/** True when a file of this name (no folder) is loaded as an agent file. */
export function isAgentFileName(name: string): boolean {
  return LOADABLE.test(name) && !SKIPPED.test(name) && !name.startsWith('_') && !name.startsWith('.');
}

/**
 * The agents of one file, sorted by export name. `options.version` loads it afresh (./module-versions.ts).
 * @throws RoomrunnerError RR_AGENT_DISCOVERY_FAILED when it fails to load or exports something else (the cause
 * is the import's own error, which carries the line where the loader gives one).
 */
export async function loadAgentFile(file: string, options: ImportOptions = {}): Promise<DiscoveredAgent[]> {
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(file, options);
  } catch (cause) {
    const why = errorMessage(cause);
    const hint = loadHint(cause);
    throw new RoomrunnerError('RR_AGENT_DISCOVERY_FAILED', `${file} failed to load: ${why}${hint === undefined ? '' : ` (${hint})`}`, {
      cause,
      data: { file },
    });
  }
  return Object.entries(mod)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([exportName, value]) => ({ toolkit: toToolkit(value, file, exportName), file, exportName }));
}

/** Check that no two agents share a name; the error names both places. */
export function checkUniqueNames(agents: readonly DiscoveredAgent[]): void {
  const seen = new Map<string, DiscoveredAgent>();
  for (const agent of agents) {
    const previous = seen.get(agent.toolkit.name);
    if (previous) {
      throw new RoomrunnerError(
        'RR_AGENT_DUPLICATE_NAME',
        `two agents are named "${agent.toolkit.name}": ${previous.file} (export ${previous.exportName}) and ${agent.file} (export ${agent.exportName})`,
        { data: { name: agent.toolkit.name } },
      );
    }
    seen.set(agent.toolkit.name, agent);
  }
}

function toToolkit(value: unknown, file: string, exportName: string): Toolkit {
  if (isToolkit(value)) return value;
  if (typeof value === 'function' && value.prototype instanceof TypedAgent) {
    const instance: unknown = new (value as new () => unknown)();
    if (isToolkit(instance)) return instance;
  }
  const kind = value === null ? 'null' : typeof value === 'function' ? 'a function' : typeof value;
  throw new RoomrunnerError(
    'RR_AGENT_DISCOVERY_FAILED',
    `${file} exports "${exportName}", which is ${kind}, not an agent: export only values made by defineAgent/defineToolkit or TypedAgent subclasses (move helpers to a file whose name starts with "_")`,
    { data: { file, exportName } },
  );
}
