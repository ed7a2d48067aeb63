/**
 * The save → reload → re-register loop of `roomrunner dev`. It watches the agents folder and every local file the
 * agents import (./file-watcher.ts), reloads what a save affects (./agent-reloader.ts) and hands the new agents
 * to every attached room over its own connection (RoomAttachments.replaceToolkits): no room connection is
 * dropped, and calls in flight finish on the code they started with. Reloads run one at a time; saves made during
 * one are gathered into the next. Each outcome is one human line (a failure says where, and that the previous
 * version keeps serving).
 */
import path from 'node:path';
import type { Toolkit } from '../agents/define-agent.js';
import { isAgentFileName } from '../agents/discover.js';
import type { ModuleGraph } from '../agents/module-versions.js';
import type { RoomToolkitsReplaced } from '../orchestrator/attachments.js';
import type { Timers } from '../room/timers.js';
import type { AgentReloader } from './agent-reloader.js';
import { formatLocation } from './error-location.js';
import { FileWatcher, type WatchFolder } from './file-watcher.js';
import { errorMessage } from '../util/error-message.js';

export interface ReloadLoopOptions {
  readonly reloader: AgentReloader;
  readonly graph: ModuleGraph;
  /** Host these agents in every room from now on (RoomAttachments.replaceToolkits). */
  readonly replace: (agents: readonly Toolkit[]) => Promise<RoomToolkitsReplaced[]>;
  readonly say: (line: string) => void;
  /** How a path is shown (relative to the working folder). */
  readonly show: (file: string) => string;
  readonly debounceMs?: number;
  readonly timers?: Timers;
  readonly watch?: WatchFolder;
  readonly now?: () => number;
}

export class ReloadLoop {
  readonly #options: ReloadLoopOptions;
  readonly #watcher: FileWatcher;
  readonly #unsubscribe: () => void;
  readonly #queued = new Set<string>();
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(options: ReloadLoopOptions) {
    this.#options = options;
    const { reloader } = options;
    this.#watcher = new FileWatcher({
      accept: (file) => reloader.watchedFiles().has(file) || (path.dirname(file) === reloader.dir && isAgentFileName(path.basename(file))),
      onChange: (files) => this.#enqueue(files),
      onError: (dir, error) => options.say(`roomrunner dev: cannot watch ${options.show(dir)}: ${error.message}`),
      ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
      ...(options.timers === undefined ? {} : { timers: options.timers }),
      ...(options.watch === undefined ? {} : { watch: options.watch }),
    });
    // The loader reports imports as they happen (on Node 20–22 just after the import): watch their folders too.
    this.#unsubscribe = options.graph.subscribe(() => this.#rewatch());
    this.#rewatch();
  }

  /** Folders watched now. */
  folders(): string[] {
    return this.#watcher.folders();
  }

  /** Resolves when no reload is running or queued. */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#watcher.close();
  }

  #rewatch(): void {
    if (this.#closed) return;
    this.#watcher.watch(this.#options.reloader.watchedFiles(), [this.#options.reloader.dir]);
  }

  #enqueue(files: readonly string[]): void {
    for (const file of files) this.#queued.add(file);
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
  }

  async #drain(): Promise<void> {
    while (this.#queued.size > 0 && !this.#closed) {
      const files = [...this.#queued];
      this.#queued.clear();
      try {
        await this.#reload(files);
      } catch (error) {
        this.#options.say(`roomrunner dev: reload failed: ${errorMessage(error)}`);
      }
      this.#rewatch();
    }
  }

  async #reload(files: readonly string[]): Promise<void> {
    const { reloader, say, show } = this.#options;
    const now = this.#options.now ?? Date.now;
    const started = now();
    const before = new Set(reloader.agents().map((a) => a.toolkit.name));
    const result = await reloader.reload(files);
    for (const failure of result.failures) {
      say(`roomrunner dev: reload failed: ${formatLocation(failure.location, show)}: ${failure.message}`);
      say(`roomrunner dev:   ${show(failure.file)} keeps its previous version`);
    }
    if (result.unchanged) return;
    const rooms = await this.#options.replace(result.agents);
    const after = new Set(result.agents.map((a) => a.name));
    const reloadedAgents = reloader
      .agents()
      .filter((a) => result.loaded.includes(a.file) && before.has(a.toolkit.name))
      .map((a) => a.toolkit.name);
    const parts: string[] = [];
    if (result.loaded.length > 0)
      parts.push(`reloaded ${result.loaded.map(show).join(', ')}${reloadedAgents.length > 0 ? ` (${reloadedAgents.join(', ')})` : ''}`);
    const added = [...after].filter((name) => !before.has(name));
    const removed = [...before].filter((name) => !after.has(name));
    if (added.length > 0) parts.push(`added ${added.join(', ')}`);
    if (removed.length > 0) parts.push(`removed ${removed.join(', ')}`);
    const live = rooms.filter((r) => r.outcome === 'replaced').length;
    say(`roomrunner dev: ${parts.join('; ')} — ${live} room(s) updated in ${now() - started} ms`);
    for (const room of rooms) {
      if (room.outcome === 'failed') say(`roomrunner dev: room "${room.room}" was not fully updated: ${room.error}`);
    }
  }
}
