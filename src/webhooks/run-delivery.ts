/**
 * Running one accepted delivery's hook and writing its outcome to the ledger: the same steps whether the
 * delivery was just answered (plugin.ts) or is re-dispatched after a crash (redispatch.ts).
 */
import type { Logger } from '../logger.js';
import { eventLabel, type Metrics } from '../http/metrics.js';
import { retryWhileStoreDown } from '../store/retry.js';
import type { DeliveryResult, Store } from '../store/store.js';
import type { WebhookEvent } from './events.js';

/** What a hook made of a delivery: `ignored` when nothing handles its event. */
export type HookOutcome = 'processed' | 'ignored';

/** Given to the dispatcher with each accepted delivery. */
export interface DeliveryInfo {
  /** The ledger key of this delivery. */
  readonly deliveryKey: string;
  /** A child logger carrying the delivery key, event and room. */
  readonly log: Logger;
}

/** Runs a delivery's hook. */
export type Dispatch = (event: WebhookEvent, info: DeliveryInfo) => Promise<HookOutcome>;

export interface RunDeliveryDeps {
  readonly store: Store;
  readonly dispatch: Dispatch;
  readonly metrics?: Metrics | undefined;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Aborted when the server closes: stop retrying to record the outcome then. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs the hook (a throw is logged and recorded `failed`), then records the outcome, retrying for about a
 * minute while the store is down. Never rejects: an outcome that cannot be recorded leaves the delivery
 * `pending`, and the recovery sweep dispatches it again.
 */
export async function runDelivery(event: WebhookEvent, key: string, log: Logger, deps: RunDeliveryDeps): Promise<DeliveryResult> {
  let result: DeliveryResult;
  let error: string | null = null;
  try {
    result = await deps.dispatch(event, { deliveryKey: key, log });
  } catch (err) {
    result = 'failed';
    error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    log.error({ err }, 'webhook hook failed');
  }
  deps.metrics?.webhookDispatches.inc({ event: eventLabel(event.event), result });
  try {
    await retryWhileStoreDown(() => deps.store.finishDelivery(key, result, error, new Date(deps.now())), {
      log,
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
  } catch (err) {
    log.error({ err, result }, 'webhook outcome not recorded: store unavailable; the delivery stays pending and is dispatched again');
  }
  return result;
}
