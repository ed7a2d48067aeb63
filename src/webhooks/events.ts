/**
 * Webhook envelopes and events (docs/protocol.md §A.1–A.2).
 *
 * Every delivery is `{"event": <name>, "data": {...}}`. The schemas are loose on purpose: MeshAgent's Python
 * models ignore extra keys (§A.2), and other senders add some (`session_id`, `timestamp`), so unknown keys are
 * kept and reach hooks through `data` and `envelope`. The hooks get typed event objects with camelCase
 * fields; the raw snake_case data stays available as `event.data`.
 */
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';

/** Event names roomrunner dispatches to a named hook. */
export const ROOM_STARTED = 'room.started';
export const ROOM_ENDED = 'room.ended';
export const ROOM_CALL = 'room.call';

/**
 * Test pings, answered `200 {"ok":true}` and never dispatched or recorded. `webhook.ping` is what the
 * roomrunner emulator sends when a subscription is created; `ping` is GitHub's name (docs/references.md §github-webhooks).
 */
export const PING_EVENTS: readonly string[] = ['webhook.ping', 'ping'];

type Json = Record<string, unknown>;

/**
 * Longest room name accepted, in bytes of UTF-8. MeshAgent publishes no limit; a room name travels in a URL path,
 * a participant token and a PostgreSQL NOTIFY payload (at most 8000 bytes), so 256 bytes leaves room for all.
 */
export const MAX_ROOM_NAME_BYTES = 256;

const data = z.record(z.string(), z.unknown(), { error: '`data` must be a JSON object' });

/** `{event, data?}`; extra top-level keys are kept. A missing `data` reads as `{}`. */
export const envelopeSchema = z.looseObject({
  event: z.string({ error: '`event` must be a non-empty string' }).min(1, '`event` must be a non-empty string'),
  data: data.optional(),
});

const optionalString = z.string().optional();

/** `room.started` data: `room_url` is optional when receiving (older senders omit it, §A.2). */
export const roomStartedDataSchema = z.looseObject({
  room_name: z.string().min(1),
  room_url: optionalString,
  session_id: optionalString,
});

export const roomEndedDataSchema = z.looseObject({
  room_name: z.string().min(1),
  session_id: optionalString,
});

/** `room.call` data: a participant token for the service to join with (§A.8, §B). */
export const callDataSchema = z.looseObject({
  room_name: z.string().min(1),
  room_url: z.string().min(1),
  token: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).nullable().optional(),
  session_id: optionalString,
});

/** What every event object carries. */
interface EventBase {
  /** The event name as delivered. */
  readonly event: string;
  /** `data` as delivered (snake_case, extra keys included). */
  readonly data: Readonly<Json>;
  /** The whole envelope as delivered. */
  readonly envelope: Readonly<Json>;
}

/** `room.started`: a room has begun; join it with a token you mint yourself (the event carries none). */
export class RoomStartedEvent implements EventBase {
  readonly event = ROOM_STARTED;
  readonly roomName: string;
  /** The room's websocket URL; absent from older senders (build it with `roomUrl(base, roomName)`). */
  readonly roomUrl: string | undefined;
  /** `session_id` from `data` or the envelope, when the sender gives one. */
  readonly sessionId: string | undefined;
  readonly data: Readonly<Json>;
  readonly envelope: Readonly<Json>;

  constructor(envelope: Json, data: z.output<typeof roomStartedDataSchema>) {
    this.roomName = data.room_name;
    this.roomUrl = data.room_url;
    this.sessionId = data.session_id ?? topLevelSessionId(envelope);
    this.data = data;
    this.envelope = envelope;
  }
}

/** `room.ended`: the room is over. */
export class RoomEndedEvent implements EventBase {
  readonly event = ROOM_ENDED;
  readonly roomName: string;
  readonly sessionId: string | undefined;
  readonly data: Readonly<Json>;
  readonly envelope: Readonly<Json>;

  constructor(envelope: Json, data: z.output<typeof roomEndedDataSchema>) {
    this.roomName = data.room_name;
    this.sessionId = data.session_id ?? topLevelSessionId(envelope);
    this.data = data;
    this.envelope = envelope;
  }
}

/**
 * `room.call`: the platform hands this service a participant token for a room (§A.8). `token` is a
 * credential: `toJSON()` leaves it (and `data`, which holds it too) out, so logging the event cannot leak it.
 */
export class CallEvent implements EventBase {
  readonly event = ROOM_CALL;
  readonly roomName: string;
  readonly roomUrl: string;
  readonly token: string;
  /** The caller's arguments; null when absent or null. */
  readonly arguments: Readonly<Json> | null;
  readonly sessionId: string | undefined;
  readonly data: Readonly<Json>;
  readonly envelope: Readonly<Json>;

  constructor(envelope: Json, data: z.output<typeof callDataSchema>) {
    this.roomName = data.room_name;
    this.roomUrl = data.room_url;
    this.token = data.token;
    this.arguments = data.arguments ?? null;
    this.sessionId = data.session_id ?? topLevelSessionId(envelope);
    this.data = data;
    this.envelope = envelope;
  }

  toJSON(): Json {
    return { event: this.event, roomName: this.roomName, roomUrl: this.roomUrl, sessionId: this.sessionId, token: '[redacted]' };
  }
}

/** Any other event (storage events, custom ones): goes to the `onEvent` catch-all. */
export class OtherEvent implements EventBase {
  readonly event: string;
  readonly data: Readonly<Json>;
  readonly envelope: Readonly<Json>;

  constructor(envelope: Json, event: string, data: Json) {
    this.event = event;
    this.data = data;
    this.envelope = envelope;
  }
}

/** A test ping (one of {@link PING_EVENTS}). */
export class PingEvent implements EventBase {
  readonly event: string;
  readonly data: Readonly<Json>;
  readonly envelope: Readonly<Json>;

  constructor(envelope: Json, event: string, data: Json) {
    this.event = event;
    this.data = data;
    this.envelope = envelope;
  }
}

/** Every event object a delivery can become. */
export type WebhookEvent = RoomStartedEvent | RoomEndedEvent | CallEvent | OtherEvent | PingEvent;

/**
 * Turns a parsed JSON body into an event object.
 * @throws RoomrunnerError `RR_WEBHOOK_ENVELOPE_INVALID` when the body is not an envelope or a known event's
 *   data does not match its schema (the message says which field).
 */
export function parseEvent(body: unknown): WebhookEvent {
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success) throw invalid(envelope.error, 'the webhook body is not an {"event", "data"} envelope');
  const raw = envelope.data as Json;
  const name = envelope.data.event;
  const payload: Json = envelope.data.data ?? {};
  checkStorable(name, '`event`');
  // Every event that names a room is recorded under it, so the same rules hold for unknown events too.
  if (typeof payload['room_name'] === 'string') checkRoomName(payload['room_name']);
  for (const id of [payload['session_id'], raw['session_id']]) if (typeof id === 'string') checkStorable(id, '`session_id`');
  if (PING_EVENTS.includes(name)) return new PingEvent(raw, name, payload);
  switch (name) {
    case ROOM_STARTED:
      return new RoomStartedEvent(raw, parseData(roomStartedDataSchema, payload, name));
    case ROOM_ENDED:
      return new RoomEndedEvent(raw, parseData(roomEndedDataSchema, payload, name));
    case ROOM_CALL:
      return new CallEvent(raw, parseData(callDataSchema, payload, name));
    default:
      return new OtherEvent(raw, name, payload);
  }
}

/** The room an event is about, when it names one (for the deliveries ledger and logs). */
export function roomOf(event: WebhookEvent): string | null {
  if (event instanceof RoomStartedEvent || event instanceof RoomEndedEvent || event instanceof CallEvent) return event.roomName;
  const room = event.data['room_name'];
  return typeof room === 'string' ? room : null;
}

/**
 * A room name must fit the store and the NOTIFY payload: no NUL (PostgreSQL text cannot hold one, so the store
 * would fail and the sender would retry a 503 forever) and at most {@link MAX_ROOM_NAME_BYTES}.
 */
function checkRoomName(room: string): void {
  checkStorable(room, '`data.room_name`');
  const bytes = Buffer.byteLength(room, 'utf8');
  if (bytes > MAX_ROOM_NAME_BYTES) {
    throw new RoomrunnerError(
      'RR_WEBHOOK_NAME_INVALID',
      `\`data.room_name\` is ${bytes} bytes long; room names are at most ${MAX_ROOM_NAME_BYTES} bytes of UTF-8`,
      {
        data: { field: 'data.room_name', bytes, limit: MAX_ROOM_NAME_BYTES },
      },
    );
  }
}

function checkStorable(value: string, field: string): void {
  if (!value.includes('\u0000')) return;
  throw new RoomrunnerError('RR_WEBHOOK_NAME_INVALID', `${field} contains a NUL character (\\u0000), which roomrunner cannot store`, {
    data: { field: field.replaceAll('`', '') },
  });
}

function parseData<S extends z.ZodType>(schema: S, payload: Json, event: string): z.output<S> {
  const result = schema.safeParse(payload);
  if (!result.success) throw invalid(result.error, `the ${event} data does not match its schema`);
  return result.data;
}

function topLevelSessionId(envelope: Json): string | undefined {
  const id = envelope['session_id'];
  return typeof id === 'string' ? id : undefined;
}

function invalid(error: z.ZodError, message: string): RoomrunnerError {
  // Name the fields, never echo their values (a body may carry a token).
  const issues = error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(body)'}: ${issue.message}`);
  return new RoomrunnerError('RR_WEBHOOK_ENVELOPE_INVALID', `${message}: ${issues.join('; ')}`, { data: { issues } });
}
