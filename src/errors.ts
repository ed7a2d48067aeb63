/**
 * One error class and one catalog of stable codes (docs/architecture.md §Style 3–§Style 5).
 *
 * Every failure roomrunner reports carries a `RR_*` code from {@link ERROR_CATALOG}. Each entry knows how it
 * crosses its boundary: `http` for webhook answers, `content` for the MeshAgent `error` content code
 * (docs/protocol.md §E.10), `close` for a websocket close code. The mapping happens once, at the edge.
 * A shipped code is never renamed or reused; `test/errors.test.ts` checks that every code is documented in
 * the README's error table.
 */

/** MeshAgent error content codes, docs/protocol.md §E.10. */
export const CONTENT_CODES = {
  PERMISSION_DENIED: 1001,
  INVALID_REQUEST: 1002,
  NOT_FOUND: 1003,
  ALREADY_EXISTS: 1004,
  CONFLICT: 1005,
  INVALID_STATE: 1006,
  DEPENDENCY_MISSING: 1007,
  OPERATION_FAILED: 1008,
  TIMEOUT: 1009,
  UNEXPECTED_RESPONSE_TYPE: 1100,
} as const;

export interface ErrorSpec {
  /** One line a user reads in the README's error table. */
  readonly description: string;
  /** HTTP status when this error answers a request. */
  readonly http?: number;
  /** MeshAgent `error` content code when this error answers a room request. */
  readonly content?: number;
  /** Websocket close code when this error ends a connection. */
  readonly close?: number;
}

/**
 * The catalog. Sections are kept per area; add new codes at the end of their section.
 */
export const ERROR_CATALOG = {
  // --- protocol (src/protocol) ---
  RR_FRAME_TOO_SHORT: { description: 'A websocket frame is shorter than the 12-byte data or 16-byte header frame.', content: 1002 },
  RR_FRAME_OUT_OF_ORDER: {
    description: 'A data frame arrived with an unexpected packet index or message id; frames are dropped until the next header frame.',
    content: 1002,
  },
  RR_MESSAGE_TOO_LARGE: { description: 'A message announces or accumulates more bytes than the configured maximum message size.', content: 1002, close: 1009 },
  RR_PACKED_MESSAGE_INVALID: {
    description: 'A packed message (8-byte length + JSON header + payload) is truncated or its header is not a JSON object.',
    content: 1002,
  },
  RR_CONTENT_UNKNOWN_TYPE: {
    description: 'A content header has a `type` that is not one of json, text, file, link, empty, error, binary, control.',
    content: 1002,
  },
  RR_CONTENT_INVALID: { description: 'A content header is missing a field its type requires.', content: 1002 },
  RR_MESSAGE_INVALID: { description: 'A room message header does not match its schema.', content: 1002 },
  RR_REQUEST_UNKNOWN_TYPE: { description: 'A room request has a type the receiver does not implement.', content: 1002 },

  // --- tokens (src/auth/token.ts) ---
  RR_TOKEN_MALFORMED: { description: 'A participant token or API key is not in the expected format.', http: 401, close: 1008 },
  RR_TOKEN_SIGNATURE: { description: 'A participant token signature does not verify with the configured secret.', http: 401, close: 1008 },
  RR_TOKEN_EXPIRED: { description: 'A participant token has an `exp` in the past.', http: 401, close: 1008 },
  RR_TOKEN_WRONG_ROOM: { description: 'A participant token has a `room` grant for another room.', http: 403, close: 1008 },
  RR_TOKEN_NO_SECRET: { description: 'No secret to mint or verify tokens: set MESHAGENT_API_KEY or MESHAGENT_SECRET.' },
  RR_TOKEN_NOT_YET_VALID: {
    description:
      'A token (a participant token, or the JWT of a MeshAgent webhook signature) has an `nbf` or `iat` later than now plus the clock leeway (60 s).',
    http: 401,
    close: 1008,
  },

  // --- room connection (src/room) ---
  RR_ROOM_HANDSHAKE_REFUSED: {
    description:
      'The room server refused us: HTTP 401, 403, 404 or 423 (room disabled) at the websocket upgrade, or close 1008 before `room_ready`; this is final, no retry.',
  },
  RR_ROOM_CLOSED: { description: 'The room connection closed (1000 is final) before the request was answered.', content: 1006 },
  RR_ROOM_NOT_READY: { description: 'The room connection closed or failed before `room_ready` and `connected` arrived.' },
  RR_REQUEST_TIMEOUT: { description: 'A room request got no answer within its timeout.', content: 1009 },
  RR_REQUEST_ABORTED: { description: 'A room request was aborted by its AbortSignal.', content: 1006 },
  RR_ROOM_SERVER_ERROR: { description: 'The room answered a request with an `error` content; `data.code` holds its code.' },
  RR_ROOM_URL_INVALID: {
    description: 'A room URL or base URL is not an absolute ws:, wss:, http: or https: URL, or names another room than the one asked for.',
  },
  RR_ROOM_ABORTED: {
    description: 'Connecting to the room was given up: the AbortSignal passed to start() fired, or close() was called before the room became ready.',
  },
  RR_ROOM_TOOLKIT_NOT_HOSTED: {
    description: 'The room sent a tool call (`room.tool_call.<toolkit>`) for a toolkit this participant does not serve.',
    content: 1003,
  },
  RR_ROOM_UNEXPECTED_RESPONSE: {
    description: 'The room answered a request with a content of the wrong type or shape (e.g. register_toolkit without `json {id}`).',
    content: 1100,
  },
  RR_ROOM_HANDOFF_SOCKET_USED: {
    description:
      'A connection over a websocket handoff tried to connect again: the socket the platform opened is used once, with no reconnect (the platform dials again for a new session).',
  },
  RR_ROOM_STREAM_CLOSED: {
    description:
      "A streamed tool answer closed with a status other than 1000 (1007: a chunk did not match its schema); the message is the host's reason, `data.statusCode` the status.",
  },
  RR_ROOM_JOIN_TIMEOUT: {
    description:
      'A join attempt (connect, `room_ready`, registration) did not finish within ROOMRUNNER_JOIN_ATTEMPT_TIMEOUT_MS (15 s); the message says what never came, and the attempt is retried with backoff.',
  },
  RR_ROOM_HANDLER_REFUSED: {
    description:
      'A message handler was not registered on a room connection or session: a handler for that type (or prefix) is already registered, or the connection handles the type itself (listen to its events instead).',
  },
  RR_ROOM_STREAM_READ_TWICE: {
    description:
      'A stream of chunks (a streamed input, or a streamed answer) was iterated a second time; each can be read once: keep what you need while reading.',
  },

  // --- emulator (src/emulator) ---
  RR_EMULATOR_TOOLKIT_NOT_FOUND: {
    description: 'room.invoke_tool named a toolkit (or tool) that is not registered or not visible to the caller.',
    content: 1003,
  },
  RR_EMULATOR_HOST_GONE: { description: 'The participant hosting a toolkit left before answering a call.', content: 1008 },
  RR_EMULATOR_PERMISSION_DENIED: { description: "The caller's token grants do not allow this request.", content: 1001 },
  RR_EMULATOR_PARTICIPANT_NOT_FOUND: {
    description: 'A messaging send named a participant that is not in the room ("the participant was not found").',
    content: 1003,
  },
  RR_EMULATOR_ROOM_NOT_FOUND: { description: 'A REST call named a room the emulator does not know.', http: 404 },
  RR_EMULATOR_BAD_REQUEST: { description: 'A REST call to the emulator had a malformed body or parameters.', http: 400 },
  RR_EMULATOR_UNAUTHORIZED: { description: 'A REST call to the emulator had no valid bearer token.', http: 401 },
  RR_EMULATOR_NOT_EMULATED: {
    description: 'room.invoke_tool named a built-in toolkit or tool (storage, sync, queues, …) that the emulator does not implement.',
    content: 1007,
  },
  RR_EMULATOR_REGISTRATION_NOT_FOUND: { description: 'room.unregister_toolkit named a registration id this participant does not hold.', content: 1003 },
  RR_EMULATOR_TOOL_CALL_NOT_FOUND: {
    description: 'A room.tool_call_request_chunk named a tool_call_id with no call in progress for this caller.',
    content: 1003,
  },
  RR_EMULATOR_TOOLKIT_RESERVED: {
    description: 'room.register_toolkit used the name of a built-in toolkit the emulator serves itself (messaging).',
    content: 1004,
  },
  RR_EMULATOR_ROOM_CALL_FAILED: { description: 'room.call could not deliver its webhook (no delivery configured, or the delivery failed).', content: 1008 },
  RR_EMULATOR_TOKEN_MISSING: {
    description: 'A room connection carried no participant token (query `token`, `Authorization: Bearer`, or a `meshagent-room.<jwt>` subprotocol).',
    close: 1008,
  },
  RR_EMULATOR_ROOM_EXISTS: { description: 'POST /rooms named a room that already exists and `if_not_exists` was not true.', http: 409 },
  RR_EMULATOR_SESSION_NOT_FOUND: {
    description: 'A REST or control call named a session id, or a room without an active session, that the emulator does not know.',
    http: 404,
  },
  RR_EMULATOR_CONNECTION_NOT_FOUND: { description: 'A control route named a participant id with no open connection in that room.', http: 404 },
  RR_EMULATOR_WEBHOOK_NOT_FOUND: { description: 'A REST call named a webhook id the emulator does not know.', http: 404 },
  RR_EMULATOR_PROJECT_NOT_FOUND: { description: 'A REST path named a project other than the one the emulator was started with (`--project-id`).', http: 404 },
  RR_EMULATOR_ROUTE_NOT_FOUND: { description: 'The emulator does not implement this REST route: it emulates only a subset of the platform API.', http: 404 },
  RR_EMULATOR_INTERNAL: { description: 'The emulator failed while answering a REST call (a bug: please report it).', http: 500 },
  RR_EMULATOR_ROOM_DISABLED: {
    description:
      'The room is disabled: its websocket upgrade and REST connect answer HTTP 423 ("This room is currently disabled."), which clients treat as final.',
    http: 423,
  },
  RR_EMULATOR_STREAM_BACKLOG_FULL: {
    description: 'A caller sent more room.tool_call_request_chunks than the emulator holds for a host that has not yet answered `control open`.',
    content: 1006,
  },
  RR_EMULATOR_SERVICE_NOT_FOUND: {
    description: 'A services REST call named a service id the emulator does not know (project-wide, or in that room).',
    http: 404,
  },

  // --- configuration (src/config.ts) ---
  RR_CONFIG_INVALID: { description: 'A setting has a bad value; the message names each env var and flag to fix.' },
  RR_CONFIG_NO_WEBHOOK_SECRET: { description: 'No MESHAGENT_WEBHOOK_SECRET is set and --insecure was not given: the server refuses to start.' },
  RR_CONFIG_CONTAINER_ENV_MISSING: {
    description:
      '`roomrunner join` without `--room` (container mode) is missing an environment variable the platform injects; the message names each one (MESHAGENT_TOKEN, MESHAGENT_ROOM, MESHAGENT_ROOM_URL or MESHAGENT_API_URL).',
  },
  RR_CONFIG_MCP_NO_TOKEN: {
    description:
      'ROOMRUNNER_MCP is on but ROOMRUNNER_MCP_TOKEN / --mcp-token is not set and --insecure was not given: the server refuses to start rather than run the agents for anyone.',
  },

  // --- orchestrator (src/orchestrator) ---
  RR_PLATFORM_UNAVAILABLE: {
    description:
      'The platform REST API (active sessions, for reconciliation) failed or answered an unexpected shape; readiness turns false until it answers again.',
  },
  RR_CALL_AGENTS_UNKNOWN: {
    description:
      "A room.call's `arguments.agents` names an agent roomrunner does not host, or is not a list of names; nothing is attached and the delivery is recorded failed.",
  },
  RR_ROOM_URL_REFUSED: {
    description:
      "A webhook's `room_url` is not dialed: its origin is neither MESHAGENT_API_URL's nor in ROOMRUNNER_ROOM_HOSTS, it is link-local, it carries credentials, a query or a fragment, or its path names another room than `room_name`. The delivery's outcome is `failed` and no token is sent.",
  },
  RR_JOINS_FAILING: {
    description:
      "Joins fail across the board: at least 10 join attempts failed in the last 60 s and none succeeded; readiness turns false until one succeeds or the window passes. GET /status shows each room's last error.",
  },
  RR_REPLICA_LEASE_NOT_HELD: {
    description:
      'This replica holds no valid lease (a /readyz reason): it is not registered yet, its heartbeat failed, or it could not renew in time and fenced itself; it holds no rooms until a heartbeat succeeds.',
  },

  // --- agents (src/agents) ---
  RR_AGENT_INVALID_INPUT: {
    description: "A call's arguments do not match the agent's input schema; the text names each field and what was wrong. The agent does not run.",
    content: 1002,
  },
  RR_AGENT_INVALID_OUTPUT: {
    description: "The agent returned a value that does not match its output schema (the agent's bug; logged at error level).",
    content: 1008,
  },
  RR_AGENT_FAILED: { description: 'The agent threw; the caller gets its message (never its stack).', content: 1008 },
  RR_AGENT_TIMEOUT: { description: 'The agent did not answer within its deadline (default 60 s); its ctx.signal is aborted.', content: 1009 },
  RR_AGENT_BUSY: { description: 'The agent already runs its maximum number of concurrent calls in this room; retry later.', content: 1006 },
  RR_AGENT_ABORTED: { description: 'The call was aborted because the room ended, the caller left or roomrunner is shutting down.', content: 1006 },
  RR_AGENT_TOOL_NOT_FOUND: { description: 'A call named a tool that the toolkit does not have.', content: 1003 },
  RR_AGENT_UNSUPPORTED_INPUT: { description: 'A call passed a content type other than json or empty to a tool that takes a JSON object.', content: 1002 },
  RR_AGENT_DEFINITION_INVALID: {
    description:
      'An agent or toolkit definition is missing a name, schema or handler, or its input schema has a part LLM agents cannot be asked for (a start-up error naming the field).',
  },
  RR_AGENT_DUPLICATE_NAME: { description: 'Two agents or toolkits share one name (a start-up error naming both files).' },
  RR_AGENT_DISCOVERY_FAILED: {
    description: 'A file in the agents folder failed to load or exports something that is not an agent (a start-up error naming the file and export).',
  },
  RR_AGENT_INVALID_CHUNK: {
    description:
      'A streamed chunk does not match its schema: an input chunk (the tool stops reading; a streamed answer closes with 1007, a single one is this error) or an output chunk or final value (the stream closes with 1007 and this text).',
    content: 1002,
  },

  // --- webhook signatures (src/webhooks/signatures) ---
  RR_WEBHOOK_SIGNATURE_MISSING: { description: 'The webhook carries no signature header for the configured scheme.', http: 401 },
  RR_WEBHOOK_SIGNATURE_MISMATCH: { description: 'The webhook signature does not match the body with any configured secret.', http: 401 },
  RR_WEBHOOK_SIGNATURE_MALFORMED: {
    description: "The webhook signature header is not in the scheme's format (e.g. not `Bearer <jwt>`, not `v1,<base64>`).",
    http: 401,
  },
  RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE: { description: 'A Standard Webhooks timestamp is outside the tolerance window (default ±300 s).', http: 401 },
  RR_WEBHOOK_SECRET_INVALID: { description: 'A configured webhook secret is unusable (e.g. a `whsec_` secret that is not base64).' },
  RR_WEBHOOK_BODY_NOT_JSON: {
    description: "A webhook body is not JSON that Python's json module accepts (bad text, nesting too deep, a cycle), so it cannot be re-serialised per §A.4.",
    http: 400,
  },

  // --- webhook server (src/webhooks, src/http) ---
  RR_WEBHOOK_ENVELOPE_INVALID: {
    description: 'A webhook body is not an `{"event", "data"}` object, or a known event\'s data lacks a field (e.g. `room_name`).',
    http: 400,
  },
  RR_WEBHOOK_BODY_TOO_LARGE: { description: 'A webhook body is larger than the limit (ROOMRUNNER_BODY_LIMIT_BYTES / --body-limit, default 1 MiB).', http: 413 },
  RR_WEBHOOK_UNSUPPORTED_MEDIA_TYPE: { description: 'A webhook POST is not `application/json` (or `application/*+json`), or has no Content-Type.', http: 415 },
  RR_WEBHOOK_METHOD_NOT_ALLOWED: {
    description: 'A request to the webhook path other than POST, or a GET without `Upgrade: websocket` (the websocket handoff).',
    http: 405,
  },
  RR_WEBHOOK_DRAINING: { description: 'The server is draining for shutdown and takes no new deliveries; the sender should retry.', http: 503 },
  RR_WEBHOOK_SERVER_CLOSED: { description: 'start() or run() was called on a WebhookServer after close().' },
  RR_STORE_UNAVAILABLE: {
    description:
      'The store could not record a delivery (or is closed); the webhook gets 503 so the sender retries, and nothing is dispatched. At start-up: the embedded store cannot run here (no SQLite driver: Node 24, or better-sqlite3 on Node 20), or its durability pragmas did not take.',
    http: 503,
  },
  RR_HTTP_BAD_REQUEST: { description: 'A request is malformed at the HTTP level (e.g. a Content-Length that does not match the body).', http: 400 },
  RR_HTTP_NOT_FOUND: { description: 'No route for this method and path.', http: 404 },
  RR_ADMIN_DISABLED: { description: 'An /admin route was called but ROOMRUNNER_ADMIN_TOKEN / --admin-token is not set, so the admin API is off.', http: 403 },
  RR_ADMIN_DELIVERY_NOT_FOUND: { description: 'The admin API was asked for a delivery key the ledger does not have (never received, or pruned).', http: 404 },
  RR_HTTP_UNAUTHORIZED: { description: 'An admin route was called without the bearer token set by ROOMRUNNER_ADMIN_TOKEN / --admin-token.', http: 401 },
  RR_ADMIN_ROOM_NOT_FOUND: { description: 'The admin API was asked to detach a room this replica neither holds nor knows.', http: 404 },
  RR_DASHBOARD_SIGNED_OUT: {
    description: 'A dashboard API call came without a live session cookie: sign in at /dashboard (sessions end after 8 h or a restart).',
    http: 401,
  },
  RR_DASHBOARD_CSRF: { description: "A state-changing dashboard request lacked the page's x-csrf-token header or came from another origin.", http: 403 },
  RR_HTTP_INTERNAL: { description: 'roomrunner failed while answering a request (a bug: please report it).', http: 500 },
  RR_WEBHOOK_HANDOFF_NOT_CALL: {
    description:
      'A websocket handoff (`GET <path>` with `Upgrade: websocket`) carried a verified event other than `room.call` in `Meshagent-Webhook`; it is answered 400 and nothing is upgraded.',
    http: 400,
  },
  RR_WEBHOOK_NAME_INVALID: {
    description:
      'A webhook `event`, `room_name` or `session_id` holds a NUL character, or a `room_name` is longer than 256 bytes of UTF-8; refused with 400 so the sender stops retrying.',
    http: 400,
  },
  RR_HTTP_URI_TOO_LONG: { description: 'A path parameter (e.g. an admin delivery key) is longer than 1024 characters.', http: 414 },

  // --- MCP endpoint (src/mcp) ---
  RR_MCP_UNAUTHORIZED: { description: 'A request to /mcp came without `Authorization: Bearer <ROOMRUNNER_MCP_TOKEN>` (or with another token).', http: 401 },
  RR_MCP_METHOD_NOT_ALLOWED: {
    description: 'GET or DELETE /mcp: the MCP endpoint is stateless (no session to stream on or end); send each request as a POST.',
    http: 405,
  },
  RR_MCP_NO_ROOM: {
    description:
      'An agent called over MCP used ctx.call, ctx.invoke or ctx.listToolkits: an MCP call comes from outside any room, so there is no other toolkit to reach.',
    content: 1006,
  },

  // --- store (src/store) ---
  RR_STORE_OPTION_INVALID: {
    description: 'A store option or argument is out of range (e.g. a negative lease, a capacity that is not an integer, a database URL that is not postgres:).',
  },
  RR_STORE_LOCKED: {
    description:
      'The data directory of the embedded store (SQLite or PGlite) is in use by another live process that holds its file lock (the pid it recorded is named); give each process its own data directory, or use PostgreSQL (DATABASE_URL) for several processes. A killed process never leaves this lock behind.',
  },
  RR_STORE_MIGRATION_FAILED: { description: 'A schema migration failed at start-up; the message names its number, and nothing of it was applied.' },

  // --- project scaffolding (src/cli/init.ts) ---
  RR_INIT_DIR_NOT_EMPTY: {
    description: '`roomrunner init` was given a directory that is not empty (or a file); nothing was written: name a new or empty directory.',
  },

  // --- library options (src/util/options.ts) ---
  RR_OPTION_INVALID: {
    description:
      'A constructor or function of the library was given an option out of its range (a negative timeout, a count that is not an integer, a fraction above 1); the message names the option and what to pass.',
  },

  // --- the command line (src/cli/args.ts) ---
  RR_CLI_USAGE: {
    description:
      'A command was given a flag it does not know, a flag without its value, a bad value or a stray argument; the message names the flag and what to pass, and the command exits 2 (usage).',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface RoomrunnerErrorOptions {
  data?: Record<string, unknown>;
  cause?: unknown;
}

/** The one error class roomrunner throws. `code` is stable; `message` is for people. */
export class RoomrunnerError extends Error {
  override readonly name = 'RoomrunnerError';
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: RoomrunnerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.data = options.data ?? {};
  }

  /** HTTP status for this error at a webhook or REST edge (500 when the catalog gives none). */
  get httpStatus(): number {
    const spec: ErrorSpec = ERROR_CATALOG[this.code];
    return spec.http ?? 500;
  }

  /** MeshAgent `error` content code at a room edge (1008 OPERATION_FAILED when the catalog gives none). */
  get contentCode(): number {
    const fromData = this.data['code'];
    if (typeof fromData === 'number') return fromData;
    const spec: ErrorSpec = ERROR_CATALOG[this.code];
    return spec.content ?? CONTENT_CODES.OPERATION_FAILED;
  }

  /** Websocket close code when this error ends a connection (1011 when the catalog gives none). */
  get closeCode(): number {
    const spec: ErrorSpec = ERROR_CATALOG[this.code];
    return spec.close ?? 1011;
  }
}

/** True when `err` is a RoomrunnerError, optionally with the given code. */
export function isRoomrunnerError(err: unknown, code?: ErrorCode): err is RoomrunnerError {
  return err instanceof RoomrunnerError && (code === undefined || err.code === code);
}
