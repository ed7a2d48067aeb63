/**
 * Prometheus metrics (prom-client), one {@link Registry} per {@link Metrics} so that several apps in one
 * process (tests, several servers) never share or double-register series. Served at `GET /metrics`.
 *
 * The orchestrator's metrics are created here too, with their final names, so `/metrics` documents them from
 * the start (docs/references.md §livekit-metrics: LiveKit's gauges only say "busy"; a counter of refusals says how often).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How a webhook request was answered. */
export type WebhookAckResult = 'accepted' | 'duplicate' | 'ignored' | 'unauthorized' | 'bad_request' | 'too_large' | 'unsupported_media_type' | 'unavailable';

/** What became of a dispatched delivery (its ledger result). */
export type WebhookDispatchResult = 'processed' | 'ignored' | 'failed';

/** Event label for requests rejected before their event was known. */
export const UNKNOWN_EVENT_LABEL = 'unknown';
/** Event label for events that are neither room events nor pings (keeps the label set bounded). */
export const OTHER_EVENT_LABEL = 'other';

const LABELLED_EVENTS = new Set(['room.started', 'room.ended', 'room.call', 'webhook.ping', 'ping']);

/** The bounded `event` label for an event name. */
export function eventLabel(event: string | undefined): string {
  if (event === undefined) return UNKNOWN_EVENT_LABEL;
  return LABELLED_EVENTS.has(event) ? event : OTHER_EVENT_LABEL;
}

export interface MetricsOptions {
  /** Also collect prom-client's default Node metrics (`process_*`, `nodejs_*`). Default false. */
  readonly defaultMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();

  /** Webhook requests by event and how they were answered. */
  readonly webhookDeliveries = new Counter({
    name: 'roomrunner_webhook_deliveries_total',
    help: 'Webhook requests by event and answer (accepted, duplicate, ignored, unauthorized, bad_request, too_large, unsupported_media_type, unavailable).',
    labelNames: ['event', 'result'] as const,
    registers: [this.registry],
  });

  /** Time from receiving a webhook request to sending its answer. */
  readonly webhookAckSeconds = new Histogram({
    name: 'roomrunner_webhook_ack_seconds',
    help: 'Seconds from receiving a webhook request to answering it.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });

  /** Dispatched deliveries by event and ledger result (processed, ignored, failed). */
  readonly webhookDispatches = new Counter({
    name: 'roomrunner_webhook_dispatches_total',
    help: 'Accepted webhook deliveries by event and hook outcome (processed, ignored, failed).',
    labelNames: ['event', 'result'] as const,
    registers: [this.registry],
  });

  // --- orchestrator (src/orchestrator): created here, updated there ---

  readonly roomsAttached = new Gauge({
    name: 'roomrunner_rooms_attached',
    help: 'Rooms this process is attached to.',
    registers: [this.registry],
  });

  readonly roomsCapacity = new Gauge({
    name: 'roomrunner_rooms_capacity',
    help: 'Most rooms this process will attach to (ROOMRUNNER_MAX_ROOMS).',
    registers: [this.registry],
  });

  readonly roomAttachSeconds = new Histogram({
    name: 'roomrunner_room_attach_seconds',
    help: 'Seconds from a room.started (or room.call) to the agents being registered in the room.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly roomReconnects = new Counter({
    name: 'roomrunner_room_reconnects_total',
    help: 'Room connections re-established after a drop.',
    registers: [this.registry],
  });

  readonly agentCalls = new Counter({
    name: 'roomrunner_agent_calls_total',
    help: 'Agent calls by agent and outcome.',
    labelNames: ['agent', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly agentCallSeconds = new Histogram({
    name: 'roomrunner_agent_call_seconds',
    help: 'Agent call duration in seconds, by agent.',
    labelNames: ['agent'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  // --- several replicas (src/orchestrator/coordination.ts) ---

  readonly roomClaims = new Counter({
    name: 'roomrunner_room_claims_total',
    help: 'Rooms this replica claimed from the store (new rooms and rooms taken over).',
    registers: [this.registry],
  });

  readonly roomFailovers = new Counter({
    name: 'roomrunner_room_failovers_total',
    help: 'Rooms this replica took over from another replica whose lease ran out.',
    registers: [this.registry],
  });

  readonly roomFenced = new Counter({
    name: 'roomrunner_room_fenced_total',
    help: 'Rooms this replica left because it no longer owned them, by reason (not-owned, lease-expired, lease-lost).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly roomHandovers = new Counter({
    name: 'roomrunner_room_handovers_total',
    help: 'Rooms released to peer replicas by a drain.',
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one answered webhook request. */
  webhookAnswered(event: string | undefined, result: WebhookAckResult, seconds?: number): void {
    this.webhookDeliveries.inc({ event: eventLabel(event), result });
    if (seconds !== undefined) this.webhookAckSeconds.observe(seconds);
  }

  /** The Prometheus text exposition and its content type. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
