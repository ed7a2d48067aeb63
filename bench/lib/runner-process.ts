/**
 * Child process for bench/attach-storm.ts: either a RemoteTaskRunnerServer (the system under test) on a
 * chosen store, or the baseline — raw room connections that each send one `register_toolkit` straight to the
 * emulator with our RoomConnection/RoomClient, no webhook, no store, no orchestrator.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adder } from '../../agents/adder.js';
import { toolkitRegistration } from '../../src/agents/host.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { RoomConnection } from '../../src/room/connection.js';
import { RoomClient } from '../../src/room/room-client.js';
import { mintParticipantToken } from '../../src/auth/token.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import type { HookContext } from '../../src/server/webhook-server.js';
import type { RoomStartedEvent } from '../../src/webhooks/events.js';
import { fileURLToPath } from 'node:url';
import { RoomWorkers, roomWorkerData } from '../../src/orchestrator/room-workers.js';
import { serve } from './child-rpc.js';

/** The repository's agents folder: what each room worker thread loads (the Adder among them). */
const AGENTS_DIR = fileURLToPath(new URL('../../agents', import.meta.url));
import { instrumentStore, type MethodStats } from './instrument.js';

export type StoreKind = 'memory' | 'embedded' | 'postgres';

export interface RunnerStartArgs {
  readonly store: StoreKind;
  readonly databaseUrl?: string;
  /** Emulator base URL (http://…). */
  readonly apiUrl: string;
  readonly secret: string;
  readonly webhookSecret: string;
  readonly maxRooms: number;
  readonly logLevel?: string;
  /** Room worker threads (ROOMRUNNER_ROOM_WORKERS); 0 or absent: rooms in the server's thread. */
  readonly roomWorkers?: number;
}

/** Records when each room.started reached its hook (after verify, ledger and the 200). */
class TimedRunner extends RemoteTaskRunnerServer {
  readonly hookAt = new Map<string, number>();

  override async onRoomStarted(event: RoomStartedEvent, context: HookContext): Promise<void> {
    this.hookAt.set(event.roomName, Date.now());
    return super.onRoomStarted(event, context);
  }
}

let server: TimedRunner | undefined;
let store: Store | undefined;
let dataDir: string | undefined;
let storeStats: (() => Record<string, MethodStats>) | undefined;
const raw: RoomConnection[] = [];

async function openBenchStore(kind: StoreKind, databaseUrl: string | undefined): Promise<Store> {
  if (kind === 'memory') return new MemoryStore();
  if (kind === 'embedded') {
    dataDir = mkdtempSync(join(tmpdir(), 'rr-bench-storm-'));
    return openStore({ dataDir });
  }
  return openStore({ databaseUrl });
}

const handlers = {
  cpu: () => process.cpuUsage(),

  async start(args: RunnerStartArgs) {
    const instrumented = instrumentStore(await openBenchStore(args.store, args.databaseUrl));
    store = instrumented.store;
    storeStats = instrumented.stats;
    const config = loadConfig(
      {
        secret: args.secret,
        apiUrl: args.apiUrl,
        webhookSecrets: [args.webhookSecret],
        port: 0,
        host: '127.0.0.1',
        logLevel: (args.logLevel ?? 'info') as 'info',
        logPretty: false,
        maxRooms: args.maxRooms,
        // No project id: reconciliation stays off, so every room is attached by its webhook.
        reconcileIntervalMs: 0,
        drainTimeoutMs: 2_000,
      },
      {},
    );
    const roomWorkers =
      (args.roomWorkers ?? 0) > 0
        ? await RoomWorkers.start({
            count: args.roomWorkers ?? 0,
            data: roomWorkerData(config, AGENTS_DIR),
            logger: silentLogger(),
          })
        : undefined;
    server = new TimedRunner({ agents: [adder], config, store, maxRooms: args.maxRooms, ...(roomWorkers ? { roomWorkers } : {}) });
    const address = await server.start();
    return { url: `${address.url}${server.path}`, engine: (store as { engine?: string }).engine ?? 'memory' };
  },

  /** Per room: when the ledger received its room.started, and when its hook ran. */
  async received() {
    if (!server || !store) throw new Error('not started');
    await server.idle();
    const deliveries = await store.listDeliveries({ event: 'room.started', limit: 1_000_000 });
    const out: Record<string, { receivedAt: number; hookAt: number | null; result: string }> = {};
    for (const d of deliveries)
      if (d.room !== null) out[d.room] = { receivedAt: d.receivedAt.getTime(), hookAt: server.hookAt.get(d.room) ?? null, result: d.result };
    return out;
  },

  status() {
    if (!server) throw new Error('not started');
    const states: Record<string, number> = {};
    const errors: string[] = [];
    for (const s of server.attachments.status()) {
      states[s.state] = (states[s.state] ?? 0) + 1;
      if (s.lastError !== null && errors.length < 5) errors.push(`${s.room}: ${s.lastError}`);
      if (s.attempts > 1) states['retried'] = (states['retried'] ?? 0) + 1;
    }
    return { states, errors, store: storeStats?.() ?? {}, replica: server.replicaId };
  },

  /**
   * The baseline: `names.length` connections started `spreadMs` apart in total, each registering the Adder's
   * toolkit once. Resolves with each room's start time once all have finished (or failed).
   */
  async rawStorm(args: { wsUrl: string; names: string[]; spreadMs: number; secret: string }) {
    const starts: Record<string, number> = {};
    const failures: string[] = [];
    const registration = toolkitRegistration(adder);
    const t0 = Date.now();
    const work: Array<Promise<void>> = [];
    for (let i = 0; i < args.names.length; i++) {
      const room = args.names[i] as string;
      const due = t0 + (args.spreadMs * i) / args.names.length;
      const wait = due - Date.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      starts[room] = Date.now();
      const connection = new RoomConnection({
        url: `${args.wsUrl}/rooms/${room}`,
        token: () => mintParticipantToken({ name: 'raw', room, role: 'agent', secret: args.secret }),
        logger: silentLogger(),
      });
      raw.push(connection);
      const client = new RoomClient(connection);
      work.push(
        (async () => {
          await connection.start();
          await client.registerToolkit(registration);
        })().catch((error: unknown) => {
          failures.push(`${room}: ${error instanceof Error ? error.message : String(error)}`);
        }),
      );
    }
    await Promise.all(work);
    return { starts, failures };
  },
};

serve(handlers, async () => {
  await Promise.race([
    (async () => {
      await server?.close();
      await Promise.all(raw.map((c) => c.close(1000, 'bench done')));
      await store?.close();
    })(),
    new Promise((resolve) => setTimeout(resolve, 10_000)),
  ]);
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});
