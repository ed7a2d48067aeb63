/**
 * `roomrunner token`: mint what the emulator (or a platform you hold the secret of) accepts, so its rooms, REST
 * and control routes can be called by hand (docs/protocol.md §B):
 *   roomrunner token --room demo [--name n] [--role user|agent|tool] [--api <preset>] [--expires-in <s>]
 *     a participant token (HS256 JWT), signed with --api-key (its secret, `kid` and `sub`) or --secret;
 *   roomrunner token api-key [--key-id <uuid>] [--project-id <uuid>]
 *     an `ma-<key id>-<project id>-<secret>` API key whose secret is --secret (the emulator's secret).
 * Only the token or key goes to stdout, so `TOKEN=$(roomrunner token …)` works.
 */
import { randomUUID } from 'node:crypto';
import { isRoomrunnerError, RoomrunnerError } from '../errors.js';
import {
  agentDefaultApiScope,
  agentHostApiScope,
  formatApiKey,
  fullApiScope,
  mintParticipantToken,
  PARTICIPANT_ROLES,
  resolveTokenSecret,
  userDefaultApiScope,
  type ApiScope,
  type ParticipantRole,
} from '../auth/token.js';
import { choiceFlag, formatHelp, integerFlag, parseFlags, reportFailure, UsageError, type FlagSpecs } from './args.js';
import { configFromFlags, settingFlags } from './config-flags.js';
import type { Command } from './main.js';

/** `--api` presets: the grant each one writes (`none` leaves the `api` grant out). */
export const API_PRESETS = {
  user: userDefaultApiScope,
  agent: agentDefaultApiScope,
  host: agentHostApiScope,
  full: fullApiScope,
  none: () => null,
} as const satisfies Record<string, () => ApiScope | null>;
type ApiPreset = keyof typeof API_PRESETS;

/** What a well-formed key looks like, printed whenever a given key is not one. */
export const API_KEY_FORMAT =
  'expected ma-<key id>-<project id>-<secret>, where each id is a UUID as 22 base64url characters (`-` written as `.`); `roomrunner token api-key --secret <s>` makes one';

const SECRET_FLAGS = settingFlags(['api-key', 'secret', 'project-id'], {
  'api-key': 'API key that signs the token (wins over --secret).',
  secret: "Signing secret (the emulator's --secret).",
  'project-id': 'Project id, written as `sub`.',
});

const TOKEN_FLAGS = {
  room: { type: 'string', placeholder: '<name>', description: 'Room the token is valid for (required).' },
  name: { type: 'string', placeholder: '<name>', description: 'Participant name.', defaultText: 'roomrunner-cli' },
  role: { type: 'string', placeholder: '<role>', description: `Role grant: ${PARTICIPANT_ROLES.join(', ')}.`, defaultText: 'user' },
  api: {
    type: 'string',
    placeholder: '<preset>',
    description: `API grant: ${Object.keys(API_PRESETS).join(', ')} (host = agents + messaging only).`,
    defaultText: 'user for a user, agent otherwise',
  },
  'expires-in': { type: 'string', placeholder: '<seconds>', description: 'Sets `exp` this many seconds from now.', defaultText: 'never expires' },
  ...SECRET_FLAGS,
} as const satisfies FlagSpecs;

const KEY_FLAGS = {
  secret: SECRET_FLAGS.secret,
  'key-id': { type: 'string', placeholder: '<uuid>', description: 'Key id.', defaultText: 'a random UUID' },
  // The key's own project id: made up when not given, so its default differs from the setting's.
  'project-id': {
    ...settingFlags(['project-id'], { 'project-id': 'Project id (a UUID in an API key).' })['project-id'],
    placeholder: '<uuid>',
    defaultText: 'a random UUID',
  },
} as const satisfies FlagSpecs;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_EXPIRES_IN_SECONDS = 10 * 365 * 24 * 3600;

const FOOTER = [
  'examples:',
  '  roomrunner token --room demo --secret dev-secret',
  '  roomrunner token api-key --secret dev-secret',
  '  curl -H "Authorization: Bearer $(roomrunner token api-key --secret dev-secret)" http://127.0.0.1:8765/_emulator/rooms',
];

export const command: Command = {
  summary: 'mint a participant token or an ma- API key (e.g. for the emulator)',
  async run(argv) {
    try {
      if (argv[0] === 'api-key') return mintKey(argv.slice(1));
      return mintToken(argv);
    } catch (error) {
      return reportFailure('token', error);
    }
  },
};

function mintToken(argv: readonly string[]): number {
  const parsed = parseFlags(argv, TOKEN_FLAGS);
  if (parsed.help) {
    const summary = 'Mint a participant token (HS256 JWT) for a room; `roomrunner token api-key --help` for API keys.';
    console.log(formatHelp('token', summary, TOKEN_FLAGS, FOOTER));
    return 0;
  }
  const v = parsed.values;
  if (!v.room) throw new UsageError('--room <name> is required');
  const role = choiceFlag<ParticipantRole>('role', v.role, PARTICIPANT_ROLES, 'user');
  const preset = choiceFlag<ApiPreset>('api', v.api, Object.keys(API_PRESETS) as ApiPreset[], role === 'user' ? 'user' : 'agent');
  const expiresIn = v['expires-in'] === undefined ? undefined : integerFlag('expires-in', v['expires-in'], 0, { min: 1, max: MAX_EXPIRES_IN_SECONDS });
  const secret = withKeyFormat(() => resolveTokenSecret(configFromFlags(v, parsed.given)));
  const token = mintParticipantToken({
    ...secret,
    name: v.name ?? 'roomrunner-cli',
    room: v.room,
    role,
    api: API_PRESETS[preset](),
    ...(expiresIn === undefined ? {} : { expiresInSeconds: expiresIn }),
  });
  console.log(token);
  return 0;
}

function mintKey(argv: readonly string[]): number {
  const parsed = parseFlags(argv, KEY_FLAGS);
  if (parsed.help) {
    const summary = 'Mint an ma- API key whose secret is --secret: the emulator accepts it as a REST bearer token, and it signs tokens.';
    console.log(formatHelp('token api-key', summary, KEY_FLAGS, FOOTER));
    return 0;
  }
  const v = parsed.values;
  const config = configFromFlags(v, parsed.given);
  if (!config.secret)
    throw new RoomrunnerError('RR_TOKEN_NO_SECRET', "no secret for the API key: pass --secret (the emulator's secret) or set MESHAGENT_SECRET");
  const key = formatApiKey({ keyId: uuidFlag('key-id', v['key-id']), projectId: uuidFlag('project-id', config.projectId), secret: config.secret });
  console.log(key);
  return 0;
}

function uuidFlag(name: string, value: string | undefined): string {
  if (value === undefined) return randomUUID();
  if (!UUID.test(value))
    throw new UsageError(
      `--${name}${name === 'project-id' ? ' (or MESHAGENT_PROJECT_ID)' : ''} must be a UUID such as ${randomUUID()} (an API key packs its ids as UUIDs), got ${JSON.stringify(value)}`,
    );
  return value.toLowerCase();
}

/** Runs `resolve`, adding the expected key format to a malformed-key error (the key itself is never echoed). */
function withKeyFormat<T>(resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    if (isRoomrunnerError(error, 'RR_TOKEN_MALFORMED')) {
      throw new RoomrunnerError('RR_TOKEN_MALFORMED', `${error.message}; ${API_KEY_FORMAT}`, { cause: error });
    }
    throw error;
  }
}
