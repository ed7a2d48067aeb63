/**
 * The agents of a folder, kept current as files change (`roomrunner dev`). Every agent file is loaded under a
 * version (src/agents/module-versions.ts), so a reload runs it, and the local files it imports, afresh.
 *
 * {@link AgentReloader.reload} takes the files that changed (agent files or anything they import), loads again
 * each agent file they affect, and picks up agent files added or deleted in the folder. Each file stands on its
 * own: one that fails to load, or exports something that is not an agent, is reported with its location and
 * keeps its previous agents; the others go ahead. A reload that would leave two agents with one name is refused
 * as a whole (nothing changes).
 */
import path from 'node:path';
import { agentFiles, checkUniqueNames, loadAgentFile, type DiscoveredAgent } from '../agents/discover.js';
import type { Toolkit } from '../agents/define-agent.js';
import { ROOMRUNNER_CODE_DIR, type ModuleGraph } from '../agents/module-versions.js';
import { locateError, type LocatedError } from './error-location.js';
import { errorMessage } from '../util/error-message.js';

/** A file that did not load; its previous agents (if any) are still the ones served. */
export interface ReloadFailure extends LocatedError {
  /** The agent file that was being loaded. */
  readonly file: string;
}

export interface ReloadResult {
  /** Every agent now, by file then export name. */
  readonly agents: readonly Toolkit[];
  /** Agent files loaded again (or for the first time) with success. */
  readonly loaded: readonly string[];
  /** Agent files gone from the folder; their agents are dropped. */
  readonly deleted: readonly string[];
  readonly failures: readonly ReloadFailure[];
  /** True when nothing changed in the agents served (every affected file failed, or none was affected). */
  readonly unchanged: boolean;
}

export interface AgentReloaderOptions {
  readonly dir: string;
  readonly graph: ModuleGraph;
}

export class AgentReloader {
  readonly #dir: string;
  readonly #graph: ModuleGraph;
  #version = 0;
  /** The agents of each agent file that loaded, last good version. */
  #byFile = new Map<string, DiscoveredAgent[]>();

  constructor(options: AgentReloaderOptions) {
    this.#dir = path.resolve(options.dir);
    this.#graph = options.graph;
  }

  /** The agents folder (absolute). */
  get dir(): string {
    return this.#dir;
  }

  /** Every file the agents are made of: the agent files and the local files they import. */
  watchedFiles(): Set<string> {
    const files = new Set<string>(this.#byFile.keys());
    for (const file of this.#byFile.keys()) for (const dependency of this.#graph.dependencies(file)) files.add(dependency);
    return files;
  }

  /** The agents now, by file then export name. */
  agents(): DiscoveredAgent[] {
    return [...this.#byFile.keys()].sort().flatMap((file) => this.#byFile.get(file) ?? []);
  }

  /**
   * First load: every agent file. Throws as discoverAgents does (the first failure, or two agents with one
   * name): there is no previous version to keep serving.
   */
  async loadAll(): Promise<DiscoveredAgent[]> {
    this.#version += 1;
    const byFile = new Map<string, DiscoveredAgent[]>();
    for (const file of await agentFiles(this.#dir)) byFile.set(file, await loadAgentFile(file, { version: this.#version }));
    const all = [...byFile.values()].flat();
    checkUniqueNames(all);
    this.#byFile = byFile;
    return all;
  }

  /** Load again what `changed` (absolute paths) affects; see the file comment. Never throws for a bad agent file. */
  async reload(changed: readonly string[]): Promise<ReloadResult> {
    const files = await agentFiles(this.#dir);
    const present = new Set(files);
    const changedSet = new Set(changed.map((file) => path.resolve(file)));
    const deleted = [...this.#byFile.keys()].filter((file) => !present.has(file));
    const affected = files.filter((file) => {
      if (!this.#byFile.has(file) || changedSet.has(file)) return true;
      for (const dependency of this.#graph.dependencies(file)) if (changedSet.has(dependency)) return true;
      return false;
    });
    this.#version += 1;
    const next = new Map(this.#byFile);
    for (const file of deleted) next.delete(file);
    const loaded: string[] = [];
    const failures: ReloadFailure[] = [];
    for (const file of affected) {
      try {
        next.set(file, await loadAgentFile(file, { version: this.#version }));
        loaded.push(file);
      } catch (error) {
        failures.push({ file, ...locateError(error, file, [ROOMRUNNER_CODE_DIR]) });
      }
    }
    const all = [...next.keys()].sort().flatMap((file) => next.get(file) ?? []);
    try {
      checkUniqueNames(all);
    } catch (error) {
      const file = (error as { data?: { file?: string } }).data?.file ?? loaded[0] ?? this.#dir;
      return {
        agents: this.agents().map((a) => a.toolkit),
        loaded: [],
        deleted: [],
        failures: [...failures, { file, location: { file }, message: errorMessage(error) }],
        unchanged: true,
      };
    }
    this.#byFile = next;
    return { agents: all.map((a) => a.toolkit), loaded, deleted, failures, unchanged: loaded.length === 0 && deleted.length === 0 };
  }
}
