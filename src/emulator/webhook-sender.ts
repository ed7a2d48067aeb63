/**
 * The emulator's webhook sender: project webhook subscriptions, signed deliveries with retries, and a
 * delivery log (docs/protocol.md §A.1–A.4, §A.7; docs/references.md §webhook-senders, §receiver-pitfalls, §meshia-webhooks).
 *
 * - Body: the MeshAgent envelope `{"event": …, "data": {…}}` as Python's `json.dumps` prints it (§A.4
 *   sender step 1), built once per delivery and sent byte for byte on every attempt.
 * - Signature per subscription scheme: `meshagent` (`Meshagent-Signature: Bearer <jwt>`), `standard-webhooks`
 *   (`webhook-id` stable across the retries of one delivery, `webhook-timestamp` per attempt) or
 *   `hmac-sha256` (`X-Meshia-Signature: sha256=<hex>` by default). No secret, no signature header (§A.4
 *   step 5).
 * - Delivery policy (MeshAgent's is unknown, docs/protocol.md §Gaps 3; this follows docs/references.md §meshia-webhooks and Standard Webhooks):
 *   2xx is success, anything else (3xx included: redirects are not followed) is a failure; 3 retries by
 *   default, so 4 attempts; exponential backoff from `backoffDelayMs` (the same pure function the room
 *   client uses); a per-attempt timeout of 10 s.
 * - A test ping, event {@link WEBHOOK_PING_EVENT} with data `{webhook_id}`, goes to every new subscription
 *   whatever its event filter (as GitHub's `ping` and Meshia's "test ping on save").
 * - Deliveries of one room to one subscription go out one at a time in event order (LiveKit's per-resource
 *   queue, docs/references.md §livekit-webhooks), so `room.started` never overtakes `room.ended`; different rooms go out in
 *   parallel, at most {@link DEFAULT_MAX_IN_FLIGHT} at once per subscription. A failing endpoint delays only
 *   its own later events. Direct deliveries (`deliverTo`, used for `room.call`) are not queued.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { AbortError } from 'p-retry';
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { InFlight } from '../util/in-flight.js';
import { KeyedSemaphore } from '../util/semaphore.js';
import {
  DEFAULT_HMAC_HEADER,
  decodeStandardWebhookSecret,
  pythonDumps,
  signWebhook,
  SIGNATURE_SCHEMES,
  type SignatureScheme,
} from '../webhooks/signatures/index.js';
import { errorMessage } from '../util/error-message.js';
import { fraction, nonNegativeMs, wholeNumber } from '../util/options.js';
import { retry } from '../util/retry.js';

/** The test event sent when a subscription is created (and by {@link WebhookSender.ping}). */
/** Deliveries in flight at once per subscription (different rooms; one room's events stay in order). */
export const DEFAULT_MAX_IN_FLIGHT = 16;

export const WEBHOOK_PING_EVENT = 'webhook.ping';
/** Subscription wildcard meaning "every event" (§A.2); never sent as an event name. */
export const WILDCARD_EVENT = '*';
export const DEFAULT_SIGNATURE_SCHEME: SignatureScheme = 'meshagent';
/** Retries after the first attempt ("retried 3 times with exponential backoff"). */
export const DEFAULT_WEBHOOK_RETRIES = 3;
export const DEFAULT_WEBHOOK_MIN_TIMEOUT_MS = 1_000;
export const DEFAULT_WEBHOOK_MAX_TIMEOUT_MS = 30_000;
/** Jitter fraction for `backoffDelayMs`; 0 makes the schedule exactly 1 s, 2 s, 4 s. */
export const DEFAULT_WEBHOOK_JITTER = 0.2;
/** Per-attempt request timeout (GitHub's 10 s, the tightest of the anchors). */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** How many deliveries the log keeps; the oldest are dropped first. */
export const DEFAULT_DELIVERY_LOG_SIZE = 1_000;

const USER_AGENT = 'roomrunner-emulator';
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** How a subscription is created or replaced (the §A.7 body plus our `secret`, `scheme`, `header`). */
export const webhookSubscriptionInputSchema = z
  .object({
    name: z.string().default(''),
    description: z.string().default(''),
    url: z
      .string({ error: 'must be an http(s) URL string' })
      .refine((value) => /^https?:$/.test(safeUrl(value)?.protocol ?? ''), 'must be an absolute http:// or https:// URL'),
    events: z.array(z.string().min(1, 'event names must be non-empty')).default([WILDCARD_EVENT]),
    action: z.enum(['', 'call'], { error: 'must be "" (deliver events) or "call" (room.call handoff)' }).default(''),
    payload: z.record(z.string(), z.unknown()).nullable().default(null),
    scheme: z.enum(SIGNATURE_SCHEMES, { error: `must be one of ${SIGNATURE_SCHEMES.join(', ')}` }).default(DEFAULT_SIGNATURE_SCHEME),
    // An empty secret means "unsigned", like none at all.
    secret: z
      .string()
      .nullable()
      .default(null)
      .transform((value) => (value === '' ? null : value)),
    header: z.string().regex(HEADER_NAME, 'must be an HTTP header name').nullable().default(null),
  })
  .superRefine((value, ctx) => {
    if (value.secret !== null && value.scheme === 'standard-webhooks') {
      try {
        decodeStandardWebhookSecret(value.secret);
      } catch {
        ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a standard-webhooks secret must be `whsec_` followed by base64' });
      }
    }
    if (value.header !== null && value.scheme !== 'hmac-sha256') {
      ctx.addIssue({ code: 'custom', path: ['header'], message: 'only the hmac-sha256 scheme takes a header name' });
    }
  });

/** How a subscription is created or replaced; see {@link WebhookSubscription} for each field. */
export interface WebhookSubscriptionInput {
  readonly url: string;
  readonly name?: string;
  readonly description?: string;
  /** Default `['*']`; `[]` selects nothing (only the ping is sent). */
  readonly events?: readonly string[];
  readonly action?: '' | 'call';
  readonly payload?: Readonly<Record<string, unknown>> | null;
  /** Default `meshagent`. */
  readonly scheme?: SignatureScheme;
  /** null, `""` or absent: unsigned. */
  readonly secret?: string | null;
  readonly header?: string | null;
}

/** A subscription as the sender keeps it. */
export interface WebhookSubscription {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly url: string;
  /** Event names; `'*'` matches every event. */
  readonly events: readonly string[];
  /** `''` delivers events; `'call'` turns `room.started` into a `room.call` handoff with a token. */
  readonly action: '' | 'call';
  /** Merged into every event's `data` (event fields win); the `arguments` of a `call` handoff. */
  readonly payload: Readonly<Record<string, unknown>> | null;
  readonly scheme: SignatureScheme;
  /** null: deliveries are unsigned. */
  readonly secret: string | null;
  /** Header of the `hmac-sha256` scheme; null means `X-Meshia-Signature` (docs/references.md §meshia-webhooks). */
  readonly header: string | null;
  /** ISO time of creation. */
  readonly createdAt: string;
}

export interface DeliveryAttempt {
  /** ISO time the request was sent. */
  readonly at: string;
  /** Response status; null when no response arrived (refused, reset, timed out). */
  readonly status: number | null;
  /** Why the attempt failed; null when it succeeded. */
  readonly error: string | null;
  readonly latencyMs: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One entry of the delivery log: one event to one URL, with every attempt. */
export interface DeliveryRecord {
  /** Also the Standard Webhooks `webhook-id`. */
  readonly id: string;
  /** null for a direct delivery to a URL no subscription names (a `room.call`). */
  readonly subscriptionId: string | null;
  readonly event: string;
  readonly url: string;
  /** The exact bytes sent (UTF-8 text). */
  readonly body: string;
  readonly attempts: readonly DeliveryAttempt[];
  readonly status: DeliveryStatus;
  readonly createdAt: string;
  readonly deliveredAt: string | null;
}

/** How a direct delivery is signed (omit, or give no secret, to send it unsigned) and whose log it joins. */
export interface DeliverySigning {
  readonly scheme?: SignatureScheme;
  readonly secret?: string | null;
  readonly header?: string | null;
  /** Log the delivery under this subscription (e.g. the one whose URL a `room.call` names). */
  readonly subscriptionId?: string | null;
}

export interface WebhookSenderOptions {
  /** Retries after the first attempt. Default 3. */
  retries?: number;
  /** Delay before the first retry, doubling after. Default 1000 ms. */
  minTimeoutMs?: number;
  /** Largest delay between attempts. Default 30 000 ms. */
  maxTimeoutMs?: number;
  /** Random fraction taken off each delay, in [0, 1]. Default 0.2. */
  jitter?: number;
  /** Per-attempt request timeout. Default 10 000 ms. */
  timeoutMs?: number;
  /** Deliveries kept in the log. Default 1000. */
  logSize?: number;
  /** Send {@link WEBHOOK_PING_EVENT} when a subscription is created. Default true. */
  pingOnCreate?: boolean;
  /**
   * Mints the participant token of a `call`-action subscription's `room.call` handoff. Without it such
   * subscriptions get `room.started` like any other.
   */
  mintCallToken?: (input: { room: string; name: string }) => string;
  logger?: Logger;
  /** Wall clock in ms (attempt times, latency, `webhook-timestamp`). Default `Date.now`. */
  now?: () => number;
  /** Jitter source in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Waits between attempts; must reject when `signal` aborts. Default a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Subscription ids. Default `crypto.randomUUID`. */
  newId?: () => string;
}

interface MutableRecord {
  id: string;
  subscriptionId: string | null;
  event: string;
  url: string;
  body: string;
  attempts: DeliveryAttempt[];
  status: DeliveryStatus;
  createdAt: string;
  deliveredAt: string | null;
}

interface Target {
  readonly url: string;
  readonly subscriptionId: string | null;
  readonly scheme: SignatureScheme;
  readonly secret: string | null;
  readonly header: string | null;
}

/** A failed attempt, as p-retry sees it. Never a TypeError, so p-retry always retries it. */
class AttemptFailed extends Error {}

/**
 * Project webhook subscriptions and their deliveries. Deliveries run in the background; `idle()` waits
 * for them and `close()` cancels them.
 */
export class WebhookSender {
  readonly #subscriptions = new Map<string, WebhookSubscription>();
  readonly #log = new Map<string, MutableRecord>();
  readonly #queues = new Map<string, Promise<void>>();
  /** Deliveries in flight per subscription, at most DEFAULT_MAX_IN_FLIGHT; the rest wait in FIFO order. */
  readonly #slots = new KeyedSemaphore();
  readonly #inFlight = new InFlight();
  readonly #closing = new AbortController();
  readonly #retries: number;
  readonly #minTimeoutMs: number;
  readonly #maxTimeoutMs: number;
  readonly #jitter: number;
  readonly #timeoutMs: number;
  readonly #logSize: number;
  readonly #pingOnCreate: boolean;
  readonly #mintCallToken: WebhookSenderOptions['mintCallToken'];
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #fetch: typeof fetch;
  readonly #newId: () => string;

  constructor(options: WebhookSenderOptions = {}) {
    this.#retries = wholeNumber('WebhookSender retries', options.retries ?? DEFAULT_WEBHOOK_RETRIES);
    this.#minTimeoutMs = nonNegativeMs('WebhookSender minTimeoutMs', options.minTimeoutMs ?? DEFAULT_WEBHOOK_MIN_TIMEOUT_MS);
    this.#maxTimeoutMs = nonNegativeMs('WebhookSender maxTimeoutMs', options.maxTimeoutMs ?? Math.max(DEFAULT_WEBHOOK_MAX_TIMEOUT_MS, this.#minTimeoutMs));
    this.#jitter = fraction('WebhookSender jitter', options.jitter ?? DEFAULT_WEBHOOK_JITTER);
    this.#timeoutMs = nonNegativeMs('WebhookSender timeoutMs', options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS);
    this.#logSize = wholeNumber('WebhookSender logSize', options.logSize ?? DEFAULT_DELIVERY_LOG_SIZE);
    this.#pingOnCreate = options.pingOnCreate ?? true;
    this.#mintCallToken = options.mintCallToken;
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'webhook-sender' });
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }));
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.#newId = options.newId ?? randomUUID;
  }

  // ---------------------------------------------------------------------------------------------------
  // Subscriptions
  // ---------------------------------------------------------------------------------------------------

  /**
   * Adds a subscription and (unless `pingOnCreate` is off) sends it the test ping in the background.
   * @throws RoomrunnerError `RR_EMULATOR_BAD_REQUEST` naming the bad field.
   */
  create(input: WebhookSubscriptionInput): WebhookSubscription {
    const parsed = parseSubscriptionInput(input);
    const subscription: WebhookSubscription = Object.freeze({
      id: this.#newId(),
      ...parsed,
      events: Object.freeze([...parsed.events]),
      createdAt: this.#isoNow(),
    });
    this.#subscriptions.set(subscription.id, subscription);
    this.#logger.info({ webhook: subscription.id, events: subscription.events, scheme: subscription.scheme }, 'webhook subscription created');
    if (this.#pingOnCreate) this.ping(subscription.id);
    return subscription;
  }

  /**
   * Replaces a subscription's fields (a PUT). A `secret` left out keeps the current one; `null` or `""` removes it.
   * @throws RoomrunnerError `RR_EMULATOR_WEBHOOK_NOT_FOUND`, `RR_EMULATOR_BAD_REQUEST`.
   */
  update(id: string, input: WebhookSubscriptionInput): WebhookSubscription {
    const current = this.#require(id);
    const parsed = parseSubscriptionInput({ ...input, secret: input.secret === undefined ? current.secret : input.secret });
    const next: WebhookSubscription = Object.freeze({ ...current, ...parsed, events: Object.freeze([...parsed.events]) });
    this.#subscriptions.set(id, next);
    return next;
  }

  /** Removes a subscription; deliveries already queued for it still run. False when unknown. */
  delete(id: string): boolean {
    return this.#subscriptions.delete(id);
  }

  get(id: string): WebhookSubscription | undefined {
    return this.#subscriptions.get(id);
  }

  list(): WebhookSubscription[] {
    return [...this.#subscriptions.values()];
  }

  // ---------------------------------------------------------------------------------------------------
  // Deliveries
  // ---------------------------------------------------------------------------------------------------

  /**
   * Sends `{event, data}` to every subscription whose filter matches, in the background. Returns the new
   * log entries (all `pending`); nothing after `close()`.
   */
  deliver(event: string, data: Readonly<Record<string, unknown>>): DeliveryRecord[] {
    if (this.#closing.signal.aborted) return [];
    const records: DeliveryRecord[] = [];
    for (const subscription of this.#subscriptions.values()) {
      if (!matches(subscription.events, event)) continue;
      const envelope = this.#envelopeFor(subscription, event, data);
      records.push(this.#enqueue(subscription, envelope.event, envelope.data));
    }
    return records;
  }

  /**
   * Sends the test ping to one subscription (outside its event filter) in the background.
   * @throws RoomrunnerError `RR_EMULATOR_WEBHOOK_NOT_FOUND`.
   */
  ping(id: string): DeliveryRecord | undefined {
    const subscription = this.#require(id);
    if (this.#closing.signal.aborted) return undefined;
    return this.#enqueue(subscription, WEBHOOK_PING_EVENT, { webhook_id: subscription.id });
  }

  /**
   * Sends `{event, data}` to `url` now, outside any subscription queue, and resolves with the final log
   * entry (`delivered` or `failed`; it never rejects). Used for `room.call` (§A.8).
   */
  async deliverTo(url: string, event: string, data: Readonly<Record<string, unknown>>, signing: DeliverySigning = {}): Promise<DeliveryRecord> {
    const target: Target = {
      url,
      subscriptionId: signing.subscriptionId ?? null,
      scheme: signing.scheme ?? DEFAULT_SIGNATURE_SCHEME,
      secret: signing.secret ? signing.secret : null,
      header: signing.header ?? null,
    };
    const record = this.#newRecord(target, event, data);
    if (this.#closing.signal.aborted) {
      record.status = 'failed';
      return snapshot(record);
    }
    await this.#inFlight.track(this.#run(record, target));
    return snapshot(record);
  }

  /** The subscription a URL belongs to (the first whose URL is the same after normalising). */
  subscriptionForUrl(url: string): WebhookSubscription | undefined {
    const wanted = safeUrl(url)?.href ?? url;
    for (const subscription of this.#subscriptions.values()) {
      if ((safeUrl(subscription.url)?.href ?? subscription.url) === wanted) return subscription;
    }
    return undefined;
  }

  /** The delivery log, oldest first; optionally only one subscription's. */
  deliveries(filter: { subscriptionId?: string } = {}): DeliveryRecord[] {
    const all = [...this.#log.values()];
    const wanted = filter.subscriptionId === undefined ? all : all.filter((record) => record.subscriptionId === filter.subscriptionId);
    return wanted.map(snapshot);
  }

  delivery(id: string): DeliveryRecord | undefined {
    const record = this.#log.get(id);
    return record === undefined ? undefined : snapshot(record);
  }

  /** Resolves once no delivery is queued or in flight (including ones started while waiting). */
  async idle(): Promise<void> {
    await this.#inFlight.idle();
  }

  /** Cancels waiting retries and open requests (those deliveries end `failed`) and waits for them. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) this.#closing.abort(new Error('webhook sender closed'));
    await this.idle();
  }

  // ---------------------------------------------------------------------------------------------------
  // Internals
  // ---------------------------------------------------------------------------------------------------

  #require(id: string): WebhookSubscription {
    const subscription = this.#subscriptions.get(id);
    if (subscription === undefined) {
      throw new RoomrunnerError('RR_EMULATOR_WEBHOOK_NOT_FOUND', `no webhook with id ${JSON.stringify(id)}`, { data: { id } });
    }
    return subscription;
  }

  #envelopeFor(subscription: WebhookSubscription, event: string, data: Readonly<Record<string, unknown>>): { event: string; data: Record<string, unknown> } {
    const roomName = data['room_name'];
    if (subscription.action === 'call' && event === 'room.started' && this.#mintCallToken && typeof roomName === 'string') {
      // §A.7: a `call` webhook hands the target a joinable token; the exact payload is a gap, so we send
      // the §A.2 room.call shape with the subscription's payload as `arguments`.
      const name = subscription.name !== '' ? subscription.name : `webhook-${subscription.id.slice(0, 8)}`;
      return {
        event: 'room.call',
        data: { room_name: roomName, room_url: data['room_url'], token: this.#mintCallToken({ room: roomName, name }), arguments: subscription.payload },
      };
    }
    return { event, data: { ...subscription.payload, ...data } };
  }

  #enqueue(subscription: WebhookSubscription, event: string, data: Readonly<Record<string, unknown>>): DeliveryRecord {
    const target: Target = {
      url: subscription.url,
      subscriptionId: subscription.id,
      scheme: subscription.scheme,
      secret: subscription.secret,
      header: subscription.header,
    };
    const record = this.#newRecord(target, event, data);
    // One queue per (subscription, room): a room's events keep their order; rooms do not wait for each other.
    const room = typeof data['room_name'] === 'string' ? data['room_name'] : '';
    const key = `${subscription.id}\u0000${room}`;
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.#withSlot(subscription.id, () => this.#run(record, target)));
    this.#queues.set(key, next);
    void this.#inFlight.track(next).then(() => {
      if (this.#queues.get(key) === next) this.#queues.delete(key);
    });
    return snapshot(record);
  }

  /** Run `work` once fewer than DEFAULT_MAX_IN_FLIGHT deliveries of this subscription are in flight. */
  async #withSlot(subscriptionId: string, work: () => Promise<void>): Promise<void> {
    // No queue bound and no signal: the acquire always resolves with a release.
    const release = await this.#slots.acquire(subscriptionId, DEFAULT_MAX_IN_FLIGHT);
    try {
      await work();
    } finally {
      release?.();
    }
  }

  #newRecord(target: Target, event: string, data: Readonly<Record<string, unknown>>): MutableRecord {
    // §A.4 step 1: `event` before `data`, Python's separators and escapes. S is sent on every attempt.
    const body = pythonDumps({ event, data });
    const record: MutableRecord = {
      id: `msg_${randomBytes(12).toString('hex')}`,
      subscriptionId: target.subscriptionId,
      event,
      url: target.url,
      body,
      attempts: [],
      status: 'pending',
      createdAt: this.#isoNow(),
      deliveredAt: null,
    };
    this.#log.set(record.id, record);
    while (this.#log.size > this.#logSize) {
      const oldest = this.#log.keys().next();
      if (oldest.done) break;
      this.#log.delete(oldest.value);
    }
    return record;
  }

  /** Runs every attempt of one delivery; never rejects. */
  async #run(record: MutableRecord, target: Target): Promise<void> {
    const signal = this.#closing.signal;
    const log = this.#logger.child({ delivery: record.id, webhook: target.subscriptionId, event: record.event });
    try {
      await retry(
        () => this.#attempt(record, target),
        { retries: this.#retries, backoff: { initialMs: this.#minTimeoutMs, maxMs: Math.max(this.#maxTimeoutMs, this.#minTimeoutMs), jitter: this.#jitter } },
        {
          signal,
          random: this.#random,
          sleep: (ms) => this.#sleep(ms, signal),
          onRetry: (retryNumber, delayMs) => log.debug({ attempt: retryNumber + 1, delayMs }, 'webhook attempt failed, retrying'),
        },
      );
      record.status = 'delivered';
      record.deliveredAt = this.#isoNow();
      log.info({ attempts: record.attempts.length }, 'webhook delivered');
    } catch {
      record.status = 'failed';
      log.warn({ attempts: record.attempts.length, status: record.attempts.at(-1)?.status ?? null }, 'webhook delivery failed');
    }
  }

  async #attempt(record: MutableRecord, target: Target): Promise<void> {
    const started = this.#now();
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': USER_AGENT };
    if (target.secret !== null) {
      try {
        Object.assign(
          headers,
          signWebhook(target.scheme, {
            body: record.body,
            secret: target.secret,
            id: record.id,
            timestamp: Math.floor(started / 1000),
            header: target.header ?? DEFAULT_HMAC_HEADER,
          }),
        );
      } catch (cause) {
        // A secret the scheme cannot use fails the same way on every attempt: record it and stop.
        const error = `cannot sign with the ${target.scheme} scheme: ${errorMessage(cause)}`;
        record.attempts.push({ at: new Date(started).toISOString(), status: null, error, latencyMs: 0 });
        throw new AbortError(error);
      }
    }
    const signal = anySignal([AbortSignal.timeout(this.#timeoutMs), this.#closing.signal]);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await this.#fetch(target.url, { method: 'POST', headers, body: record.body, redirect: 'manual', signal });
      status = response.status;
      await response.body?.cancel().catch(() => undefined);
      if (status < 200 || status > 299) {
        error = status >= 300 && status < 400 ? `status ${status}: redirects are not followed` : `status ${status} is not 2xx`;
      }
    } catch (cause) {
      error = describeFetchError(cause, signal, this.#closing.signal, this.#timeoutMs);
    }
    const attempt: DeliveryAttempt = { at: new Date(started).toISOString(), status, error, latencyMs: Math.max(0, this.#now() - started) };
    record.attempts.push(attempt);
    if (error !== null) throw new AttemptFailed(error);
  }

  #isoNow(): string {
    return new Date(this.#now()).toISOString();
  }
}

/** True when a subscription's event list selects `event` (`'*'` selects all). */
export function matches(events: readonly string[], event: string): boolean {
  return events.includes(WILDCARD_EVENT) || events.includes(event);
}

/**
 * A fresh random secret in the format a scheme expects: `whsec_<base64 of 24 bytes>` for Standard
 * Webhooks, 32 hex bytes otherwise.
 */
export function generateWebhookSecret(scheme: SignatureScheme, bytes: (size: number) => Buffer = randomBytes): string {
  return scheme === 'standard-webhooks' ? `whsec_${bytes(24).toString('base64')}` : bytes(32).toString('hex');
}

type ParsedSubscription = Omit<WebhookSubscription, 'id' | 'createdAt'>;

/** Validates subscription input; errors name the field. */
export function parseSubscriptionInput(input: unknown): ParsedSubscription {
  const result = webhookSubscriptionInputSchema.safeParse(input);
  if (!result.success) throw badRequest(result.error, 'webhook');
  return result.data;
}

/** A zod error as `RR_EMULATOR_BAD_REQUEST`, naming the first bad field. */
export function badRequest(error: z.ZodError, what: string): RoomrunnerError {
  const issues = error.issues.map((issue) => `${issue.path.length > 0 ? `\`${issue.path.join('.')}\`` : 'body'}: ${issue.message}`);
  return new RoomrunnerError('RR_EMULATOR_BAD_REQUEST', `invalid ${what}: ${issues.join('; ')}`, {
    data: { fields: error.issues.map((issue) => issue.path.join('.')) },
  });
}

function snapshot(record: MutableRecord): DeliveryRecord {
  return { ...record, attempts: record.attempts.map((attempt) => ({ ...attempt })) };
}

function safeUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function describeFetchError(cause: unknown, signal: AbortSignal, closing: AbortSignal, timeoutMs: number): string {
  if (closing.aborted) return 'sender closed';
  if (signal.aborted) return `no response within ${timeoutMs} ms`;
  const inner = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause;
  const code = (inner as { code?: unknown } | null)?.code;
  const message = errorMessage(inner);
  return typeof code === 'string' ? `${code}: ${message}` : message;
}

/** `AbortSignal.any` (Node ≥ 20.3), with a fallback for older 20.x releases. */
function anySignal(signals: readonly AbortSignal[]): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([...signals]);
  const controller = new AbortController();
  for (const signal of signals) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true, signal: controller.signal });
  }
  return controller.signal;
}
