/**
 * The webhook route as an encapsulated fastify plugin (docs/architecture.md §Style 8; docs/references.md §receiver-pitfalls).
 *
 * It has its own content-type parser that keeps the raw bytes (`application/json`, `application/*+json`;
 * anything else, or no Content-Type, gets 415), so signatures are checked over exactly what was sent. Each
 * POST goes: size limit (413) → signature over the raw bytes with every secret (401) → JSON and envelope (400)
 * → the deliveries ledger, written before answering (a key known within its window is a duplicate: 200,
 * nothing dispatched; a body digest's window is short, a `webhook-id`'s long, see the constants below; a
 * store failure is 503 so the sender retries) → `200 {"ok":true}` → the hook, after the answer, whose outcome
 * goes back to the ledger. The dedupe key is written only after the signature verifies, so a forged request
 * cannot burn a real delivery's key.
 *
 * The websocket handoff of `room.call` (`GET /webhook` with `Upgrade: websocket`) never reaches these routes: it
 * is verified and upgraded on the http server's `upgrade` event (./handoff.ts). A plain GET is answered 405.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RoomrunnerError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import { InFlight } from '../util/in-flight.js';
import { errorResponse } from '../http/error-response.js';
import type { Metrics, WebhookAckResult } from '../http/metrics.js';
import { PingEvent, roomOf, type WebhookEvent } from './events.js';
import { parseWebhookBody, WebhookVerifier } from './receive.js';
import { runDelivery, type Dispatch } from './run-delivery.js';
import type { SignatureScheme } from './signatures/index.js';

export type { DeliveryInfo, HookOutcome } from './run-delivery.js';

export const DEFAULT_WEBHOOK_PATH = '/webhook';
/** A delivery still `pending` this long after it was accepted is dispatched again when a duplicate arrives. */
export const DEFAULT_REDISPATCH_AFTER_MS = 60_000;
/**
 * How long the same body (MeshAgent and HMAC deliveries, keyed by its digest) counts as a retry of one
 * delivery. Short on purpose: `room.started` / `room.ended` carry no delivery id, so a room that starts again
 * sends the very same bytes, and that must reach the orchestrator (whose idempotency comes from room state).
 */
export const DEFAULT_DEDUPE_WINDOW_MS = 60_000;
/** How long a Standard Webhooks `webhook-id` is a duplicate: unique per message, so any later copy is a retry. */
export const DEFAULT_DELIVERY_ID_WINDOW_MS = 7 * 24 * 3600 * 1000;
/** `application/json` and any `application/<something>+json`, with or without parameters. */
const JSON_MEDIA_TYPES: ReadonlyArray<string | RegExp> = ['application/json', /^application\/[a-z0-9!#$&^_.-]+\+json(?:\s*;|$)/];

export interface WebhookPluginOptions {
  /** Route path, default {@link DEFAULT_WEBHOOK_PATH}. */
  readonly path?: string;
  /** See {@link DEFAULT_REDISPATCH_AFTER_MS}. */
  readonly redispatchAfterMs?: number;
  /** Aborted when the server closes: stop retrying to record hook outcomes then. */
  readonly signal?: AbortSignal;
  readonly secrets: readonly string[];
  readonly schemes: readonly SignatureScheme[];
  /** Header of the `hmac-sha256` scheme (default `x-meshia-signature`). */
  readonly hmacHeader?: string;
  /** Accept unsigned deliveries; never in production. */
  readonly insecure?: boolean;
  readonly bodyLimitBytes: number;
  /** Body-digest keys (MeshAgent, HMAC, unsigned): see {@link DEFAULT_DEDUPE_WINDOW_MS}. */
  readonly dedupeWindowMs: number;
  /** `webhook-id` keys (Standard Webhooks); default {@link DEFAULT_DELIVERY_ID_WINDOW_MS}. */
  readonly deliveryIdWindowMs?: number;
  /** Recorded with each delivery: the replica that runs its hook (crash recovery re-dispatches by it). */
  readonly replicaId?: string;
  /** Standard Webhooks tolerance in seconds, default 300. */
  readonly toleranceSeconds?: number;
  readonly store: Store;
  /** Runs an accepted delivery's hook, after the answer is sent. */
  readonly dispatch: Dispatch;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** Milliseconds since the epoch; default `Date.now`. */
  readonly now?: () => number;
  /** False while draining: new deliveries get 503. Default: always true. */
  readonly accepting?: () => boolean;
  /** Where dispatched work is tracked; default a private one. */
  readonly work?: InFlight;
}

/** Registers `POST <path>` (and 405 for other methods). Register it without fastify-plugin: it is encapsulated. */
export async function webhookPlugin(app: FastifyInstance, options: WebhookPluginOptions): Promise<void> {
  const path = options.path ?? DEFAULT_WEBHOOK_PATH;
  const log = options.logger ?? silentLogger();
  const now = options.now ?? Date.now;
  const accepting = options.accepting ?? (() => true);
  const work = options.work ?? new InFlight();
  const { store, metrics, dispatch } = options;
  const verifier = new WebhookVerifier(options);
  const eventOf = new WeakMap<FastifyRequest, string>();

  app.removeAllContentTypeParsers();
  for (const mediaType of JSON_MEDIA_TYPES) {
    app.addContentTypeParser(mediaType, { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, (_request, body, done) => {
      done(null, body);
    });
  }

  const answered = (request: FastifyRequest, reply: FastifyReply, result: WebhookAckResult): void => {
    metrics?.webhookAnswered(eventOf.get(request), result, reply.elapsedTime / 1000);
  };

  app.setErrorHandler((err, request, reply) => {
    const response = errorResponse(err);
    if (!response.expected) log.error({ err }, 'webhook request failed');
    else if (response.status === 401) log.warn({ code: response.code, fix: SIGNATURE_FIXES[response.code] ?? SIGNATURE_FIXES['default'] }, 'webhook refused');
    else log.info({ code: response.code, status: response.status }, 'webhook refused');
    if (request.method === 'POST') answered(request, reply, ackResultOf(response.status));
    if (response.code === 'RR_WEBHOOK_METHOD_NOT_ALLOWED') void reply.header('allow', 'POST');
    if (response.status === 503) void reply.header('retry-after', '5');
    return reply.code(response.status).send({ ok: false, error: { code: response.code, message: response.message } });
  });

  app.post(path, { bodyLimit: options.bodyLimitBytes }, async (request, reply) => {
    if (!accepting()) throw new RoomrunnerError('RR_WEBHOOK_DRAINING', 'draining for shutdown: retry later');
    const raw = request.body;
    if (!Buffer.isBuffer(raw)) {
      // No Content-Type and no body: fastify skips the parser.
      throw new RoomrunnerError('RR_WEBHOOK_UNSUPPORTED_MEDIA_TYPE', 'send the webhook as application/json');
    }
    const { scheme, dedupeKey } = verifier.authenticate(raw, request.headers, Math.floor(now() / 1000));
    const event = parseWebhookBody(raw);
    eventOf.set(request, event.event);
    if (event instanceof PingEvent) {
      log.info({ event: event.event, scheme }, 'webhook ping');
      answered(request, reply, 'ignored');
      return { ok: true };
    }

    const room = roomOf(event);
    let recorded: Awaited<ReturnType<Store['recordDelivery']>>;
    try {
      // A webhook-id names one message, so it stays a duplicate for long; a body digest only for the sender's retries.
      const windowMs = scheme === 'standard-webhooks' ? (options.deliveryIdWindowMs ?? DEFAULT_DELIVERY_ID_WINDOW_MS) : options.dedupeWindowMs;
      recorded = await store.recordDelivery(
        { key: dedupeKey, event: event.event, room, scheme, body: raw.toString('utf8'), receivedAt: new Date(now()), replica: options.replicaId ?? null },
        windowMs,
      );
    } catch (cause) {
      log.error({ err: cause, key: dedupeKey, event: event.event, room }, 'webhook not recorded: store unavailable');
      throw new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the delivery could not be recorded: retry later', { cause });
    }
    // No child logger on the answer path: the fields go on the few lines here, and the hook's logger is made
    // after the answer, when the hook runs.
    const fields = { key: dedupeKey, event: event.event, room };
    if (recorded.duplicate) {
      // A duplicate of a delivery whose outcome was never recorded (its hook never ran, or the store was down when
      // it finished) is dispatched again: hooks run at least once per accepted delivery.
      const stale = recorded.record.result === 'pending' && (await reclaim(dedupeKey));
      if (!stale) {
        log.info(fields, 'webhook duplicate ignored');
        answered(request, reply, 'duplicate');
        return { ok: true, duplicate: true };
      }
      log.warn(fields, 'webhook duplicate of a delivery whose outcome was never recorded: dispatching it again');
    }

    // Debug: a line per delivery is a write per request under load (the ingest and storm benchmarks); the ledger
    // keeps every delivery and the webhook metrics count them.
    log.debug({ ...fields, scheme }, 'webhook accepted');
    answered(request, reply, 'accepted');
    // Answer first, then work: the hook runs once the answer is on its way (docs/references.md §receiver-pitfalls).
    work.track(runHook(event, fields), dedupeKey);
    return { ok: true };
  });

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: path,
    handler: async () => {
      throw new RoomrunnerError(
        'RR_WEBHOOK_METHOD_NOT_ALLOWED',
        'deliveries are POSTed; a GET must be the websocket handoff of room.call (Upgrade: websocket)',
      );
    },
  });

  async function runHook(event: WebhookEvent, fields: { key: string; event: string; room: string | null }): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await runDelivery(event, fields.key, log.child(fields), { store, dispatch, metrics, now, signal: options.signal });
  }

  async function reclaim(key: string): Promise<boolean> {
    const nowMs = now();
    try {
      const staleBefore = new Date(nowMs - (options.redispatchAfterMs ?? DEFAULT_REDISPATCH_AFTER_MS));
      return await store.reclaimDelivery(key, staleBefore, new Date(nowMs), options.replicaId ?? null);
    } catch (cause) {
      throw new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the delivery could not be checked: retry later', { cause });
    }
  }
}

/** What the operator checks when a webhook is refused 401, by code: the log line names the setting. */
const SIGNATURE_FIXES: Readonly<Record<string, string>> = {
  RR_WEBHOOK_SIGNATURE_MISMATCH:
    'check that MESHAGENT_WEBHOOK_SECRET (--webhook-secret, or the `secrets` option) holds the secret the sender signs with (comma-separated during a rotation)',
  RR_WEBHOOK_SIGNATURE_MISSING: 'the sender did not sign: give it the secret in MESHAGENT_WEBHOOK_SECRET, or accept unsigned webhooks locally with --insecure',
  RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE: "check this host's clock and the sender's: the signature's timestamp is outside the tolerance",
  default: 'check MESHAGENT_WEBHOOK_SECRET (--webhook-secret) and ROOMRUNNER_SIGNATURE_SCHEMES against what the sender sends',
};

function ackResultOf(status: number): WebhookAckResult {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 413:
      return 'too_large';
    case 415:
      return 'unsupported_media_type';
    default:
      return status >= 500 ? 'unavailable' : 'bad_request';
  }
}
