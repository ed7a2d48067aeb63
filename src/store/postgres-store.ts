/**
 * The store for several replicas: PostgreSQL via node-postgres. A pool runs queries and transactions; ONE
 * dedicated connection LISTENs for room changes, and comes back by itself after the server restarts (backoff,
 * LISTEN again, then a change event so callers re-claim whatever they missed).
 *
 * A down server never crashes the process: pool and connection `error` events are handled, and every query
 * that fails because the server cannot be reached rejects with `RR_STORE_UNAVAILABLE` (HTTP 503, the cause
 * attached). Other errors (a bug in a statement) pass through as they are.
 */
import pg from 'pg';
import { RoomrunnerError, isRoomrunnerError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { migrate, type SqlClient } from './sql.js';
import { SqlStore } from './sql-store.js';

export const DEFAULT_POOL_MAX = 10;
/** A query waits at most this long for a connection before failing with RR_STORE_UNAVAILABLE. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Readiness gives the store this long to answer `SELECT 1`. */
export const DEFAULT_PING_TIMEOUT_MS = 2_000;
/** Server-side bound on one statement (`statement_timeout`). */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
/** Server-side bound on a transaction left idle (`idle_in_transaction_session_timeout`): frees its row locks. */
export const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;
export const DEFAULT_LISTEN_RECONNECT_MIN_MS = 100;
export const DEFAULT_LISTEN_RECONNECT_MAX_MS = 5_000;

export interface PostgresStoreOptions {
  /** `postgres://user@host:5432/db`; `?options=-c search_path=<schema>` selects a schema. */
  readonly connectionString: string;
  /** Pool size. Default {@link DEFAULT_POOL_MAX}. */
  readonly max?: number;
  readonly connectTimeoutMs?: number;
  readonly pingTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** Shown in `pg_stat_activity`; the connection string's `application_name` wins. Default `roomrunner`. */
  readonly applicationName?: string;
  /** Backoff of the LISTEN connection: doubling from `minMs` to `maxMs`, with jitter. */
  readonly listenReconnect?: { readonly minMs?: number; readonly maxMs?: number };
  /** Randomness for the jitter; default Math.random. */
  readonly random?: () => number;
  readonly log?: Logger;
}

export class PostgresStore extends SqlStore {
  readonly #pingTimeoutMs: number;

  private constructor(client: SqlClient, pingTimeoutMs: number) {
    super(client, { engine: 'postgres' });
    this.#pingTimeoutMs = pingTimeoutMs;
  }

  /** Connects and migrates. Rejects with RR_STORE_UNAVAILABLE when the server cannot be reached. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    if (typeof options.connectionString !== 'string' || options.connectionString.trim() === '') {
      throw new RoomrunnerError('RR_STORE_OPTION_INVALID', 'connectionString must be a postgres:// URL (set DATABASE_URL)', {
        data: { option: 'connectionString' },
      });
    }
    const log = options.log ?? silentLogger();
    const config: pg.PoolConfig = {
      connectionString: options.connectionString,
      application_name: options.applicationName ?? 'roomrunner',
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      keepAlive: true,
    };
    const pool = new pg.Pool({ ...config, max: options.max ?? DEFAULT_POOL_MAX });
    // An idle pooled connection that the server closes emits here; without a listener the process would crash.
    pool.on('error', (err) => log.warn({ err }, 'store connection lost'));
    const listener = new PgListener(config, {
      minMs: options.listenReconnect?.minMs ?? DEFAULT_LISTEN_RECONNECT_MIN_MS,
      maxMs: options.listenReconnect?.maxMs ?? DEFAULT_LISTEN_RECONNECT_MAX_MS,
      random: options.random ?? Math.random,
      log,
    });
    const client = postgresClient(pool, listener);
    try {
      await migrate(client);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    return new PostgresStore(client, options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS);
  }

  /** `SELECT 1` within the ping timeout, else RR_STORE_UNAVAILABLE. */
  override async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RoomrunnerError('RR_STORE_UNAVAILABLE', `PostgreSQL did not answer within ${this.#pingTimeoutMs} ms`)),
        this.#pingTimeoutMs,
      );
      timer.unref();
    });
    try {
      await Promise.race([super.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function postgresClient(pool: pg.Pool, listener: PgListener): SqlClient {
  let closing: Promise<void> | undefined;
  const over = (connection: pg.PoolClient): SqlClient => {
    const tx: SqlClient = {
      query: async <T>(sql: string, params: readonly unknown[] = []) => {
        const result = await unavailableOnDown(() => connection.query(sql, [...params]));
        return { rows: result.rows as T[] };
      },
      transaction: async <T>(fn: (inner: SqlClient) => Promise<T>) => fn(tx),
      listen: async () => {
        throw new Error('listen inside a transaction is not supported');
      },
      close: async () => undefined,
    };
    return tx;
  };
  return {
    query: async <T>(sql: string, params: readonly unknown[] = []) => {
      const result = await unavailableOnDown(() => pool.query(sql, [...params]));
      return { rows: result.rows as T[] };
    },
    transaction: async <T>(fn: (tx: SqlClient) => Promise<T>) => {
      const connection = await unavailableOnDown(() => pool.connect());
      // A checked-out connection has no pool listener: an error between two statements must not crash us.
      let broken: unknown;
      const onError = (err: unknown): void => {
        broken ??= err;
      };
      connection.on('error', onError);
      try {
        await unavailableOnDown(() => connection.query('BEGIN'));
        const result = await fn(over(connection));
        await unavailableOnDown(() => connection.query('COMMIT'));
        return result;
      } catch (err) {
        try {
          await connection.query('ROLLBACK');
        } catch (rollbackError) {
          broken ??= rollbackError;
        }
        throw toStoreError(err);
      } finally {
        connection.removeListener('error', onError);
        // A broken connection is destroyed, not put back.
        connection.release(broken === undefined ? undefined : true);
      }
    },
    listen: (channel, onNotify) => listener.listen(channel, onNotify),
    close: () =>
      (closing ??= (async () => {
        await listener.close();
        await pool.end();
      })()),
  };
}

interface ListenerOptions {
  readonly minMs: number;
  readonly maxMs: number;
  readonly random: () => number;
  readonly log: Logger;
}

/**
 * The one LISTEN connection. Subscriptions outlive the connection: after a drop it reconnects with backoff,
 * LISTENs again and calls every subscriber with '' (a change may have been missed while it was away).
 */
class PgListener {
  readonly #config: pg.ClientConfig;
  readonly #options: ListenerOptions;
  readonly #subscribers = new Map<string, Set<(payload: string) => void>>();
  #client: pg.Client | undefined;
  #listening = new Set<string>();
  #connecting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  /** A drop or failed connect happened since the last connection: announce a change once connected. */
  #missed = false;
  #closed = false;

  constructor(config: pg.ClientConfig, options: ListenerOptions) {
    this.#config = config;
    this.#options = options;
  }

  /** Never fails because the server is down: the subscription waits for the connection to come back. */
  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    if (this.#closed) throw new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the PostgreSQL store is closed');
    let set = this.#subscribers.get(channel);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(channel, set);
    }
    const subscribers = set;
    subscribers.add(onNotify);
    if (this.#client === undefined && this.#connecting === undefined && this.#timer === undefined) this.#connect();
    await this.#connecting;
    const client = this.#client;
    if (client !== undefined && !this.#listening.has(channel)) {
      try {
        await client.query(`LISTEN ${quoteIdent(channel)}`);
        this.#listening.add(channel);
      } catch (err) {
        this.#lost(client, err);
      }
    }
    return async () => {
      subscribers.delete(onNotify);
      if (subscribers.size > 0 || this.#subscribers.get(channel) !== subscribers) return;
      this.#subscribers.delete(channel);
      const current = this.#client;
      if (current !== undefined && this.#listening.delete(channel)) {
        await current.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => undefined);
      }
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #connect(): void {
    this.#connecting = (async () => {
      const client = new pg.Client(this.#config);
      client.on('error', (err) => this.#lost(client, err));
      client.on('end', () => this.#lost(client, new RoomrunnerError('RR_STORE_UNAVAILABLE', 'the LISTEN connection to PostgreSQL ended')));
      client.on('notification', (message) => {
        if (client === this.#client) this.#deliver(message.channel, message.payload ?? '');
      });
      try {
        await client.connect();
        const listening = new Set<string>();
        for (const channel of this.#subscribers.keys()) {
          await client.query(`LISTEN ${quoteIdent(channel)}`);
          listening.add(channel);
        }
        if (this.#closed) {
          await client.end().catch(() => undefined);
          return;
        }
        this.#client = client;
        this.#listening = listening;
        this.#failures = 0;
        if (this.#missed) {
          this.#missed = false;
          this.#options.log.info('store LISTEN connection restored');
          for (const channel of listening) this.#deliver(channel, '');
        }
      } catch (err) {
        await client.end().catch(() => undefined);
        this.#missed = true;
        this.#failures++;
        this.#options.log.warn({ err, failures: this.#failures }, 'store LISTEN connection failed');
        this.#schedule();
      }
    })().finally(() => {
      this.#connecting = undefined;
    });
  }

  #lost(client: pg.Client, err: unknown): void {
    if (client !== this.#client) return; // a connection being set up reports through connect()
    this.#client = undefined;
    this.#listening = new Set();
    this.#missed = true;
    client.end().catch(() => undefined);
    if (this.#closed) return;
    this.#options.log.warn({ err }, 'store LISTEN connection lost');
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined || this.#subscribers.size === 0) return;
    const { minMs, maxMs, random } = this.#options;
    const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(this.#failures, 20));
    const delay = ceiling / 2 + (random() * ceiling) / 2;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed && this.#client === undefined && this.#connecting === undefined) this.#connect();
    }, delay);
    this.#timer.unref();
  }

  #deliver(channel: string, payload: string): void {
    for (const onNotify of this.#subscribers.get(channel) ?? []) {
      try {
        onNotify(payload);
      } catch (err) {
        this.#options.log.error({ err, channel }, 'room change listener threw');
      }
    }
  }
}

const NODE_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections, query_canceled (timeouts). */
const SQLSTATE_DOWN = new Set(['57P01', '57P02', '57P03', '53300', '57014', '25P03']);
const DOWN_MESSAGES = /connection terminated|timeout exceeded when trying to connect|not queryable|connection ended|connection closed|terminating connection/i;

/** True when `err` says the server could not be reached or dropped the connection. */
export function isServerDownError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (NODE_DOWN_CODES.has(code) || SQLSTATE_DOWN.has(code) || code.startsWith('08'))) return true;
  if (typeof message === 'string' && DOWN_MESSAGES.test(message)) return true;
  // Node's happy-eyeballs connect reports an AggregateError of one error per address.
  return Array.isArray(errors) && errors.some((inner) => isServerDownError(inner));
}

function toStoreError(err: unknown): unknown {
  if (isRoomrunnerError(err) || !isServerDownError(err)) return err;
  const code = (err as { code?: unknown }).code;
  return new RoomrunnerError('RR_STORE_UNAVAILABLE', 'PostgreSQL is unreachable', {
    cause: err,
    data: typeof code === 'string' ? { code } : {},
  });
}

async function unavailableOnDown<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStoreError(err);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
