/**
 * One roomrunner replica as a child process, for test/replicas: `node --import tsx test/replicas/replica-process.ts`.
 *
 * Settings come from the environment as in production (DATABASE_URL, with `?options=-c search_path=<schema>`
 * for a test schema; MESHAGENT_API_URL, MESHAGENT_SECRET, MESHAGENT_PROJECT_ID, MESHAGENT_WEBHOOK_SECRET,
 * ROOMRUNNER_REPLICA_ID, ROOMRUNNER_MAX_ROOMS, ROOMRUNNER_LEASE_MS, MESHAGENT_PORT, ...). Once listening it
 * prints one line `{"replica":{"id","url","pid"}}` on stdout (logs go to stderr); SIGTERM drains and exits 0.
 */
import { pino } from 'pino';
import { adder } from '../../agents/adder.js';
import { loadConfig } from '../../src/config.js';
import { RemoteTaskRunnerServer } from '../../src/orchestrator/runner-server.js';
import { openStore } from '../../src/store/open-store.js';

const config = loadConfig();
const logger = pino({ level: config.logLevel, name: `replica-${config.replicaId ?? 'unnamed'}` }, pino.destination(2));
const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log: logger });
const server = new RemoteTaskRunnerServer({ agents: [adder], store, config, logger, defaultMetrics: false });
const running = server.run();
const address = await server.start();
process.stdout.write(`${JSON.stringify({ replica: { id: server.replicaId, url: address.url, pid: process.pid } })}\n`);
await running;
await store.close();
process.exit(0);
