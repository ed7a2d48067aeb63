/**
 * The SQLite store with its database on a worker thread (./sqlite-thread.ts): the embedded default of
 * `openStore` for a data directory. Each method is a message to the thread and its reply, so the statements and
 * each group commit's fsync run beside the event loop that answers webhooks, not on it: requests go on being
 * read, verified and answered while the disk syncs, and the writes that arrive meanwhile share the next commit.
 * Same contract, same file and same durability as `SqliteStore` (test/store/contract.ts runs on both).
 *
 * If the thread dies, every call in flight and every later call rejects with RR_STORE_UNAVAILABLE (HTTP 503: the
 * sender retries), and `ping` says so to /readyz; what was committed is on disk.
 */
import type { Worker } from 'node:worker_threads';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { deserializeError, startModuleWorker } from '../util/threads.js';
import type { RoomsChangedListener } from './coordinator.js';
import type { FromSqliteThread, SqliteThreadData, SqliteThreadInfo, ToSqliteThread } from './sqlite-thread-protocol.js';
import { SqliteStore } from './sqlite-store.js';

/** Every method of SqliteStore but the two with their own messages, as a call to the thread. */
type Methods = Omit<SqliteStore, 'database' | 'engine' | 'closed' | 'close' | 'onRoomsChanged'>;

export interface ThreadedSqliteStoreOptions {
  /** The data directory (the file is `<dir>/roomrunner.sqlite`). */
  readonly dataDir: string;
  /** Where the thread's start-up lines go (the PGlite migration's). */
  readonly log?: Logger | undefined;
}

/** The thread and what every store on it shares: the pending replies and the change listeners. */
class SqliteThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  readonly #listeners = new Set<RoomsChangedListener>();
  #nextReq = 1;
  #failure: Error | undefined;
  #exited = false;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (message: FromSqliteThread) => {
      if (message.ev === 'reply') {
        const pending = this.#pending.get(message.req);
        this.#pending.delete(message.req);
        this.#idleUnref();
        if (message.ok) pending?.resolve(message.value);
        else pending?.reject(deserializeError(message.error));
      } else if (message.ev === 'rooms-changed') {
        for (const listener of [...this.#listeners]) {
          try {
            void Promise.resolve(listener(message.room)).catch(() => undefined);
          } catch {
            // A listener's failure is its own; the others still hear of the change.
          }
        }
      }
    });
    worker.on('error', (error) =>
      this.#fail(new RoomrunnerError('RR_STORE_UNAVAILABLE', `the SQLite store's thread failed: ${error.message}`, { cause: error })),
    );
    worker.on('exit', (code) => {
      this.#exited = true;
      this.#fail(new RoomrunnerError('RR_STORE_UNAVAILABLE', `the SQLite store's thread exited (code ${code})`));
    });
    worker.unref();
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  request(message: (req: number) => ToSqliteThread): Promise<unknown> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const req = this.#nextReq++;
    return new Promise((resolve, reject) => {
      // A call in flight keeps the process alive until it is answered; an idle thread does not.
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(req, { resolve, reject });
      this.#worker.postMessage(message(req));
    });
  }

  listen(listener: RoomsChangedListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves once the thread has exited (after the last store closed). */
  async exited(): Promise<void> {
    if (this.#exited) return;
    await new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
  }

  #idleUnref(): void {
    if (this.#pending.size === 0) this.#worker.unref();
  }

  #fail(error: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const { reject } of pending) reject(error);
  }
}

/** Store + Coordinator over a SQLite database owned by a worker thread; see the file's comment. */
export class ThreadedSqliteStore {
  /** Where the database is, which driver opened it and its pragmas as read back. */
  readonly database: SqliteThreadInfo;
  readonly #thread: SqliteThread;
  readonly #store: number;
  readonly #unlisten = new Set<() => void>();
  #closed = false;

  private constructor(thread: SqliteThread, store: number, info: SqliteThreadInfo) {
    this.#thread = thread;
    this.#store = store;
    this.database = info;
  }

  /** Starts the thread, which locks the directory, migrates a PGlite store there, and opens the file. */
  static async open(options: ThreadedSqliteStoreOptions): Promise<ThreadedSqliteStore & Methods> {
    const worker = startModuleWorker(import.meta.url, 'sqlite-thread', { dataDir: options.dataDir } satisfies SqliteThreadData);
    const info = await new Promise<SqliteThreadInfo>((resolve, reject) => {
      const onMessage = (message: FromSqliteThread): void => {
        if (message.ev === 'log') relay(options.log, message.line);
        else if (message.ev === 'ready' || message.ev === 'start-failed') {
          worker.off('message', onMessage);
          worker.off('exit', onExit);
          if (message.ev === 'ready') resolve(message.info);
          else reject(deserializeError(message.error));
        }
      };
      const onExit = (code: number): void =>
        reject(new RoomrunnerError('RR_STORE_UNAVAILABLE', `the SQLite store's thread exited while opening (code ${code})`));
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      worker.once('error', reject);
    });
    return new ThreadedSqliteStore(new SqliteThread(worker), 0, info) as ThreadedSqliteStore & Methods;
  }

  /** `sqlite`. */
  get engine(): string {
    return 'sqlite';
  }

  get closed(): boolean {
    return this.#closed || this.#thread.failed;
  }

  /** Another store on the same database and thread (another "replica" in this process, as in tests). */
  async peer(): Promise<ThreadedSqliteStore & Methods> {
    const store = (await this.#thread.request((req) => ({ op: 'peer', req }))) as number;
    return new ThreadedSqliteStore(this.#thread, store, this.database) as ThreadedSqliteStore & Methods;
  }

  /** Changes committed by any store on this database, after their commit; null means "several". */
  async onRoomsChanged(listener: RoomsChangedListener): Promise<() => Promise<void>> {
    this.#assertOpen();
    const unlisten = this.#thread.listen(listener);
    this.#unlisten.add(unlisten);
    return async () => {
      this.#unlisten.delete(unlisten);
      unlisten();
    };
  }

  /** Idempotent; writes accepted before it are committed first; the thread exits when its last store closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const unlisten of this.#unlisten) unlisten();
    this.#unlisten.clear();
    if (this.#thread.failed) return;
    await this.#thread.request((req) => ({ op: 'close', req, store: this.#store }));
  }

  /** Resolves once the thread has exited (for tests: after the last store on it closed, the lock is gone). */
  exited(): Promise<void> {
    return this.#thread.exited();
  }

  /** One call on the thread. */
  call(method: keyof Methods, args: readonly unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the SQLite store is closed'));
    return this.#thread.request((req) => ({ op: 'call', req, store: this.#store, method, args }));
  }

  #assertOpen(): void {
    if (this.#closed) throw new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the SQLite store is closed');
  }
}

// Each of SqliteStore's methods, as a call on the thread.
for (const name of Object.getOwnPropertyNames(SqliteStore.prototype)) {
  if (name === 'constructor' || name === 'close' || name === 'onRoomsChanged') continue;
  if (typeof Object.getOwnPropertyDescriptor(SqliteStore.prototype, name)?.value !== 'function') continue;
  Object.defineProperty(ThreadedSqliteStore.prototype, name, {
    value(this: ThreadedSqliteStore, ...args: unknown[]) {
      return this.call(name as keyof Methods, args);
    },
    writable: true,
    configurable: true,
  });
}

/** A pino line from the thread, logged again on the caller's logger at its level. */
function relay(log: Logger | undefined, line: string): void {
  let entry: { level?: number; msg?: string } & Record<string, unknown>;
  try {
    entry = JSON.parse(line) as typeof entry;
  } catch {
    return;
  }
  const { level = 30, msg = '', ...fields } = entry;
  if (log === undefined) {
    if (level >= 40) process.emitWarning(msg, { code: 'RR_STORE' });
    return;
  }
  if (level >= 50) log.error(fields, msg);
  else if (level >= 40) log.warn(fields, msg);
  else log.info(fields, msg);
}
