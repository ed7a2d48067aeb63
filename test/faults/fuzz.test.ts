/**
 * Fault suite, fuzzing: the frame reader, the content unpacker, the participant-token verifier and
 * the webhook endpoint under arbitrary and mutated input. Nothing throws that is not a RoomrunnerError with
 * its documented code, every answer carries the catalog's mapping (content code, HTTP status), and no hook
 * runs for a delivery that is not signed. A process-wide watch fails the file on any unhandled rejection.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ERROR_CATALOG, RoomrunnerError, type ErrorCode, type ErrorSpec } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { CONTENT_TYPES, packContent, unpackContent, type Content } from '../../src/protocol/content.js';
import { FrameReader, type FrameMessage, type FrameReadResult } from '../../src/protocol/frame-reader.js';
import { encodeFrames } from '../../src/protocol/frames.js';
import { packMessage, unpackMessage } from '../../src/protocol/packing.js';
import { signJwt } from '../../src/auth/jwt.js';
import { mintParticipantToken, verifyParticipantToken } from '../../src/auth/token.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { PingEvent } from '../../src/webhooks/events.js';
import { parseWebhookBody } from '../../src/webhooks/receive.js';
import { pythonDumps, signWebhook, type SignatureScheme } from '../../src/webhooks/signatures/index.js';
import { WebhookServer } from '../../src/server/webhook-server.js';
import { watchProcessFaults } from './support.js';
import { SYSTEM_CLOCK } from '../../src/util/clock.js';

watchProcessFaults();

const RUNS = 300;

function isCode(code: unknown, allowed: readonly ErrorCode[]): boolean {
  return typeof code === 'string' && (allowed as readonly string[]).includes(code);
}

/** Calls `fn`; a throw must be a RoomrunnerError with one of `allowed` codes and the catalog's content code. */
function outcome<T>(fn: () => T, allowed: readonly ErrorCode[]): { ok: true; value: T } | { ok: false; error: RoomrunnerError } {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    if (!(error instanceof RoomrunnerError) || !isCode(error.code, allowed)) {
      throw new Error(`expected a RoomrunnerError with one of ${allowed.join(', ')}, got ${String(error)}`, { cause: error });
    }
    const spec: ErrorSpec = ERROR_CATALOG[error.code];
    if (spec.content !== undefined) expect(error.contentCode).toBe(spec.content);
    return { ok: false, error };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The frame reader
// ---------------------------------------------------------------------------------------------------------------

const FRAME_CODES: readonly ErrorCode[] = ['RR_FRAME_TOO_SHORT', 'RR_FRAME_OUT_OF_ORDER', 'RR_MESSAGE_TOO_LARGE'];
const MAX_MESSAGE_BYTES = 4096;

/** A frame placed at an arbitrary offset of a larger buffer, as sockets hand them over. */
const atOffset = (frame: Uint8Array, offset: number): Uint8Array => {
  const buffer = new Uint8Array(offset + frame.length + 3);
  buffer.set(frame, offset);
  return buffer.subarray(offset, offset + frame.length);
};

function be32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

/** Frames that look like protocol frames (small ids, plausible indexes) so the reader's states are reached. */
const plausibleFrame = fc.oneof(
  fc
    .record({ id: fc.nat(3), count: fc.oneof(fc.nat(6), fc.nat()), type: fc.uint8Array({ maxLength: 12 }) })
    .map(({ id, count, type }) => Uint8Array.from([...be32(0), ...be32(id), ...be32(0), ...be32(count), ...type])),
  fc
    .record({ id: fc.nat(3), index: fc.oneof(fc.nat(7), fc.nat()), data: fc.uint8Array({ maxLength: 1200 }) })
    .map(({ id, index, data }) => Uint8Array.from([...be32(0), ...be32(id), ...be32(index), ...data])),
);
const anyFrame = fc.oneof(fc.uint8Array({ maxLength: 40 }), plausibleFrame);

/** Feeds frames and checks each result; returns the messages. */
function feed(reader: FrameReader, frames: readonly Uint8Array[], offsets: readonly number[] = []): FrameMessage[] {
  const messages: FrameMessage[] = [];
  let headerSinceOutOfOrder = true;
  frames.forEach((frame, i) => {
    let result: FrameReadResult | undefined;
    expect(() => (result = reader.push(atOffset(frame, offsets[i % Math.max(1, offsets.length)] ?? 0)))).not.toThrow();
    const isHeader = frame.length >= 16 && new DataView(frame.buffer, frame.byteOffset).getUint32(8) === 0;
    if (isHeader) headerSinceOutOfOrder = true;
    if (result === undefined) return;
    if (result.kind === 'message') {
      expect(result.message.data.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      messages.push(result.message);
      return;
    }
    expect(result.error).toBeInstanceOf(RoomrunnerError);
    expect(FRAME_CODES).toContain(result.error.code);
    expect(result.error.contentCode).toBe((ERROR_CATALOG[result.error.code] as ErrorSpec).content);
    if (result.error.code === 'RR_FRAME_OUT_OF_ORDER') {
      // A run of dropped frames is reported once: the next report needs a header frame in between.
      expect(headerSinceOutOfOrder).toBe(true);
      headerSinceOutOfOrder = false;
    }
  });
  return messages;
}

const message = fc.record({ id: fc.nat({ max: 2 ** 40 }), type: fc.string({ maxLength: 20 }), data: fc.uint8Array({ maxLength: 3000 }) });

type Mutation =
  | { kind: 'flip'; frame: number; byte: number; mask: number }
  | { kind: 'truncate'; frame: number; length: number }
  | { kind: 'duplicate'; frame: number }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'drop'; frame: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), frame: fc.nat(), byte: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), frame: fc.nat(), length: fc.nat(40) }),
  fc.record({ kind: fc.constant('duplicate' as const), frame: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), frame: fc.nat() }),
);

function mutate(frames: Uint8Array[], mutations: readonly Mutation[]): Uint8Array[] {
  const out: Uint8Array[] = frames.map((frame) => Uint8Array.from(frame));
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = (n: number): number => n % out.length;
    switch (m.kind) {
      case 'flip': {
        const frame = out[at(m.frame)] as Uint8Array;
        if (frame.length > 0) frame[m.byte % frame.length] = ((frame[m.byte % frame.length] as number) ^ m.mask) & 0xff;
        break;
      }
      case 'truncate':
        out[at(m.frame)] = (out[at(m.frame)] as Uint8Array).slice(0, m.length);
        break;
      case 'duplicate':
        out.splice(at(m.frame), 0, Uint8Array.from(out[at(m.frame)] as Uint8Array));
        break;
      case 'swap': {
        const [a, b] = [at(m.a), at(m.b)];
        [out[a], out[b]] = [out[b] as Uint8Array, out[a] as Uint8Array];
        break;
      }
      case 'drop':
        out.splice(at(m.frame), 1);
        break;
    }
  }
  return out;
}

describe('the frame reader under fuzzing', () => {
  it('never throws on arbitrary frames, and every error carries a protocol code with content code 1002', () => {
    fc.assert(
      fc.property(fc.array(anyFrame, { maxLength: 40 }), fc.array(fc.nat(7), { minLength: 1, maxLength: 4 }), (frames, offsets) => {
        feed(new FrameReader({ maxMessageBytes: MAX_MESSAGE_BYTES }), frames, offsets);
      }),
      { numRuns: RUNS },
    );
  });

  it('survives flipped, truncated, duplicated, reordered and dropped frames of valid messages and recovers at the next one', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), fc.array(mutation, { maxLength: 6 }), message, (messages, mutations, sentinel) => {
        const frames = messages.flatMap((m) => encodeFrames(m.id, m.type, m.data));
        const reader = new FrameReader({ maxMessageBytes: MAX_MESSAGE_BYTES });
        const got = feed(reader, mutate(frames, mutations));
        if (mutations.length === 0) {
          expect(got.map((m) => ({ id: m.id, type: m.type, data: Buffer.from(m.data) }))).toEqual(
            messages.map((m) => ({ id: m.id, type: m.type, data: Buffer.from(m.data) })),
          );
        }
        // Whatever state the damage left, the next intact message comes out whole.
        const recovered = feed(reader, encodeFrames(sentinel.id, sentinel.type, sentinel.data));
        expect(recovered).toHaveLength(1);
        expect(recovered[0]).toMatchObject({ id: sentinel.id, type: sentinel.type });
        expect(Buffer.from((recovered[0] as FrameMessage).data)).toEqual(Buffer.from(sentinel.data));
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Packed messages and contents
// ---------------------------------------------------------------------------------------------------------------

const CONTENT_CODES_ALLOWED: readonly ErrorCode[] = ['RR_PACKED_MESSAGE_INVALID', 'RR_CONTENT_UNKNOWN_TYPE', 'RR_CONTENT_INVALID'];

const contentArb: fc.Arbitrary<Content> = fc.oneof(
  fc.jsonValue().map((v) => ({ type: 'json' as const, json: JSON.parse(JSON.stringify(v ?? null)) as unknown })),
  fc.string().map((t) => ({ type: 'text' as const, text: t })),
  fc.record({ name: fc.string(), mimeType: fc.string(), data: fc.uint8Array({ maxLength: 200 }) }).map((r) => ({ type: 'file' as const, ...r })),
  fc.record({ name: fc.string(), url: fc.string() }).map((r) => ({ type: 'link' as const, ...r })),
  fc.constant({ type: 'empty' as const }),
  fc.record({ text: fc.string(), code: fc.integer() }).map((r) => ({ type: 'error' as const, ...r })),
  fc.uint8Array({ maxLength: 200 }).map((data) => ({ type: 'binary' as const, headers: { k: 'v' }, data })),
  fc.constantFrom<Content>({ type: 'control', method: 'open' }, { type: 'control', method: 'close', statusCode: 1007, message: 'x' }),
);

/** Header objects that reach every branch: a known or unknown type, fields of every JSON kind. */
const headerFields = fc.dictionary(
  fc.oneof(
    fc.constantFrom('type', 'json', 'text', 'name', 'url', 'mime_type', 'code', 'method', 'status_code', 'message', 'headers', '__meshagent__', '__proto__'),
    fc.string(),
  ),
  fc.oneof(fc.constantFrom<unknown>(...CONTENT_TYPES, 'raw', 'open', 'close', '1000', ' 7 '), fc.jsonValue()),
);
const headerArb = fc.oneof(
  headerFields,
  fc.tuple(fc.constantFrom<string>(...CONTENT_TYPES, 'raw'), headerFields).map(([type, fields]) => ({ ...fields, type })),
);

const byteMutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

function mutateBytes(
  bytes: Uint8Array,
  mutations: ReadonlyArray<{ kind: 'flip' | 'truncate' | 'insert'; at: number; mask?: number; bytes?: Uint8Array }>,
): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    if (m.kind === 'flip' && out.length > 0) out[at % out.length] = ((out[at % out.length] as number) ^ (m.mask ?? 1)) & 0xff;
    if (m.kind === 'truncate') out = out.slice(0, at);
    if (m.kind === 'insert') out = Uint8Array.from([...out.subarray(0, at), ...(m.bytes ?? []), ...out.subarray(at)]);
  }
  return out;
}

function checkContent(result: ReturnType<typeof outcome<Content>>): void {
  if (result.ok) expect(CONTENT_TYPES).toContain(result.value.type);
}

describe('the content unpacker under fuzzing', () => {
  it('answers arbitrary bytes with a content or RR_PACKED_MESSAGE_INVALID only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        outcome(() => unpackMessage(bytes), ['RR_PACKED_MESSAGE_INVALID']);
        checkContent(outcome(() => unpackContent(bytes), CONTENT_CODES_ALLOWED));
      }),
      { numRuns: RUNS },
    );
  });

  it('answers arbitrary packed headers with a content or a content error code only', () => {
    fc.assert(
      fc.property(headerArb, fc.uint8Array({ maxLength: 64 }), (header, payload) => {
        checkContent(outcome(() => unpackContent(packMessage(header, payload)), CONTENT_CODES_ALLOWED));
      }),
      { numRuns: RUNS },
    );
  });

  it('answers mutated valid contents with a content or a content error code only', () => {
    fc.assert(
      fc.property(contentArb, fc.array(byteMutation, { minLength: 1, maxLength: 4 }), (content, mutations) => {
        const bytes = mutateBytes(packContent(content), mutations);
        outcome(() => unpackMessage(bytes), ['RR_PACKED_MESSAGE_INVALID']);
        checkContent(outcome(() => unpackContent(bytes), CONTENT_CODES_ALLOWED));
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Participant tokens
// ---------------------------------------------------------------------------------------------------------------

const TOKEN_SECRET = 'fault-token-secret';
const ROOM = 'fuzz-room';
const NOW_S = 1_750_000_000;
const TOKEN_CODES: readonly ErrorCode[] = ['RR_TOKEN_MALFORMED', 'RR_TOKEN_SIGNATURE', 'RR_TOKEN_EXPIRED', 'RR_TOKEN_WRONG_ROOM'];
const verify = (token: unknown) => outcome(() => verifyParticipantToken(token as string, { secret: TOKEN_SECRET, room: ROOM, now: NOW_S }), TOKEN_CODES);

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const tokenLike = fc.oneof(
  fc.string(),
  fc.array(fc.string({ unit: fc.constantFrom(...'AZaz09-_=.+/ é'.split('')), maxLength: 30 }), { maxLength: 5 }).map((parts) => parts.join('.')),
  fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.string({ maxLength: 50 })).map(([h, p, s]) => `${b64(h)}.${b64(p)}.${s}`),
  fc.jsonValue().map((p) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(p)}.`),
  fc.jsonValue().map((p) => `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(p)}.${b64('x'.repeat(32))}`),
);

const validToken = fc
  .record({
    name: fc.string({ minLength: 1, maxLength: 20 }),
    role: fc.constantFrom('user' as const, 'agent' as const, 'tool' as const),
    ttl: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
  })
  .map(({ name, role, ttl }) =>
    mintParticipantToken({ name, role, room: ROOM, secret: TOKEN_SECRET, now: NOW_S, ...(ttl === undefined ? {} : { expiresInSeconds: ttl }) }),
  );

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é\u0000';

/** Bits a base64url character carries beyond the bytes when it ends a part of `length` characters. */
function spareBits(length: number): number {
  return length % 4 === 2 ? 4 : length % 4 === 3 ? 2 : 0;
}

describe('the participant-token verifier under fuzzing', () => {
  it('refuses arbitrary strings and non-strings with RR_TOKEN_MALFORMED or RR_TOKEN_SIGNATURE', () => {
    fc.assert(
      fc.property(fc.oneof(tokenLike, tokenLike, fc.anything()), (token) => {
        const result = verify(token);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(['RR_TOKEN_MALFORMED', 'RR_TOKEN_SIGNATURE']).toContain(result.error.code);
      }),
      { numRuns: RUNS },
    );
  });

  it('never accepts a valid token with one character of its header, payload or signature changed, inserted or removed', () => {
    fc.assert(
      fc.property(validToken, fc.nat(), fc.constantFrom(...ALPHABET.split('')), fc.constantFrom('replace', 'insert', 'remove'), (token, at, char, how) => {
        expect(verify(token).ok).toBe(true);
        const i = at % token.length;
        const mutated =
          how === 'replace'
            ? token.slice(0, i) + char + token.slice(i + 1)
            : how === 'insert'
              ? token.slice(0, i) + char + token.slice(i)
              : token.slice(0, i) + token.slice(i + 1);
        fc.pre(mutated !== token);
        const result = verify(mutated);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(['RR_TOKEN_MALFORMED', 'RR_TOKEN_SIGNATURE']).toContain(result.error.code);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses even a spelling change that decodes to the same bytes, since the signature covers the text', () => {
    fc.assert(
      fc.property(validToken, fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 15 }), (token, part, bits) => {
        const parts = token.split('.') as [string, string, string];
        const target = parts[part] as string;
        const spare = spareBits(target.length);
        fc.pre(spare > 0 && bits < 2 ** spare);
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const last = alphabet.indexOf(target.at(-1) as string);
        const respelled = target.slice(0, -1) + alphabet[last ^ bits];
        expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(target, 'base64url'));
        parts[part] = respelled;
        const result = verify(parts.join('.'));
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.error.code).toBe('RR_TOKEN_SIGNATURE');
      }),
      { numRuns: RUNS },
    );
  });

  it('answers arbitrary claims signed with the right secret with claims for this room or a documented token error', () => {
    const grant = fc.oneof(
      { weight: 3, arbitrary: fc.record({ name: fc.constant('room'), scope: fc.oneof(fc.constant(ROOM), fc.constant(ROOM), fc.jsonValue()) }) },
      { weight: 3, arbitrary: fc.record({ name: fc.constantFrom('role', 'api'), scope: fc.jsonValue() }) },
      { weight: 1, arbitrary: fc.record({ name: fc.oneof(fc.string(), fc.jsonValue()), scope: fc.jsonValue() }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.jsonValue() },
    );
    const claims = fc.oneof(
      { weight: 1, arbitrary: fc.jsonValue() },
      {
        weight: 4,
        arbitrary: fc.record(
          {
            name: fc.oneof({ weight: 6, arbitrary: fc.string() }, { weight: 1, arbitrary: fc.jsonValue() }),
            grants: fc.oneof({ weight: 6, arbitrary: fc.array(grant, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.jsonValue() }),
            exp: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: NOW_S - 5, max: NOW_S + 100 }) }, { weight: 1, arbitrary: fc.jsonValue() }),
            sub: fc.oneof({ weight: 6, arbitrary: fc.string() }, { weight: 1, arbitrary: fc.jsonValue() }),
            version: fc.string(),
          },
          { requiredKeys: ['name', 'grants'] },
        ),
      },
    );
    fc.assert(
      fc.property(claims, (payload) => {
        const token = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
        const signed =
          typeof payload === 'object' && payload !== null && !Array.isArray(payload)
            ? signJwt(payload as Record<string, unknown>, TOKEN_SECRET)
            : `${token}.${'A'.repeat(43)}`;
        const result = verify(signed);
        if (result.ok) {
          expect(result.value.room).toBe(ROOM);
          if (result.value.expiresAt !== undefined) expect(result.value.expiresAt).toBeGreaterThan(NOW_S);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The webhook endpoint
// ---------------------------------------------------------------------------------------------------------------

const WEBHOOK_SECRET = 'fault-webhook-secret';
const WHSEC = `whsec_${Buffer.from('fault suite key, thirty-two byte').toString('base64')}`;

describe('the webhook endpoint under fuzzing', () => {
  let hookCalls = 0;
  const hook = (): void => {
    hookCalls += 1;
  };
  const subject = new WebhookServer({
    config: loadConfig({}, {}),
    secrets: [WEBHOOK_SECRET, WHSEC],
    logger: silentLogger(),
    defaultMetrics: false,
    bodyLimitBytes: 2048,
    clock: { ...SYSTEM_CLOCK, now: () => NOW_S * 1000 },
    store: new MemoryStore({ now: () => NOW_S * 1000 }),
    onRoomStarted: hook,
    onRoomEnded: hook,
    onCall: hook,
    onEvent: hook,
  });
  const app = subject.buildApp();
  beforeAll(async () => {
    await app.ready();
  });
  afterAll(async () => {
    await subject.close();
    await subject.store.close();
  });

  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
  const envelope = fc.record(
    {
      event: fc.oneof(fc.constantFrom('room.started', 'room.ended', 'room.call', 'webhook.ping', 'ping', 'x.custom', ''), fc.jsonValue()),
      data: fc.oneof(
        fc.record(
          { room_name: fc.oneof(fc.string(), fc.jsonValue()), room_url: fc.string(), token: fc.string(), session_id: fc.string() },
          { requiredKeys: [] },
        ),
        fc.jsonValue(),
      ),
    },
    { requiredKeys: [] },
  );
  /** Envelopes that pass parsing, so signed ones get through to the ledger and the hooks. */
  const goodEnvelope = fc.record({
    event: fc.constantFrom('room.started', 'room.ended', 'room.call', 'webhook.ping', 'x.custom'),
    data: fc.record({
      room_name: fc.string({ minLength: 1 }),
      room_url: fc.constant('ws://127.0.0.1:1/rooms/r'),
      token: fc.string(),
      session_id: fc.uuid(),
      arguments: fc.constant(null),
    }),
  });
  const body = fc.oneof(
    goodEnvelope.map((value) => pythonDumps(value)),
    goodEnvelope.map((value) => JSON.stringify(value)),
    envelope.map((value) => pythonDumps(value)),
    envelope.map((value) => JSON.stringify(value)),
    fc.jsonValue().map((value) => JSON.stringify(value)),
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes)),
  );
  const contentType = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/cloudevents+json') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(undefined, 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/', 'json', ';'),
    },
    { weight: 1, arbitrary: printable },
  );
  /** Any header a sender could add, except those that change how HTTP frames the body. */
  const FRAMING = new Set(['content-length', 'transfer-encoding', 'host', 'connection', 'upgrade', 'expect', 'content-type']);
  const extraHeaders = fc.dictionary(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,24}$/).filter((name) => !FRAMING.has(name)),
    printable,
    { maxKeys: 5 },
  );
  const forgedHeaders = fc.record(
    {
      'meshagent-signature': fc.oneof(
        printable,
        printable.map((t) => `Bearer ${t}`),
        fc.constant(`Bearer ${signJwt({ sha256: '0'.repeat(64) }, WEBHOOK_SECRET)}`),
        fc.constant(`Bearer ${signJwt({ sha256: 'x' }, 'wrong')}`),
      ),
      'webhook-id': printable,
      'webhook-timestamp': fc.oneof(printable, fc.integer({ min: NOW_S - 1000, max: NOW_S + 1000 }).map(String)),
      'webhook-signature': fc.oneof(
        printable,
        printable.map((t) => `v1,${Buffer.from(t).toString('base64')}`),
      ),
      'x-meshia-signature': fc.oneof(printable, fc.stringMatching(/^sha256=[0-9a-f]{64}$/)),
      'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'x'),
    },
    { requiredKeys: [] },
  );
  const method = fc.oneof(
    fc.constant('POST' as const),
    fc.constant('POST' as const),
    fc.constantFrom('GET' as const, 'PUT' as const, 'PATCH' as const, 'DELETE' as const, 'OPTIONS' as const),
  );
  const url = fc.oneof(fc.constant('/webhook'), fc.constant('/webhook'), fc.constantFrom('/webhook/', '/webhook?x=1', '/nope', '/webhook/x', '//webhook'));

  /** Checks the answer's shape and returns how many hooks the request must have caused. */
  function checkAnswer(response: { statusCode: number; json(): unknown }): { accepted: boolean; duplicate: boolean } {
    expect(response.statusCode).toBeLessThan(500);
    const answer = response.json() as { ok?: unknown; duplicate?: unknown; error?: { code?: unknown; message?: unknown } };
    if (response.statusCode === 200) {
      expect(answer.ok).toBe(true);
      return { accepted: true, duplicate: answer.duplicate === true };
    }
    expect(answer).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^RR_/), message: expect.any(String) } });
    const code = answer.error?.code as ErrorCode;
    expect(Object.hasOwn(ERROR_CATALOG, code), `${String(code)} is in the catalog`).toBe(true);
    const spec: ErrorSpec = ERROR_CATALOG[code];
    expect(spec.http, `the catalog's status of ${code}`).toBe(response.statusCode);
    return { accepted: false, duplicate: false };
  }

  function isPing(payload: string | Buffer): boolean {
    try {
      return parseWebhookBody(typeof payload === 'string' ? Buffer.from(payload) : payload) instanceof PingEvent;
    } catch {
      return false;
    }
  }

  it('answers forged, missing and malformed signatures with a documented error, never 5xx, and runs no hook', async () => {
    await fc.assert(
      fc.asyncProperty(method, url, body, contentType, forgedHeaders, extraHeaders, async (verb, path, payload, type, forged, extra) => {
        hookCalls = 0;
        const response = await app.inject({
          method: verb,
          url: path,
          ...(verb === 'GET' || verb === 'OPTIONS' ? {} : { payload }),
          headers: { ...extra, ...forged, ...(type === undefined ? {} : { 'content-type': type }) },
        });
        await subject.idle();
        const { accepted } = checkAnswer(response);
        // Unsigned: never accepted on the webhook path, so never dispatched.
        expect(accepted && path.startsWith('/webhook') && verb === 'POST').toBe(false);
        expect(hookCalls).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers signed arbitrary bodies with 200 and exactly one hook, or a documented error and none', async () => {
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom<SignatureScheme>('meshagent', 'standard-webhooks', 'hmac-sha256'),
        fc.uuid(),
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/vnd.x+json; charset=utf-8') },
          { weight: 1, arbitrary: fc.constantFrom(undefined, 'text/plain') },
        ),
        extraHeaders,
        async (payload, scheme, id, type, extra) => {
          hookCalls = 0;
          const signature = signWebhook(scheme, { body: payload, secret: scheme === 'standard-webhooks' ? WHSEC : WEBHOOK_SECRET, id, timestamp: NOW_S });
          const response = await app.inject({
            method: 'POST',
            url: '/webhook',
            payload,
            headers: { ...extra, ...signature, ...(type === undefined ? {} : { 'content-type': type }) },
          });
          await subject.idle();
          const { accepted, duplicate } = checkAnswer(response);
          expect(hookCalls).toBe(accepted && !duplicate && !isPing(payload) ? 1 : 0);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
