/**
 * Watches the folders of a set of files and reports saves, debounced (`roomrunner dev`).
 *
 * Folders are watched, not files: editors often save by writing a temporary file and renaming it over the old
 * one, which ends a watch on the file itself. A burst of events (one save is several events; a formatter may save
 * again right after) is reported once, `debounceMs` after the last event, with every file it touched. Editor
 * temporaries and backups (`.#x`, `#x#`, `x~`, `.x.swp`, vim's `4913`, JetBrains' `___jb_tmp___`) and files
 * that are not code are ignored.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { NODE_TIMERS, type Timers } from '../room/timers.js';

/** Quiet time after the last event before a save is reported. */
export const DEFAULT_DEBOUNCE_MS = 150;

const CODE = /\.(m?[jt]s|c[jt]s|tsx|jsx|json)$/;
const TEMPORARY = /(^\.|^#.*#$|~$|\.sw[a-p]$|\.tmp$|___jb_(tmp|old)___$|^4913$)/;

/** True for a file name an editor writes only while saving (or as a backup), never as code. */
export function isEditorTemporary(name: string): boolean {
  return TEMPORARY.test(name);
}

/** The `fs.watch` the watcher uses; injected in tests. */
export type WatchFolder = (dir: string, listener: (event: string, name: string | null) => void) => Pick<FSWatcher, 'close' | 'on'>;

export interface FileWatcherOptions {
  /** Called with the changed files (absolute paths, sorted), once per burst. */
  readonly onChange: (files: string[]) => void;
  /** Which changed files count (besides the name filter above), e.g. new agent files in the agents folder. */
  readonly accept: (file: string) => boolean;
  /** Called when a folder cannot be watched (it was removed, or watching is not allowed). */
  readonly onError?: (dir: string, error: Error) => void;
  readonly debounceMs?: number;
  readonly timers?: Timers;
  readonly watch?: WatchFolder;
}

export class FileWatcher {
  readonly #options: FileWatcherOptions;
  readonly #timers: Timers;
  readonly #watch: WatchFolder;
  readonly #folders = new Map<string, Pick<FSWatcher, 'close' | 'on'>>();
  readonly #pending = new Set<string>();
  #timer: unknown;
  #closed = false;

  constructor(options: FileWatcherOptions) {
    this.#options = options;
    this.#timers = options.timers ?? NODE_TIMERS;
    this.#watch = options.watch ?? ((dir, listener) => fsWatch(dir, { persistent: true }, listener));
  }

  /** Watch the folders of `files` and the folders in `dirs`; folders no longer needed are let go. */
  watch(files: Iterable<string>, dirs: Iterable<string> = []): void {
    if (this.#closed) return;
    const wanted = new Set<string>([...dirs].map((dir) => path.resolve(dir)));
    for (const file of files) wanted.add(path.dirname(path.resolve(file)));
    for (const [dir, watcher] of this.#folders) {
      if (wanted.has(dir)) continue;
      watcher.close();
      this.#folders.delete(dir);
    }
    for (const dir of wanted) {
      if (this.#folders.has(dir)) continue;
      try {
        const watcher = this.#watch(dir, (_event, name) => this.#saw(dir, name));
        watcher.on('error', (error: Error) => this.#options.onError?.(dir, error));
        this.#folders.set(dir, watcher);
      } catch (error) {
        this.#options.onError?.(dir, error as Error);
      }
    }
  }

  /** Folders watched now. */
  folders(): string[] {
    return [...this.#folders.keys()].sort();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const watcher of this.#folders.values()) watcher.close();
    this.#folders.clear();
    this.#pending.clear();
  }

  #saw(dir: string, name: string | null): void {
    if (this.#closed || name === null) return;
    const base = path.basename(name);
    if (isEditorTemporary(base) || !CODE.test(base)) return;
    const file = path.join(dir, name);
    if (!this.#options.accept(file)) return;
    this.#pending.add(file);
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => this.#flush(), this.#options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#closed || this.#pending.size === 0) return;
    const files = [...this.#pending].sort();
    this.#pending.clear();
    this.#options.onChange(files);
  }
}
