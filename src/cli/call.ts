/**
 * `roomrunner call --room <r> --agent <toolkit> --args '<json>'`: join a room as a person, call an agent (or any
 * toolkit's tool) and print the answer. Waits up to --wait-ms for the toolkit to appear, so it works right after a
 * room starts. Exit 0 with the JSON answer on stdout; exit 1 with `error <code>: <text>` on stderr (`error: <text>`
 * when the host sent no code, as Python hosts do). A streamed answer prints one JSON per line as each chunk
 * arrives, the final value last; an `error` chunk goes to stderr and the stream goes on (docs/protocol.md §E.5),
 * a close other than 1000 ends it with `stream closed <status>: <reason>`.
 */
import { isRoomrunnerError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { RoomConnection } from '../room/connection.js';
import { RoomClient } from '../room/room-client.js';
import { mintParticipantToken, resolveTokenSecret, userDefaultApiScope } from '../auth/token.js';
import { roomUrl } from '../room/url.js';
import { AGENT_TOOL_NAME } from '../agents/define-agent.js';
import {
  API_URL_SETTING,
  failureMessage,
  formatHelp,
  integerFlag,
  parseFlags,
  UsageError,
  USAGE_EXIT_CODE,
  type ConnectTarget,
  type FlagSpecs,
} from './args.js';
import { configFromFlags, settingFlags } from './config-flags.js';
import type { Command } from './main.js';

const FLAGS = {
  room: { type: 'string', placeholder: '<name>', description: 'Room to join (required).' },
  agent: { type: 'string', placeholder: '<toolkit>', description: 'Agent (toolkit) to call, e.g. samples.adder (required).' },
  tool: { type: 'string', placeholder: '<tool>', description: 'Tool of the toolkit.', defaultText: AGENT_TOOL_NAME },
  args: { type: 'string', placeholder: '<json>', description: 'Arguments as a JSON object.', defaultText: '{}' },
  ...settingFlags(['api-url', 'api-key', 'secret', 'project-id'], { 'api-key': 'API key that signs the token.', 'project-id': 'Project id.' }),
  name: { type: 'string', placeholder: '<name>', description: 'Participant name to join as.', defaultText: 'roomrunner-cli' },
  'wait-ms': { type: 'string', placeholder: '<ms>', description: 'How long to wait for the toolkit to appear in the room.', defaultText: '10000' },
  'timeout-ms': { type: 'string', placeholder: '<ms>', description: 'Bound on the call itself.', defaultText: '60000' },
} as const satisfies FlagSpecs;

export const command: Command = {
  summary: 'call an agent in a room and print its answer',
  async run(argv) {
    let connection: RoomConnection | undefined;
    let target: ConnectTarget | undefined;
    try {
      const parsed = parseFlags(argv, FLAGS);
      if (parsed.help) {
        console.log(formatHelp('call', 'Join a room as a person, call an agent and print the answer as JSON.', FLAGS));
        return 0;
      }
      const v = parsed.values;
      if (!v.room) throw new UsageError('--room <name> is required');
      if (!v.agent) throw new UsageError('--agent <toolkit> is required, e.g. --agent samples.adder');
      let args: unknown;
      try {
        args = JSON.parse(v.args ?? '{}');
      } catch {
        throw new UsageError(`--args must be a JSON object, e.g. --args '{"a":1,"b":2}', got ${JSON.stringify(v.args)}`);
      }
      if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new UsageError('--args must be a JSON object, e.g. {"a":1,"b":2}');
      const waitMs = integerFlag('wait-ms', v['wait-ms'], 10_000, { min: 0 });
      const timeoutMs = integerFlag('timeout-ms', v['timeout-ms'], 60_000, { min: 1 });
      const config = configFromFlags(v, parsed.given);
      const secret = resolveTokenSecret(config);
      const token = mintParticipantToken({
        ...secret,
        name: v.name ?? 'roomrunner-cli',
        room: v.room,
        role: 'user',
        api: userDefaultApiScope(),
        expiresInSeconds: config.tokenTtlMs / 1000,
      });
      target = { url: roomUrl(config.apiUrl, v.room), setting: API_URL_SETTING };
      connection = new RoomConnection({ url: target.url, token, logger: silentLogger(), reconnect: false });
      await connection.start();
      const client = new RoomClient(connection);
      await waitForToolkit(client, v.agent, waitMs);
      const answer = client.invoke({
        toolkit: v.agent,
        tool: v.tool ?? AGENT_TOOL_NAME,
        arguments: args as Record<string, unknown>,
        timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      let failed = false;
      for await (const content of answer) {
        if (content.type === 'error') {
          failed = true;
          console.error(content.code === undefined ? `error: ${content.text}` : `error ${content.code}: ${content.text}`);
        } else {
          console.log(JSON.stringify(content.type === 'json' ? content.json : content));
        }
      }
      return failed ? 1 : 0;
    } catch (error) {
      if (error instanceof UsageError) {
        console.error(`roomrunner call: ${error.message}\nRun \`roomrunner call --help\` for the flags.`);
        return USAGE_EXIT_CODE;
      }
      if (isRoomrunnerError(error, 'RR_ROOM_STREAM_CLOSED')) {
        console.error(`stream closed ${String(error.data['statusCode'])}: ${error.message}`);
        return 1;
      }
      if (isRoomrunnerError(error)) {
        // A host's error without a code (Python's) stays codeless: 1008 would be a code nobody sent.
        const code = error.code === 'RR_ROOM_SERVER_ERROR' ? error.data['code'] : error.code;
        const message = failureMessage(error, target);
        console.error(code === undefined ? `error: ${message}` : `error ${String(code)}: ${message}`);
        return 1;
      }
      throw error;
    } finally {
      await connection?.close(1000, 'call done');
    }
  },
};

async function waitForToolkit(client: RoomClient, toolkit: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const listed = await client.listToolkits();
    if (Object.hasOwn(listed.tools, toolkit) || Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
