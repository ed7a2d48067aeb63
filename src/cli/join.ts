/**
 * `roomrunner join --room <name>`: join one room directly with the agents (no webhook), the way a developer
 * tries an agent by hand. Without `--room` it is container mode (./container.ts): the room and token come from
 * the environment the platform injects. Leaves cleanly (unregister, close 1000) on SIGINT/SIGTERM, a dismiss,
 * or when the room closes the connection, and exits 0.
 */
import { discoverAgents } from '../agents/discover.js';
import { joinRoom } from '../agents/host.js';
import { createLogger } from '../logger.js';
import { mintParticipantToken, resolveTokenSecret } from '../auth/token.js';
import type { Config } from '../config.js';
import { roomUrl } from '../room/url.js';
import { API_URL_SETTING, formatHelp, parseFlags, reportFailure, UsageError, type ConnectTarget, type FlagSpecs } from './args.js';
import { configFromFlags, settingFlags } from './config-flags.js';
import { containerTarget } from './container.js';
import type { Command } from './main.js';
import { logUnhandledRejections, waitForSignal } from './signals.js';

const FLAGS = {
  room: {
    type: 'string',
    placeholder: '<name>',
    description: 'Room to join; omitted: container mode (MESHAGENT_TOKEN, MESHAGENT_ROOM, MESHAGENT_ROOM_URL from the platform).',
  },
  ...settingFlags(['api-url', 'agents', 'identity', 'api-key', 'secret', 'project-id', 'log-level'], {
    'api-url': 'Platform base URL; the room is <url>/rooms/<name>.',
    identity: 'Participant name to join as.',
    'api-key': 'API key that signs the participant token.',
    'project-id': 'Project id.',
  }),
} as const satisfies FlagSpecs;

export const command: Command = {
  summary: 'join one room directly with the agents (no webhook)',
  async run(argv) {
    let target: ConnectTarget | undefined;
    try {
      const parsed = parseFlags(argv, FLAGS);
      if (parsed.help) {
        console.log(formatHelp('join', 'Join one room with the agents in the agents folder until stopped (container mode without --room).', FLAGS));
        return 0;
      }
      const given = parsed.values.room;
      if (given === '') throw new UsageError('--room needs a room name (omit it for container mode)');
      const config = configFromFlags(parsed.values, parsed.given);
      const logger = createLogger({ level: config.logLevel, ...(config.logPretty === undefined ? {} : { pretty: config.logPretty }) });
      logUnhandledRejections(logger);
      const toolkits = (await discoverAgents(config.agentsDir)).map((a) => a.toolkit);
      const { room, url, token } = given === undefined ? containerTarget(config) : directTarget(config, given);
      // Joining by hand (--room), a connect that fails ends the command with its cause at once, as `call` does;
      // container mode keeps retrying while the platform brings the room up. Drops after the join reconnect.
      target = given === undefined ? undefined : { url, setting: API_URL_SETTING };
      const joined = await joinRoom({ url, room, token, toolkits, logger, retryBeforeReady: given === undefined });
      logger.info({ room, url, agents: toolkits.map((t) => t.name), participant: joined.connection.participantId }, 'joined the room');
      const why = await Promise.race([
        waitForSignal(),
        new Promise<string>((resolve) => joined.connection.on('dismiss', () => resolve('dismissed'))),
        joined.connection.closed.then((c) => `room closed the connection (${c.code}${c.reason ? `: ${c.reason}` : ''})`),
      ]);
      logger.info({ room, why }, 'leaving the room');
      await joined.leave({ reason: why, graceMs: config.drainTimeoutMs });
      return 0;
    } catch (error) {
      return reportFailure('join', error, target);
    }
  },
};

/** `--room` given: mint our own token (MESHAGENT_API_KEY or MESHAGENT_SECRET) for the room under the API URL. */
function directTarget(config: Config, room: string): { room: string; url: string; token: () => string } {
  const secret = resolveTokenSecret(config);
  return {
    room,
    url: roomUrl(config.apiUrl, room),
    token: () => mintParticipantToken({ ...secret, name: config.identity, room, role: 'agent', expiresInSeconds: config.tokenTtlMs / 1000 }),
  };
}
