/**
 * `roomrunner emulator`: run the local MeshAgent platform (room websockets, REST subset, signed webhooks)
 * until SIGINT or SIGTERM. The only place the emulator's settings meet `process.env`.
 */
import { errorMessage } from '../util/error-message.js';
import { isRoomrunnerError } from '../errors.js';
import { createLogger } from '../logger.js';
import { startEmulator, type Emulator, type EmulatorWebhookOptions, type StartEmulatorOptions } from '../emulator/index.js';
import { SIGNATURE_SCHEMES } from '../webhooks/signatures/index.js';
import { LOG_LEVELS } from '../config.js';
import { waitForSignal } from './signals.js';
import { choiceFlag, formatHelp, integerFlag, listFlag, parseFlags, urlFlag, UsageError, USAGE_EXIT_CODE, type FlagSpecs } from './args.js';
import type { Command } from './main.js';

/** The CLI's port when none is given (0 picks a free one). */
export const DEFAULT_CLI_PORT = 8765;

const FLAGS = {
  port: { type: 'string', short: 'p', placeholder: '<port>', description: 'Port to listen on; 0 picks a free one.', defaultText: String(DEFAULT_CLI_PORT) },
  host: { type: 'string', placeholder: '<host>', description: 'Interface to bind.', defaultText: '127.0.0.1' },
  secret: {
    type: 'string',
    placeholder: '<secret>',
    env: 'MESHAGENT_SECRET',
    description: 'Verify participant and REST tokens (HS256) and sign minted tokens with this secret. Without it nothing is verified.',
  },
  'project-id': {
    type: 'string',
    placeholder: '<id>',
    env: 'MESHAGENT_PROJECT_ID',
    description: 'Project id REST paths must name (any id is accepted without it).',
  },
  'webhook-url': { type: 'string', placeholder: '<url>', description: 'Subscribe this URL to room events (room.started, room.ended).' },
  'webhook-secret': {
    type: 'string',
    placeholder: '<secret>',
    env: 'MESHAGENT_WEBHOOK_SECRET',
    description: 'Sign deliveries to --webhook-url with this secret (unsigned without it).',
  },
  'webhook-scheme': { type: 'string', placeholder: '<scheme>', description: `Signature scheme: ${SIGNATURE_SCHEMES.join(', ')}.`, defaultText: 'meshagent' },
  'webhook-events': { type: 'string', placeholder: '<list>', description: 'Comma-separated events to deliver, or * for all.', defaultText: '*' },
  'service-url': {
    type: 'string',
    placeholder: '<url>',
    description: 'Run an external project service at this base URL in every session: ws(s):// hands rooms over a websocket, http(s):// POSTs room.call.',
  },
  'service-path': { type: 'string', placeholder: '<path>', description: 'Endpoint path of the --service-url service.', defaultText: '/webhook' },
  'service-identity': { type: 'string', placeholder: '<name>', description: 'Identity of the handoff token.', defaultText: 'roomrunner' },
  'service-secret': { type: 'string', placeholder: '<secret>', description: 'Sign service handoffs with this secret (unsigned without it).' },
  'idle-grace-ms': { type: 'string', placeholder: '<ms>', description: 'How long a room left without users keeps its session.', defaultText: '5000' },
  'log-level': { type: 'string', placeholder: '<level>', description: `Log level: ${LOG_LEVELS.join(', ')}.`, defaultText: 'info' },
} as const satisfies FlagSpecs;

const SUMMARY = 'Run a local MeshAgent-compatible room server, platform REST API and webhook sender (for tests and development).';

const FOOTER = [
  'Not emulated: LiveKit media, storage, sync documents, queues, databases, secrets, container services, the',
  "websocket handoff of a participant's own room.call (only http(s) callees), and REST beyond rooms, sessions,",
  'webhooks and services.',
  '',
  'examples:',
  '  roomrunner emulator --port 0 --secret dev-secret',
  '  roomrunner emulator --secret dev-secret --webhook-url http://127.0.0.1:8080/webhook --webhook-secret whs',
  '  roomrunner emulator --secret dev-secret --service-url ws://127.0.0.1:8080 --service-secret whs',
];

/** What the command needs from its process; tests pass their own. */
export interface EmulatorCommandIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Resolves with the signal name when the emulator should stop. */
  readonly waitForStop: () => Promise<string>;
}

export const command: Command = {
  summary: 'run the local MeshAgent emulator (rooms, REST, webhooks)',
  run: (argv) =>
    runEmulatorCommand(argv, {
      env: process.env,
      stdout: (text) => process.stdout.write(`${text}\n`),
      stderr: (text) => process.stderr.write(`${text}\n`),
      waitForStop: waitForSignal,
    }),
};

/** Parses flags, starts the emulator, prints how to reach it, and stops it on the first signal. */
export async function runEmulatorCommand(argv: readonly string[], io: EmulatorCommandIo): Promise<number> {
  let options: StartEmulatorOptions;
  let logLevel: string;
  try {
    const parsed = parseFlags(argv, FLAGS, { env: io.env });
    if (parsed.help) {
      io.stdout(formatHelp('emulator', SUMMARY, FLAGS, FOOTER));
      return 0;
    }
    ({ options, logLevel } = toOptions(parsed.values, parsed.given));
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`roomrunner emulator: ${error.message}\nRun \`roomrunner emulator --help\` for the flags.`);
      return USAGE_EXIT_CODE;
    }
    throw error;
  }

  const logger = createLogger({ level: logLevel, name: 'emulator' });
  let emulator: Emulator;
  try {
    emulator = await startEmulator({ ...options, logger });
  } catch (error) {
    io.stderr(`roomrunner emulator: ${startFailure(error, options)}`);
    return isRoomrunnerError(error, 'RR_EMULATOR_BAD_REQUEST') ? USAGE_EXIT_CODE : 1;
  }
  io.stdout(banner(emulator, options));

  const signal = await io.waitForStop();
  io.stdout(`roomrunner emulator: ${signal} received, stopping`);
  try {
    await emulator.close();
  } catch (error) {
    io.stderr(`roomrunner emulator: failed to stop cleanly: ${errorMessage(error)}`);
    return 1;
  }
  io.stdout('roomrunner emulator: stopped');
  return 0;
}

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>['values'];

function toOptions(values: Values, given: ReadonlySet<string>): { options: StartEmulatorOptions; logLevel: string } {
  const port = integerFlag('port', values.port, DEFAULT_CLI_PORT, { min: 0, max: 65_535 });
  const idleGraceMs = values['idle-grace-ms'] === undefined ? undefined : integerFlag('idle-grace-ms', values['idle-grace-ms'], 0, { min: 0 });
  const logLevel = choiceFlag('log-level', values['log-level'], LOG_LEVELS, 'info');
  if (values.host !== undefined && values.host.trim() === '') throw new UsageError('--host must not be empty');

  const webhooks: EmulatorWebhookOptions[] = [];
  const url = values['webhook-url'];
  if (url === undefined) {
    for (const flag of ['webhook-secret', 'webhook-scheme', 'webhook-events'] as const) {
      if (given.has(flag)) throw new UsageError(`--${flag} needs --webhook-url <url>`);
    }
  } else {
    webhooks.push({
      url: urlFlag('webhook-url', url),
      secret: values['webhook-secret'] ?? null,
      scheme: choiceFlag('webhook-scheme', values['webhook-scheme'], SIGNATURE_SCHEMES, 'meshagent'),
      events: listFlag('webhook-events', values['webhook-events'], ['*']),
      name: 'cli',
    });
  }

  const services: Record<string, unknown>[] = [];
  const serviceUrl = values['service-url'];
  if (serviceUrl === undefined) {
    for (const flag of ['service-path', 'service-identity', 'service-secret'] as const) {
      if (given.has(flag)) throw new UsageError(`--${flag} needs --service-url <url>`);
    }
  } else {
    const base = serviceBase(serviceUrl);
    const path = values['service-path'] ?? '/webhook';
    if (!path.startsWith('/')) throw new UsageError(`--service-path must start with /, got ${JSON.stringify(path)}`);
    services.push({
      version: 'v1',
      kind: 'Service',
      metadata: { name: 'cli' },
      external: { url: base },
      ports: [{ num: '*', endpoints: [{ path, meshagent: { identity: values['service-identity'] ?? 'roomrunner' } }] }],
    });
  }

  const options: StartEmulatorOptions = {
    port,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.secret === undefined ? {} : { secret: values.secret }),
    ...(values['project-id'] === undefined ? {} : { projectId: values['project-id'] }),
    ...(idleGraceMs === undefined ? {} : { idleGraceMs }),
    webhooks,
    services,
    ...(values['service-secret'] === undefined ? {} : { serviceSecret: values['service-secret'] }),
  };
  return { options, logLevel };
}

/** A ws(s):// or http(s):// base URL (the endpoint path is appended to it). */
function serviceBase(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || !/^(wss?|https?):$/.test(url.protocol)) {
    throw new UsageError(`--service-url must be an absolute ws://, wss://, http:// or https:// URL such as ws://127.0.0.1:8080, got ${JSON.stringify(value)}`);
  }
  return value;
}

function startFailure(error: unknown, options: StartEmulatorOptions): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') return `port ${options.port ?? DEFAULT_CLI_PORT} on ${options.host ?? '127.0.0.1'} is in use; pass --port 0 for a free port`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return `cannot bind --host ${options.host ?? ''}: ${(error as Error).message}`;
  if (isRoomrunnerError(error, 'RR_EMULATOR_BAD_REQUEST')) return `bad --webhook-* flags: ${error.message}`;
  return `failed to start: ${errorMessage(error)}`;
}

function banner(emulator: Emulator, options: StartEmulatorOptions): string {
  const rest = `${emulator.url}/accounts/projects/${emulator.projectId ?? '<project-id>'}`;
  const webhook = options.webhooks?.[0];
  const lines = [
    `roomrunner emulator listening on ${emulator.url}`,
    `  rooms (websocket)  ${emulator.wsUrl}/rooms/<room>`,
    `  REST API           ${rest}${emulator.projectId === undefined ? '  (any project id)' : ''}`,
    `  control (emulator) ${emulator.url}/_emulator  (rooms/<room>/start, rooms/<room>/end, events, deliveries)`,
    `  tokens             ${options.secret === undefined ? 'NOT verified (no --secret): any well-formed token is accepted' : 'verified with --secret (HS256)'}`,
  ];
  const service = options.services?.[0] as { external: { url: string }; ports: Array<{ endpoints: Array<{ path: string }> }> } | undefined;
  if (service !== undefined) {
    lines.push(
      `  service            ${service.external.url.replace(/\/+$/, '')}${service.ports[0]?.endpoints[0]?.path ?? ''}  (handed every session, ${options.serviceSecret ? 'signed' : 'unsigned'})`,
    );
  }
  if (webhook !== undefined) {
    lines.push(
      `  webhook            POST ${webhook.url}  (${webhook.scheme ?? 'meshagent'}, ${webhook.secret ? 'signed' : 'unsigned'}, events ${(webhook.events ?? ['*']).join(',')})`,
    );
  }
  lines.push(
    '',
    'connect:',
    `  env      MESHAGENT_API_URL=${emulator.url}  MESHAGENT_ROOM_URL=${emulator.wsUrl}${options.secret === undefined ? '' : '  MESHAGENT_SECRET=<the --secret value>'}`,
    `  token    POST ${rest}/rooms/<room>/connect  →  {jwt, room_url}`,
    `  REST     Authorization: Bearer <a JWT signed with the secret, or an ma- API key whose secret part is it>`,
    '',
    'Ctrl-C (SIGINT) or SIGTERM stops it.',
  );
  return lines.join('\n');
}
