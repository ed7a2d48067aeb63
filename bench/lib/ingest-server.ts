/**
 * Child process for bench/ingest.ts: one HTTP server under load. `bare` is a plain fastify route that parses
 * the same JSON body and answers `{"ok":true}`; `memory`, `embedded` and `postgres` are a real WebhookServer
 * (verify, dedupe, ledger, acknowledge, then a hook that does nothing) on that store; `embedded` is the
 * default store in a fresh directory on disk, as `roomrunner serve` opens it (SQLite, every delivery fsynced). Logs go to stdout at
 * `info` as in production; the parent discards stdout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { serve } from './child-rpc.js';

export type IngestKind = 'bare' | 'memory' | 'embedded' | 'postgres';

export interface IngestStartArgs {
  readonly kind: IngestKind;
  readonly secret: string;
  /** For `postgres`: a URL whose search_path names a fresh schema. */
  readonly databaseUrl?: string;
  /** For `embedded`: `memory://`, or undefined for a fresh directory on disk (the default deployment). */
  readonly dataDir?: string;
}

let bare: FastifyInstance | undefined;
let server: WebhookServer | undefined;
let store: Store | undefined;
let dataDir: string | undefined;
let hooks = 0;

/** Which store answered: `bare`, `memory`, `sqlite (better-sqlite3)`, `sqlite (node:sqlite)`, `pglite`, `postgres`. */
function storeName(kind: IngestKind): string {
  if (kind === 'bare' || kind === 'memory') return kind;
  const opened = store as (Store & { engine?: string; database?: { driver?: string } }) | undefined;
  const engine = opened?.engine ?? kind;
  return opened?.database?.driver === undefined ? engine : `${engine} (${opened.database.driver})`;
}

async function start(args: IngestStartArgs): Promise<{ url: string; store: string }> {
  if (args.kind === 'bare') {
    bare = Fastify({ logger: false });
    bare.post('/webhook', async () => ({ ok: true }));
    await bare.listen({ port: 0, host: '127.0.0.1' });
    const address = bare.server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    return { url: `http://127.0.0.1:${address.port}/webhook`, store: 'bare' };
  }
  if (args.kind === 'memory') store = new MemoryStore();
  else if (args.kind === 'embedded') {
    if (args.dataDir === undefined) dataDir = mkdtempSync(join(tmpdir(), 'rr-bench-embedded-'));
    store = await openStore({ dataDir: args.dataDir ?? dataDir });
  } else store = await openStore({ databaseUrl: args.databaseUrl });
  // autocannon keeps sending on a keep-alive socket after the server's `Connection: close`, and Node answers
  // those requests 503: the per-socket request bound (ROOMRUNNER_MAX_REQUESTS_PER_SOCKET, 1000 by default, which
  // real clients honour by reconnecting) is off here, so every answer is the server's own.
  const config = loadConfig({ port: 0, host: '127.0.0.1', webhookSecrets: [args.secret], logLevel: 'info', logPretty: false, maxRequestsPerSocket: 0 }, {});
  server = new WebhookServer({
    config,
    store,
    // Ingest only: the hook does nothing, so no room is joined.
    onRoomStarted: async () => {
      hooks += 1;
    },
  });
  const address = await server.start();
  return { url: `${address.url}${server.path}`, store: storeName(args.kind) };
}

async function close(): Promise<void> {
  await bare?.close();
  await server?.close();
  await store?.close();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
}

serve(
  {
    start: (args: IngestStartArgs) => start(args),
    stats: async () => {
      await server?.idle();
      return { hooks, memory: process.memoryUsage(), cpu: process.cpuUsage() };
    },
  },
  close,
);
