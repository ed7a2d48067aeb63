/**
 * The admin API over the deliveries ledger: list and filter deliveries, read one, replay one. It is
 * enabled only when ROOMRUNNER_ADMIN_TOKEN is set, and every call needs `Authorization: Bearer <token>`.
 *
 *   GET  /admin/deliveries?event=&room=&result=&since=<ISO time>&limit=   newest first, bodies left out
 *   GET  /admin/deliveries/:key                                             one delivery, with its raw body
 *   POST /admin/deliveries/:key/replay                                      dispatch the stored body again
 *
 * A replay runs the delivery's hook again with the body as it was received (the signature was checked then) and
 * records the new outcome; hooks must be idempotent (the orchestrator's are).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';
import { describeIssues } from '../protocol/messages.js';
import type { DeliveryRecord, Store } from '../store/store.js';
import { requireBearerToken } from './app.js';

export interface AdminRoutesOptions {
  readonly store: Store;
  readonly adminToken: string | undefined;
  /**
   * Runs the hook for a replayed delivery and resolves with the ledger result. It gets the stored record and
   * parses its body itself (a body that no longer parses rejects with its catalog error, answered as usual).
   */
  readonly replay: (record: DeliveryRecord) => Promise<'processed' | 'ignored' | 'failed'>;
}

// PostgreSQL text cannot hold a NUL: without this check `?room=%00` made the store throw and answered 500.
const storable = z
  .string()
  .min(1)
  .refine((value) => !value.includes('\u0000'), 'must not contain a NUL character (%00)');

const ListQuery = z.strictObject({
  event: storable.optional(),
  room: storable.optional(),
  result: z.enum(['pending', 'processed', 'ignored', 'failed']).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** Register the admin routes on `app` (a no-op that answers 403 on /admin/* when no admin token is set). */
export function registerAdminRoutes(app: FastifyInstance, options: AdminRoutesOptions): void {
  const { store, adminToken } = options;
  if (adminToken === undefined) {
    app.all('/admin/*', async () => {
      throw new RoomrunnerError('RR_ADMIN_DISABLED', 'the admin API is off: set ROOMRUNNER_ADMIN_TOKEN (or --admin-token) to enable it');
    });
    return;
  }
  const preHandler = requireBearerToken(adminToken);

  app.get('/admin/deliveries', { preHandler }, async (request) => {
    const parsed = ListQuery.safeParse(request.query);
    if (!parsed.success) throw new RoomrunnerError('RR_HTTP_BAD_REQUEST', `bad query: ${describeIssues(parsed.error)}`);
    const { since, ...rest } = parsed.data;
    const deliveries = await store.listDeliveries({ ...rest, ...(since === undefined ? {} : { since: new Date(since) }) });
    return { deliveries: deliveries.map((d) => summary(d)) };
  });

  app.get('/admin/deliveries/:key', { preHandler }, async (request) => {
    const record = await find(store, (request.params as { key: string }).key);
    return { delivery: { ...summary(record), body: record.body } };
  });

  app.post('/admin/deliveries/:key/replay', { preHandler }, async (request) => {
    const record = await find(store, (request.params as { key: string }).key);
    const result = await options.replay(record);
    return { ok: true, key: record.key, result, delivery: summary((await store.getDelivery(record.key)) ?? record) };
  });
}

async function find(store: Store, key: string): Promise<DeliveryRecord> {
  if (key.includes('\u0000')) throw new RoomrunnerError('RR_HTTP_BAD_REQUEST', 'the delivery key must not contain a NUL character (%00)');
  const record = await store.getDelivery(key);
  if (!record) throw new RoomrunnerError('RR_ADMIN_DELIVERY_NOT_FOUND', `no delivery with key ${JSON.stringify(key)} (it may have been pruned)`);
  return record;
}

function summary(d: DeliveryRecord): Record<string, unknown> {
  return {
    key: d.key,
    event: d.event,
    room: d.room,
    scheme: d.scheme,
    receivedAt: d.receivedAt.toISOString(),
    result: d.result,
    attempts: d.attempts,
    lastError: d.lastError,
    updatedAt: d.updatedAt.toISOString(),
  };
}
