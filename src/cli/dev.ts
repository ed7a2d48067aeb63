/**
 * `roomrunner dev` (= `npm run dev`): everything on one machine with the embedded defaults. It starts the
 * emulator and the orchestrator (the embedded store), makes roomrunner a project service of the emulator (the current
 * platform path: each session is handed to it over a websocket on /webhook), starts a demo room with a person in
 * it, waits for the Adder to be attached, calls it, prints the answer, then stays up printing the URLs and a
 * ready-to-paste `roomrunner call` line naming an agent it hosts. `--legacy-webhooks` shows the project-webhook
 * path instead (a signed `room.started` POST, roomrunner dials back). Ctrl-C drains and stops both.
 *
 * While it runs, saves in the agents folder (and in the local files the agents import) reload the agents in every
 * attached room over the same connections (src/dev/reload-loop.ts), and tsc checks the types in the background
 * (src/dev/typecheck.ts). The output is for a person: one line per step, per call (src/dev/call-log.ts) and per
 * reload; pino's logs only with --verbose or in --log-file (warnings and errors go to stderr otherwise).
 */
import { errorMessage } from '../util/error-message.js';
import path from 'node:path';
import type { Toolkit } from '../agents/define-agent.js';
import { discoverAgents } from '../agents/discover.js';
import { enableVersionedImports } from '../agents/module-versions.js';
import { AgentReloader } from '../dev/agent-reloader.js';
import { callLog } from '../dev/call-log.js';
import { exampleCall, shellQuote } from '../dev/example-call.js';
import { ReloadLoop } from '../dev/reload-loop.js';
import { startTypeCheck, type TypeDiagnostic } from '../dev/typecheck.js';
import { startEmulator } from '../emulator/index.js';
import { isRoomrunnerError } from '../errors.js';
import { createLogger } from '../logger.js';
import { agentsForCall } from '../orchestrator/call-agents.js';
import { RemoteTaskRunnerServer } from '../orchestrator/runner-server.js';
import { RoomConnection } from '../room/connection.js';
import { RoomClient } from '../room/room-client.js';
import { mintParticipantToken, userDefaultApiScope } from '../auth/token.js';
import { MemoryStore } from '../store/memory-store.js';
import { openStore } from '../store/open-store.js';
import { SQLITE_DRIVER_FIX, sqliteAvailable, sqliteMissingReason } from '../store/sqlite.js';
import { loadConfig } from '../config.js';
import { formatHelp, integerFlag, parseFlags, UsageError, USAGE_EXIT_CODE, type FlagSpecs } from './args.js';
import type { Command } from './main.js';
import { logUnhandledRejections, waitForSignal } from './signals.js';

const DEV_SECRET = 'roomrunner-dev-secret';
const DEV_WEBHOOK_SECRET = 'roomrunner-dev-webhook-secret';
const DEV_PROJECT = 'dev';

const FLAGS = {
  port: { type: 'string', placeholder: '<port>', description: 'roomrunner webhook server port (0 = any free port).', defaultText: '8080' },
  'emulator-port': { type: 'string', placeholder: '<port>', description: 'Emulator port (0 = any free port).', defaultText: '8765' },
  room: { type: 'string', placeholder: '<name>', description: 'Name of the demo room.', defaultText: 'demo' },
  agents: { type: 'string', placeholder: '<dir>', description: 'Agents folder.', defaultText: 'agents' },
  'data-dir': { type: 'string', placeholder: '<dir>', description: 'Embedded store directory, or memory://.', defaultText: '.roomrunner/dev' },
  'legacy-webhooks': { type: 'boolean', description: 'Show the legacy path: a project webhook (room.started POST) instead of the project service handoff.' },
  'exit-after-demo': { type: 'boolean', description: 'Stop after the demo call instead of staying up (for scripts and tests).' },
  'log-level': { type: 'string', placeholder: '<level>', description: 'pino log level of --verbose and --log-file.', defaultText: 'info' },
  verbose: { type: 'boolean', description: "Show roomrunner's and the emulator's logs (pino) beside the human lines." },
  'log-file': { type: 'string', placeholder: '<path>', description: 'Append the logs (pino JSON lines) to this file.' },
  'no-watch': { type: 'boolean', description: 'Do not reload the agents when their files change.' },
  'no-typecheck': { type: 'boolean', description: 'Do not run the TypeScript check (tsc --watch) in the background.' },
  'admin-token': {
    type: 'string',
    placeholder: '<token>',
    description: 'Turns on the admin API and the dashboard at /dashboard (also ROOMRUNNER_ADMIN_TOKEN).',
  },
} as const satisfies FlagSpecs;

export const command: Command = {
  summary: 'run the emulator + orchestrator + agents locally and show a call answered',
  async run(argv) {
    let parsed: ReturnType<typeof parseFlags<typeof FLAGS>>;
    try {
      parsed = parseFlags(argv, FLAGS);
    } catch (error) {
      if (error instanceof UsageError) {
        console.error(`roomrunner dev: ${error.message}`);
        return USAGE_EXIT_CODE;
      }
      throw error;
    }
    if (parsed.help) {
      console.log(
        formatHelp(
          'dev',
          'Start a local platform and roomrunner, attach the agents to a demo room and call the Adder; reload the agents on every save.',
          FLAGS,
        ),
      );
      return 0;
    }
    const v = parsed.values;
    const say = (line: string): void => void process.stdout.write(`${line}\n`);
    try {
      const port = integerFlag('port', v.port, 8080, { min: 0, max: 65_535 });
      const emulatorPort = integerFlag('emulator-port', v['emulator-port'], 8765, { min: 0, max: 65_535 });
      const room = v.room ?? 'demo';
      const logFile = v['log-file'];
      // Human lines first: the logs only when asked for (or in a file); warnings and errors always reach stderr.
      const logger = createLogger({
        level: v.verbose || logFile !== undefined ? (v['log-level'] ?? 'info') : 'warn',
        name: 'dev',
        ...(logFile !== undefined ? { destination: path.resolve(logFile) } : v.verbose ? {} : { destination: 2 }),
      });
      const show = (file: string): string => {
        const relative = path.relative(process.cwd(), file);
        return relative === '' ? '.' : relative.startsWith('..') ? file : relative;
      };
      const watching = !v['no-watch'] && !v['exit-after-demo'];
      const adminToken = v['admin-token'] ?? (process.env['ROOMRUNNER_ADMIN_TOKEN'] || undefined);

      say('roomrunner dev: starting the emulator (a local MeshAgent-compatible platform)…');
      logUnhandledRejections(logger);
      const legacy = v['legacy-webhooks'] === true;
      const emulator = await startEmulator({ port: emulatorPort, secret: DEV_SECRET, projectId: DEV_PROJECT, serviceSecret: DEV_WEBHOOK_SECRET, logger });
      const stack: Array<() => Promise<unknown>> = [() => emulator.close()];
      try {
        const config = loadConfig(
          {
            port,
            host: '127.0.0.1',
            apiUrl: emulator.url,
            secret: DEV_SECRET,
            projectId: DEV_PROJECT,
            webhookSecrets: [DEV_WEBHOOK_SECRET],
            agentsDir: v.agents ?? 'agents',
            dataDir: v['data-dir'] ?? '.roomrunner/dev',
            logLevel: (v['log-level'] ?? 'info') as 'info',
            // A project service is handed every room: reconciliation only matters for the legacy webhook path.
            reconcileIntervalMs: legacy ? 30_000 : 0,
            ...(adminToken === undefined ? {} : { adminToken }),
          },
          {},
        );
        emulator.roomServer.on('event', callLog({ identity: config.identity, say }));
        // Watching: every agent file loads under a version, so a save can load it (and its imports) afresh.
        const graph = watching ? enableVersionedImports() : undefined;
        const reloader = graph ? new AgentReloader({ dir: config.agentsDir, graph }) : undefined;
        const agents = (await (reloader ? reloader.loadAll() : discoverAgents(config.agentsDir))).map((a) => a.toolkit);
        let current: readonly Toolkit[] = agents;
        say(`roomrunner dev: found ${agents.length} agent(s): ${agents.map((a) => a.name).join(', ')}`);
        // dev is for trying things out: without a SQLite driver it keeps its state in memory (MemoryStore, the same
        // contract) rather than refuse to start.
        const inMemory = config.store === 'auto' && !sqliteAvailable();
        if (inMemory) say(`roomrunner dev: ${sqliteMissingReason()}: keeping dev state in memory (${SQLITE_DRIVER_FIX} to keep it in ${config.dataDir})`);
        else say(`roomrunner dev: opening the embedded store (${config.dataDir})…`);
        // The line below already says when the store is not durable; the store's own warning would repeat it on stderr.
        const store = inMemory
          ? new MemoryStore()
          : await openStore({ dataDir: config.dataDir, engine: config.store, log: logger.child({}, { level: 'error' }) });
        say(`roomrunner dev: store ${store.engine}${store.engine === 'pglite' ? ' (not durable against power loss)' : ''}`);
        stack.unshift(() => store.close());
        const server = new RemoteTaskRunnerServer({
          agents,
          // The agents of the latest reload, for rooms attached from now on and for replacing (src/dev/reload-loop.ts).
          selectAgents: (_room, args) => agentsForCall(current, args),
          store,
          config,
          logger: logger.child({ component: 'roomrunner' }),
          defaultMetrics: false,
          // The dashboard's Emulator tab: webhooks and service handoffs, oldest first.
          dashboard: {
            emulatorDeliveries: () =>
              [...emulator.webhooks.deliveries(), ...emulator.handoffs.deliveries()].sort((a, b) => a.createdAt.localeCompare(b.createdAt)),
          },
        });
        const address = await server.start();
        stack.unshift(() => server.close());
        if (legacy) {
          const subscription = emulator.webhooks.create({
            url: `${address.url}/webhook`,
            secret: DEV_WEBHOOK_SECRET,
            scheme: 'meshagent',
            name: 'roomrunner-dev',
          });
          // Stop deliveries before roomrunner stops, so the shutdown's room.ended is not sent to a closed server.
          stack.unshift(async () => emulator.webhooks.delete(subscription.id));
          say(`roomrunner dev: legacy path: roomrunner listens on ${address.url} and the emulator POSTs it signed project webhooks`);
        } else {
          const service = emulator.services.create(devService(address.url.replace(/^http/, 'ws'), config.identity, config.apiScope));
          stack.unshift(async () => emulator.services.delete(service.spec.id));
          say(`roomrunner dev: roomrunner (${address.url}) is a project service of the emulator: each session is handed to it over a websocket on /webhook`);
        }

        // A person joins the demo room: the session starts, the emulator hands it to roomrunner (or POSTs
        // room.started on the legacy path), roomrunner attaches.
        const firstAgent = agents[0]?.name;
        const attached = emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room && e.toolkit === firstAgent, {
          includePast: true,
        });
        const personToken = mintParticipantToken({ name: 'dev-person', room, role: 'user', secret: DEV_SECRET, api: userDefaultApiScope() });
        const connection = new RoomConnection({ url: emulator.roomUrl(room), token: personToken, logger: logger.child({ component: 'dev-person' }) });
        await connection.start();
        stack.unshift(() => connection.close(1000, 'dev stopping'));
        say(`roomrunner dev: a person joined room "${room}"; waiting for roomrunner to attach the agents…`);
        const registration = await withTimeout(attached, 30_000, 'the agents were not attached within 30 s (see the logs above)');
        say(`roomrunner dev: agents attached in room "${room}" (participant ${registration.participantId})`);
        const handoff = emulator.handoffs.deliveries().find((d) => d.status === 'delivered');
        if (handoff)
          say(`roomrunner dev: the emulator handed room "${room}" over the websocket ${handoff.url} (signed room.call, ${handoff.attempts.length} attempt(s))`);

        const person = new RoomClient(connection);
        if (agents.some((a) => a.name === 'samples.adder')) {
          const answer = await person.invokeTool({ toolkit: 'samples.adder', tool: 'ask', arguments: { a: 1, b: 2 } });
          say(`roomrunner dev: called samples.adder with {"a":1,"b":2} → ${JSON.stringify(answer.type === 'json' ? answer.json : answer)}`);
        }

        say('');
        say(`  emulator     ${emulator.url}   (rooms at ${emulator.wsUrl}/rooms/<name>, REST under /accounts/projects/${DEV_PROJECT})`);
        say(`  roomrunner   ${address.url}   (GET /webhook handoff, POST /webhook, /.well-known/meshagent-service.json, /readyz, /metrics, /status)`);
        say(
          `  dashboard    ${address.url}/dashboard   (${adminToken === undefined ? 'off: pass --admin-token <token> or set ROOMRUNNER_ADMIN_TOKEN' : 'sign in with the admin token'})`,
        );
        const example = exampleCall(agents);
        if (example) {
          say('');
          say('  try it:');
          say(
            `    MESHAGENT_SECRET=${DEV_SECRET} npx roomrunner call --api-url ${emulator.url} --room ${room} --agent ${example.agent}${example.tool === 'ask' ? '' : ` --tool ${example.tool}`} --args ${shellQuote(JSON.stringify(example.arguments))}`,
          );
        }
        say('');
        if (v['exit-after-demo']) return 0;
        if (reloader && graph) {
          const loop = new ReloadLoop({
            reloader,
            graph,
            say,
            show,
            replace: (next) => {
              current = next;
              return server.attachments.replaceToolkits(next);
            },
          });
          stack.unshift(async () => loop.close());
          say(`roomrunner dev: watching ${show(reloader.dir)} and the files its agents import: a save reloads them in every room`);
          if (!v['no-typecheck']) {
            const check = startTypeCheck({
              from: reloader.dir,
              onReport: typeReporter(say, show),
              onUnavailable: (why) => say(`roomrunner dev: type check off: ${why}`),
            });
            stack.unshift(async () => check.stop());
            say('roomrunner dev: checking types in the background (tsc --watch; --no-typecheck turns it off)');
          }
        }
        say('roomrunner dev: running; Ctrl-C to stop');
        await waitForSignal();
        say('roomrunner dev: stopping…');
        return 0;
      } finally {
        for (const close of stack) await close().catch(() => undefined);
      }
    } catch (error) {
      if (error instanceof UsageError) {
        console.error(`roomrunner dev: ${error.message}`);
        return USAGE_EXIT_CODE;
      }
      const message = isRoomrunnerError(error) ? `${error.message} [${error.code}]` : errorMessage(error);
      console.error(`roomrunner dev: ${message}${/EADDRINUSE/.test(message) ? ' (a port is taken: pass --port 0 --emulator-port 0)' : ''}`);
      return 1;
    }
  },
};

/** Prints each tsc pass whose errors differ from the previous one: "types: ok", or the errors (ten at most). */
function typeReporter(say: (line: string) => void, show: (file: string) => string): (diagnostics: TypeDiagnostic[]) => void {
  let previous: string | undefined;
  return (diagnostics) => {
    const lines = diagnostics.map((d) => `  ${show(d.file)}:${d.line}:${d.column} ${d.code} ${d.message}`);
    const text = lines.join('\n');
    if (text === previous) return;
    previous = text;
    if (diagnostics.length === 0) {
      say('roomrunner dev: types: ok');
      return;
    }
    say(`roomrunner dev: types: ${diagnostics.length} error(s)`);
    for (const line of lines.slice(0, 10)) say(line);
    if (lines.length > 10) say(`  … and ${lines.length - 10} more`);
  };
}

/** roomrunner as the emulator's external project service: one meshagent endpoint, the webhook path. */
function devService(wsBase: string, identity: string, api: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return {
    version: 'v1',
    kind: 'Service',
    metadata: { name: 'roomrunner-dev' },
    external: { url: wsBase },
    ports: [{ num: '*', type: 'http', endpoints: [{ path: '/webhook', meshagent: { identity, api } }] }],
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}
