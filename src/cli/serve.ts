/**
 * `roomrunner serve`: the webhook server and orchestrator from configuration (env vars, flags), with the agents
 * in the agents folder and the store from DATABASE_URL (PostgreSQL) or the embedded store (SQLite) in
 * ROOMRUNNER_DATA_DIR. Drains on SIGINT/SIGTERM; a second signal exits at once.
 */
import { discoverAgents } from '../agents/discover.js';
import { createLogger } from '../logger.js';
import { openStore } from '../store/open-store.js';
import { assertWebhookSecret } from '../server/receiver.js';
import { createRoomrunner } from '../roomrunner.js';
import { RoomWorkers, roomWorkerData } from '../orchestrator/room-workers.js';
import { formatHelp, parseFlags, reportFailure } from './args.js';
import { ALL_SETTING_FLAGS, configFromFlags, settingFlags } from './config-flags.js';
import type { Command } from './main.js';
import { logUnhandledRejections, waitForSignal } from './signals.js';

/** Every setting that has a flag: `serve` is configured by all of them. */
export const SERVE_FLAGS = settingFlags(ALL_SETTING_FLAGS);

export const command: Command = {
  summary: 'run the webhook server and orchestrator (the production entry point)',
  async run(argv) {
    try {
      const parsed = parseFlags(argv, SERVE_FLAGS);
      if (parsed.help) {
        console.log(formatHelp('serve', 'Receive MeshAgent webhooks and attach the agents to every room that starts.', SERVE_FLAGS));
        return 0;
      }
      const config = configFromFlags(parsed.values, parsed.given);
      const logger = createLogger({ level: config.logLevel, name: 'roomrunner', ...(config.logPretty === undefined ? {} : { pretty: config.logPretty }) });
      logUnhandledRejections(logger);
      assertWebhookSecret(config.webhookSecrets, config.insecure);
      const agents = (await discoverAgents(config.agentsDir)).map((a) => a.toolkit);
      const store = await openStore({
        ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
        dataDir: config.dataDir,
        engine: config.store,
        log: logger,
      });
      try {
        // Rooms and agents on worker threads when asked (ROOMRUNNER_ROOM_WORKERS): each loads the same agents folder.
        const roomWorkers =
          config.roomWorkers > 0
            ? await RoomWorkers.start({
                count: config.roomWorkers,
                data: roomWorkerData(config),
                logger,
              })
            : undefined;
        let roomrunner: ReturnType<typeof createRoomrunner>;
        try {
          roomrunner = createRoomrunner(config, { agents, store, logger, ...(roomWorkers ? { roomWorkers } : {}) });
        } catch (error) {
          await roomWorkers?.close();
          throw error;
        }
        const address = await roomrunner.start();
        logger.info(
          {
            url: address.url,
            agents: agents.map((a) => a.name),
            store: config.databaseUrl ? 'postgresql' : `${store.engine}:${config.dataDir}`,
            roomWorkers: config.roomWorkers,
          },
          'roomrunner serving',
        );
        const signal = await waitForSignal();
        logger.info({ signal }, 'draining');
        await roomrunner.close();
      } finally {
        await store.close();
      }
      return 0;
    } catch (error) {
      return reportFailure('serve', error);
    }
  },
};
