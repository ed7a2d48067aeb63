/**
 * The worker thread of a `ThreadedSqliteStore`: it owns the SQLite connection, so the database's work — the
 * statements and, above all, the fsync of each group commit — runs here instead of on the thread that answers
 * webhooks. It opens the directory as `openStore` does (the directory lock, the PGlite migration, the
 * durability pragmas), then runs the stores' methods as they are asked for, in order of arrival; writes that
 * arrive while a commit's fsync runs are queued and share the next one.
 */
import { Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { serializeError } from '../util/threads.js';
import { migratePgliteDirectory } from './pglite-migration.js';
import { SqliteStore } from './sqlite-store.js';
import type { FromSqliteThread, SqliteThreadData, ToSqliteThread } from './sqlite-thread-protocol.js';

const port = parentPort;
if (port === null) throw new Error('sqlite-thread.ts runs as a worker thread');
const post = (message: FromSqliteThread): void => port.postMessage(message);

/** Start-up lines (the PGlite migration's) go to the caller's logger, one message per line. */
const log = pino(
  { level: 'info', base: null, timestamp: false },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') post({ ev: 'log', line });
      done();
    },
  }),
);

async function main(): Promise<void> {
  const { dataDir } = workerData as SqliteThreadData;
  const first = await SqliteStore.open({ dataDir, beforeOpen: async (dir) => void (await migratePgliteDirectory(dir, log)) });
  const stores = new Map<number, SqliteStore>([[0, first]]);
  let nextStore = 1;
  await first.onRoomsChanged((room) => post({ ev: 'rooms-changed', room }));

  port!.on('message', (message: ToSqliteThread) => {
    void handle(message);
  });
  post({ ev: 'ready', info: { path: first.database.path, driver: first.database.driver, pragmas: first.database.pragmas } });

  async function handle(message: ToSqliteThread): Promise<void> {
    try {
      if (message.op === 'peer') {
        const peer = await SqliteStore.open({ database: first.database });
        const id = nextStore++;
        stores.set(id, peer);
        post({ ev: 'reply', req: message.req, ok: true, value: id });
        return;
      }
      const store = stores.get(message.store);
      if (message.op === 'close') {
        stores.delete(message.store);
        await store?.close();
        post({ ev: 'reply', req: message.req, ok: true, value: undefined });
        if (stores.size === 0) port!.close();
        return;
      }
      if (store === undefined) throw new Error(`no store ${message.store} in this thread`);
      const method = (store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[message.method];
      if (typeof method !== 'function' || !THREADED_METHODS.has(message.method)) throw new Error(`SqliteStore has no method ${message.method}`);
      const value = await method.apply(store, [...message.args]);
      post({ ev: 'reply', req: message.req, ok: true, value });
    } catch (error) {
      post({ ev: 'reply', req: message.req, ok: false, error: serializeError(error) });
    }
  }
}

/** Every method the caller may ask for: the store's own, not onRoomsChanged and close (they have messages). */
const THREADED_METHODS = new Set(
  Object.getOwnPropertyNames(SqliteStore.prototype).filter(
    (name) =>
      name !== 'constructor' &&
      name !== 'close' &&
      name !== 'onRoomsChanged' &&
      typeof Object.getOwnPropertyDescriptor(SqliteStore.prototype, name)?.value === 'function',
  ),
);

main().catch((error: unknown) => {
  post({ ev: 'start-failed', error: serializeError(error) });
  port.close();
});
