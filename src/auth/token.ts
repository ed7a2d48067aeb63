/**
 * MeshAgent participant tokens and API keys (docs/protocol.md §B).
 *
 * Tokens are HS256 JWTs (see ./jwt.ts) whose claims match what the official npm SDK 0.39.9 writes:
 * `{...extra, name, grants, sub?, kid?, version, exp?}` with grants `room`, `role` and `api`.
 * Nothing here reads `process.env`: secrets come in as arguments (`resolveTokenSecret` takes an env-like
 * object so that `config.ts` stays the only reader of the environment).
 */
import { RoomrunnerError } from '../errors.js';
import { signJwt, verifyJwt, type JwtClaims } from './jwt.js';

/**
 * How long the tokens roomrunner mints for itself live (ROOMRUNNER_TOKEN_TTL_MS's default). Short enough that a
 * leaked one soon stops opening the room, long enough for any handshake; a reconnect mints a new one anyway.
 * `mintParticipantToken` itself still writes no `exp` unless asked, like the SDK.
 */
export const DEFAULT_TOKEN_TTL_MS = 3_600_000;

/** The token-schema version npm 0.39.9 writes in `version` (§B, npm `version.js`). */
export const TOKEN_SCHEMA_VERSION = '0.36.3';

/** Roles a `role` grant may carry; with no role grant a participant counts as `user` (§B). */
export const PARTICIPANT_ROLES = ['user', 'agent', 'tool'] as const;
export type ParticipantRole = (typeof PARTICIPANT_ROLES)[number];

/** Top-level ApiScope keys (§B); the Python SDK adds `sqlite`. An absent key denies that API surface. */
export const API_SCOPE_KEYS = [
  'livekit',
  'queues',
  'messaging',
  'dataset',
  'memory',
  'sync',
  'storage',
  'containers',
  'developer',
  'agents',
  'llm',
  'admin',
  'secrets',
  'tunnels',
  'services',
  'sqlite',
] as const;
export type ApiScopeKey = (typeof API_SCOPE_KEYS)[number];

/** The `agents` grant (§B). Every boolean defaults to true and is written only when false. */
export interface AgentsGrant {
  readonly register_agent?: boolean;
  readonly register_public_toolkit?: boolean;
  readonly register_private_toolkit?: boolean;
  readonly call?: boolean;
  readonly use_agents?: boolean;
  readonly use_tools?: boolean;
  readonly allowed_toolkits?: readonly string[];
}

/** ApiScope JSON as it appears in the `api` grant. `{}` for a key means "allowed with defaults". */
export type ApiScope = {
  readonly [K in ApiScopeKey]?: K extends 'agents' ? AgentsGrant : Readonly<Record<string, unknown>>;
};

/** One entry of the `grants` claim. */
export interface ParticipantGrant {
  readonly name: string;
  readonly scope: unknown;
}

/** The least an agent host needs: register toolkits, answer calls, and message participants. */
export function agentHostApiScope(): ApiScope {
  return { agents: {}, messaging: {} };
}

/*
 * The presets follow the current SDK (meshagent-ts 0.47 `ApiScope`): `secrets` is gone, `sqlite` is new, and
 * only `full` has `tunnels`. They are written out in the SDK's key order so our tokens and the SDK's compare
 * byte for byte. Tokens older SDKs minted (with `secrets`, `tunnels`, no `sqlite`) still parse: every key of
 * API_SCOPE_KEYS is read.
 */

/** The SDK's `ApiScope.agentDefault()`: every surface except `admin` and `tunnels`. */
export function agentDefaultApiScope(): ApiScope {
  return {
    livekit: {},
    queues: {},
    messaging: {},
    dataset: {},
    sqlite: {},
    memory: {},
    sync: {},
    storage: {},
    containers: {},
    developer: {},
    agents: {},
    llm: {},
    services: {},
  };
}

/** The SDK's `ApiScope.userDefault()`: in 0.47 the same surfaces as `agentDefault`. */
export function userDefaultApiScope(): ApiScope {
  return agentDefaultApiScope();
}

/**
 * The SDK's `ApiScope.full()`: `agentDefault` plus `admin` and `tunnels`, written out because the key order is the
 * SDK's (`services` last), and tokens must serialise byte for byte as the SDK's do.
 */
export function fullApiScope(): ApiScope {
  return {
    livekit: {},
    queues: {},
    messaging: {},
    dataset: {},
    sqlite: {},
    memory: {},
    sync: {},
    storage: {},
    containers: {},
    developer: {},
    agents: {},
    llm: {},
    admin: {},
    tunnels: {},
    services: {},
  };
}

/** True when `scope` grants the API surface `key` (absent means denied, §B). */
export function allowsApi(scope: ApiScope | undefined, key: ApiScopeKey): boolean {
  return scope?.[key] !== undefined;
}

// ---------------------------------------------------------------------------------------------------
// API keys: `ma-<idPart>-<projectPart>-<secret>` (§B, npm `api_keys.js`)
// ---------------------------------------------------------------------------------------------------

/** A parsed API key. The HMAC secret for tokens is `secret`; `keyId` becomes `kid`, `projectId` `sub`. */
export interface ApiKey {
  readonly keyId: string;
  readonly projectId: string;
  readonly secret: string;
}

const API_KEY_PREFIX = 'ma-';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// 16 bytes are 22 base64url characters; the SDK swaps `-` for `.` so the key's `-` separators stay unique.
const COMPRESSED_UUID = /^[A-Za-z0-9_.]{22}$/;

/**
 * Parses a MeshAgent API key.
 * @throws RoomrunnerError `RR_TOKEN_MALFORMED` when it is not `ma-<id>-<project>-<secret>`.
 */
export function parseApiKey(key: string): ApiKey {
  if (typeof key !== 'string' || !key.startsWith(API_KEY_PREFIX)) throw malformedKey('it does not start with "ma-"');
  const rest = key.slice(API_KEY_PREFIX.length);
  const first = rest.indexOf('-');
  const second = first === -1 ? -1 : rest.indexOf('-', first + 1);
  if (second === -1) throw malformedKey('it needs three `-`-separated parts after "ma-"');
  // The secret is everything after the third `-` and may itself contain `-`.
  const secret = rest.slice(second + 1);
  if (secret.length === 0) throw malformedKey('its secret part is empty');
  return {
    keyId: decompressUuid(rest.slice(0, first)),
    projectId: decompressUuid(rest.slice(first + 1, second)),
    secret,
  };
}

/** Builds an API key string; the inverse of {@link parseApiKey} (the SDK's `encodeApiKey`). */
export function formatApiKey(key: ApiKey): string {
  return `${API_KEY_PREFIX}${compressUuid(key.keyId)}-${compressUuid(key.projectId)}-${key.secret}`;
}

function compressUuid(uuid: string): string {
  const normalised = uuid.toLowerCase();
  if (!UUID.test(normalised)) throw malformedKey(`${JSON.stringify(uuid)} is not a UUID`);
  return Buffer.from(normalised.replace(/-/g, ''), 'hex').toString('base64url').replace(/-/g, '.');
}

function decompressUuid(part: string): string {
  if (!COMPRESSED_UUID.test(part)) throw malformedKey('an id part is not 22 base64url characters');
  const bytes = Buffer.from(part.replace(/\./g, '-'), 'base64url');
  const hex = bytes.toString('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  // Refuse non-canonical encodings (stray low bits in the last character) so one UUID has one spelling.
  if (bytes.length !== 16 || compressUuid(uuid) !== part) throw malformedKey('an id part is not a canonical UUID');
  return uuid;
}

function malformedKey(reason: string): RoomrunnerError {
  // Never put the key itself in the message or data: it holds the secret.
  return new RoomrunnerError('RR_TOKEN_MALFORMED', `invalid MeshAgent API key: ${reason}`);
}

// ---------------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------------

/** What signs tokens: a secret, and the `kid`/`sub` that go with it when known. */
export interface TokenSecret {
  readonly secret: string;
  readonly keyId?: string;
  readonly projectId?: string;
  /** The variable the secret came from. */
  readonly source: 'MESHAGENT_API_KEY' | 'MESHAGENT_SECRET';
}

/**
 * What tokens may be signed with, as the settings name it (a `Config` is one): the API key
 * (`MESHAGENT_API_KEY`), or a bare secret (`MESHAGENT_SECRET`) with its project id and key id.
 */
export interface TokenCredentials {
  readonly apiKey?: string | undefined;
  readonly secret?: string | undefined;
  readonly projectId?: string | undefined;
  readonly keyId?: string | undefined;
}

/**
 * Picks the token secret the way the TS SDK's `toJwt` does (§B): the API key wins and gives `kid`/`sub`;
 * otherwise the secret, with the project id (and key id). Empty values count as unset.
 * @throws RoomrunnerError `RR_TOKEN_NO_SECRET` when neither is set, `RR_TOKEN_MALFORMED` for a bad key.
 */
export function resolveTokenSecret(credentials: TokenCredentials): TokenSecret {
  const apiKey = nonEmpty(credentials.apiKey);
  if (apiKey !== undefined) {
    const parsed = parseApiKey(apiKey);
    return { secret: parsed.secret, keyId: parsed.keyId, projectId: parsed.projectId, source: 'MESHAGENT_API_KEY' };
  }
  const secret = nonEmpty(credentials.secret);
  if (secret === undefined) {
    throw new RoomrunnerError('RR_TOKEN_NO_SECRET', 'no token secret: set MESHAGENT_API_KEY or MESHAGENT_SECRET');
  }
  const projectId = nonEmpty(credentials.projectId);
  const keyId = nonEmpty(credentials.keyId);
  return {
    secret,
    ...(projectId === undefined ? {} : { projectId }),
    ...(keyId === undefined ? {} : { keyId }),
    source: 'MESHAGENT_SECRET',
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

// ---------------------------------------------------------------------------------------------------
// Minting and verifying
// ---------------------------------------------------------------------------------------------------

export interface MintParticipantTokenOptions {
  /** Participant name; becomes the `name` attribute in the room. */
  readonly name: string;
  /** The room the token is valid for (`room` grant). */
  readonly room: string;
  readonly role: ParticipantRole;
  /** The `api` grant. Defaults to {@link agentHostApiScope}; `null` leaves the grant out. */
  readonly api?: ApiScope | null;
  /** HMAC secret. Ignored when `apiKey` is given (the key wins, as in the SDK). */
  readonly secret?: string;
  /** A `ma-…` API key: its secret signs, its ids become `kid` and `sub`. */
  readonly apiKey?: string;
  /** `sub` claim when signing with a bare secret. */
  readonly projectId?: string;
  /** `kid` claim when signing with a bare secret. */
  readonly keyId?: string;
  /** Sets `exp` to `now + expiresInSeconds`; no `exp` (never expires) when omitted, like the SDK. */
  readonly expiresInSeconds?: number;
  /** Current time in seconds, for `exp`. Defaults to the wall clock. */
  readonly now?: number;
  /** Extra claims, merged first so they never override the standard ones. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * Mints a participant token with the same claims as the SDK's `participantToken()` + `toJwt()` (§B).
 * @throws RoomrunnerError `RR_TOKEN_NO_SECRET` without a secret or key, `RR_TOKEN_MALFORMED` for bad options.
 */
export function mintParticipantToken(options: MintParticipantTokenOptions): string {
  const { name, room, role } = options;
  if (typeof name !== 'string' || name === '') throw badOption('`name` must be a non-empty string');
  if (typeof room !== 'string' || room === '') throw badOption('`room` must be a non-empty string');
  if (!(PARTICIPANT_ROLES as readonly string[]).includes(role)) throw badOption('`role` must be user, agent or tool');

  let secret = options.secret;
  let projectId = options.projectId;
  let keyId = options.keyId;
  if (options.apiKey !== undefined) {
    const parsed = parseApiKey(options.apiKey);
    ({ secret, projectId, keyId } = parsed);
  }
  if (secret === undefined || secret === '') {
    throw new RoomrunnerError('RR_TOKEN_NO_SECRET', 'no token secret: pass `secret` or `apiKey`');
  }

  const grants: ParticipantGrant[] = [
    { name: 'room', scope: room },
    { name: 'role', scope: role },
  ];
  const api = options.api === undefined ? agentHostApiScope() : options.api;
  if (api !== null) grants.push({ name: 'api', scope: api });

  const claims: JwtClaims = { ...options.extra, name, grants };
  if (projectId !== undefined) claims['sub'] = projectId;
  if (keyId !== undefined) claims['kid'] = keyId;
  claims['version'] = TOKEN_SCHEMA_VERSION;
  if (options.expiresInSeconds !== undefined) {
    const ttl = options.expiresInSeconds;
    if (!Number.isFinite(ttl) || ttl <= 0) throw badOption('`expiresInSeconds` must be a positive number');
    claims['exp'] = Math.floor((options.now ?? Date.now() / 1000) + ttl);
  }
  return signJwt(claims, secret);
}

/** Verified claims of a participant token, with the grants already interpreted. */
export interface ParticipantTokenClaims {
  readonly name: string;
  readonly grants: readonly ParticipantGrant[];
  /** Scope of the first `room` grant. */
  readonly room: string | undefined;
  /** The role grant's scope; `user` when there is none (§B). */
  readonly role: ParticipantRole | (string & {});
  /** The `api` grant with aliases normalised (`database`/`datasets` → `dataset`); undefined without one. */
  readonly api: ApiScope | undefined;
  /** `sub` */
  readonly projectId: string | undefined;
  /** `kid` */
  readonly keyId: string | undefined;
  readonly version: string | undefined;
  /** `exp` in seconds since the epoch. */
  readonly expiresAt: number | undefined;
  /** Every other claim, as is. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface VerifyParticipantTokenOptions {
  /** One secret, or several during rotation. */
  readonly secret: string | readonly string[];
  /** When set, the token must carry a `room` grant for exactly this room. */
  readonly room?: string;
  /** Current time in seconds, for `exp`. Defaults to the wall clock. */
  readonly now?: number;
}

/**
 * Verifies a participant token and interprets its grants.
 * @throws RoomrunnerError `RR_TOKEN_MALFORMED`, `RR_TOKEN_SIGNATURE`, `RR_TOKEN_EXPIRED`, `RR_TOKEN_WRONG_ROOM`.
 */
export function verifyParticipantToken(jwt: string, options: VerifyParticipantTokenOptions): ParticipantTokenClaims {
  const raw = verifyJwt(jwt, options.secret, options.now === undefined ? {} : { now: options.now });
  const claims = parseParticipantClaims(raw);
  if (options.room !== undefined) {
    const rooms = claims.grants.filter((grant) => grant.name === 'room').map((grant) => grant.scope);
    // No room grant at all is refused too: the token would otherwise open every room.
    if (rooms.length === 0 || rooms.some((scope) => scope !== options.room)) {
      throw new RoomrunnerError('RR_TOKEN_WRONG_ROOM', 'the participant token is not valid for this room', {
        data: { room: options.room, granted: rooms },
      });
    }
  }
  return claims;
}

/**
 * Interprets a claims object (already verified, or decoded for inspection only).
 * @throws RoomrunnerError `RR_TOKEN_MALFORMED` when `name` or `grants` have the wrong shape.
 */
export function parseParticipantClaims(raw: JwtClaims): ParticipantTokenClaims {
  const { name, grants: rawGrants, sub, kid, version, exp, ...extra } = raw;
  if (typeof name !== 'string') throw malformedToken('the token has no string `name` claim');
  const grants = parseGrants(rawGrants);
  for (const [claim, value] of [
    ['sub', sub],
    ['kid', kid],
    ['version', version],
  ] as const) {
    if (value !== undefined && typeof value !== 'string') throw malformedToken(`the \`${claim}\` claim is not a string`);
  }
  const roomScope = grants.find((grant) => grant.name === 'room')?.scope;
  const apiGrants = grants.filter((grant) => grant.name === 'api');
  if (apiGrants.length > 1) throw malformedToken('a token may carry only one `api` grant');
  // Like the SDK's `role` getter: the first role grant that is not `user`, else `user`.
  const role = grants.find((grant) => grant.name === 'role' && grant.scope !== 'user')?.scope;
  return {
    name,
    grants,
    room: typeof roomScope === 'string' ? roomScope : undefined,
    role: role === undefined ? 'user' : String(role),
    api: apiGrants[0] === undefined ? undefined : parseApiScope(apiGrants[0].scope),
    projectId: sub as string | undefined,
    keyId: kid as string | undefined,
    version: version as string | undefined,
    expiresAt: typeof exp === 'number' ? exp : undefined,
    extra,
  };
}

function parseGrants(value: unknown): ParticipantGrant[] {
  // The npm SDK tolerates a missing `grants` claim (no grants); Python requires it. We follow npm.
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw malformedToken('the `grants` claim is not an array');
  return value.map((grant: unknown) => {
    if (typeof grant !== 'object' || grant === null || typeof (grant as { name?: unknown }).name !== 'string') {
      throw malformedToken('a grant is not an object with a string `name`');
    }
    const { name, scope } = grant as { name: string; scope?: unknown };
    return { name, scope };
  });
}

function parseApiScope(scope: unknown): ApiScope | undefined {
  if (typeof scope !== 'object' || scope === null || Array.isArray(scope)) return undefined;
  const source = scope as Record<string, unknown>;
  const result: Record<string, Readonly<Record<string, unknown>>> = {};
  for (const key of API_SCOPE_KEYS) {
    // §B: `dataset` is also accepted as `database` or `datasets` on parse.
    const value = key === 'dataset' ? (source['dataset'] ?? source['database'] ?? source['datasets']) : source[key];
    // As in the SDK's ApiScope.fromJSON: a truthy entry grants the surface; a non-object means defaults.
    if (!value) continue;
    result[key] = typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  }
  return result as ApiScope;
}

function malformedToken(message: string): RoomrunnerError {
  return new RoomrunnerError('RR_TOKEN_MALFORMED', message);
}

function badOption(message: string): RoomrunnerError {
  return new RoomrunnerError('RR_TOKEN_MALFORMED', `mintParticipantToken: ${message}`);
}

/**
 * The participant tokens roomrunner's agents join with: role `agent`, named `identity`, expiring `ttlMs` after
 * each mint (one per connection attempt, so a reconnect never reuses an old token), signed with `secret` (from
 * {@link resolveTokenSecret}).
 */
export function agentTokenMinter(secret: TokenSecret, options: { readonly identity: string; readonly ttlMs: number }): (room: string) => string {
  const expiresInSeconds = options.ttlMs / 1000;
  return (room) => mintParticipantToken({ ...secret, name: options.identity, room, role: 'agent', expiresInSeconds });
}
