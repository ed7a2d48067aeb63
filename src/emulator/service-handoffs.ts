/**
 * What the emulator does with project services when a room session starts (docs/protocol.md §A.3, §A.8):
 * for each enabled external service (project-wide, then the room's own), for each meshagent endpoint of its
 * ports, it hands the room to `<external.url><endpoint.path>` with a token minted for the endpoint's identity
 * and ApiScope (the default agent scope when it names none):
 *
 * - `ws://` / `wss://`: the websocket handoff. `GET` with `Upgrade: websocket`, the envelope in
 *   `Meshagent-Webhook`, the signature in `Meshagent-Signature`; once upgraded the emulator plays the room
 *   server on that socket (RoomServer.acceptHandoff), so the service joins with no connect-back.
 * - `http://` / `https://`: a POST `room.call`, through the webhook sender (its delivery log and retries).
 *
 * Handoffs are signed with the service secret (unsigned without one), recorded in a delivery log like
 * webhooks (body, status, latency, attempts) and retried with backoff when refused; retries stop once the
 * session is over. When the session ends the room closes every connection with 1000, the handoff socket too.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { silentLogger, type Logger } from '../logger.js';
import { backoffDelayMs } from '../util/backoff.js';
import { InFlight } from '../util/in-flight.js';
import { agentDefaultApiScope, type ApiScope } from '../auth/token.js';
import { HANDOFF_ENVELOPE_HEADER } from '../webhooks/handoff.js';
import { signWebhook } from '../webhooks/signatures/index.js';
import { pythonDumps } from '../webhooks/signatures/python-json.js';
import type { RoomServer } from './room-server.js';
import type { ServiceRegistry } from './services.js';
import {
  DEFAULT_WEBHOOK_JITTER,
  DEFAULT_WEBHOOK_MAX_TIMEOUT_MS,
  DEFAULT_WEBHOOK_MIN_TIMEOUT_MS,
  DEFAULT_WEBHOOK_RETRIES,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  type DeliveryAttempt,
  type DeliveryRecord,
  type WebhookSender,
} from './webhook-sender.js';

/** Handoff deliveries kept in the log. */
const HANDOFF_LOG_SIZE = 1_000;
const USER_AGENT = 'roomrunner-emulator';

/** The room a session started in, as the room server's hook reports it. */
export interface StartedSession {
  readonly name: string;
  readonly url: string;
  readonly sessionId: string | null;
}

export interface ServiceHandoffsOptions {
  readonly services: ServiceRegistry;
  readonly rooms: RoomServer;
  readonly webhooks: WebhookSender;
  /** Mints the handoff token (role `agent`) for `identity` in `room` with `api`. */
  readonly mintToken: (room: string, identity: string, api: ApiScope) => string;
  /** Signs handoffs (MeshAgent scheme); unsigned without it. */
  readonly secret?: string | undefined;
  /** Retries after the first attempt. Default 3. */
  readonly retries?: number;
  readonly minTimeoutMs?: number;
  readonly maxTimeoutMs?: number;
  readonly jitter?: number;
  /** Bound on one websocket handshake. Default 10 s. */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Waits between attempts; must reject when `signal` aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Target {
  readonly url: string;
  readonly room: string;
  readonly sessionId: string | null;
  readonly identity: string;
}

type MutableRecord = { -readonly [K in keyof DeliveryRecord]: DeliveryRecord[K] } & { attempts: DeliveryAttempt[] };

export class ServiceHandoffs {
  readonly #options: ServiceHandoffsOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #records = new Map<string, MutableRecord>();
  readonly #inFlight = new InFlight();
  readonly #closing = new AbortController();

  constructor(options: ServiceHandoffsOptions) {
    this.#options = options;
    this.#log = (options.logger ?? silentLogger()).child({ component: 'service-handoffs' });
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }));
  }

  /** Hand a started session to every meshagent endpoint of every external service that runs in its room. */
  sessionStarted(session: StartedSession): void {
    for (const { spec } of this.#options.services.forRoom(session.name)) {
      const base = spec.external?.url;
      if (!base) continue;
      for (const port of spec.ports) {
        for (const endpoint of port.endpoints) {
          if (!endpoint.meshagent) continue;
          const url = `${base.replace(/\/+$/, '')}${endpoint.path.startsWith('/') ? '' : '/'}${endpoint.path}`;
          const api = (endpoint.meshagent.api ?? agentDefaultApiScope()) as ApiScope;
          let token: string;
          try {
            token = this.#options.mintToken(session.name, endpoint.meshagent.identity, api);
          } catch (err) {
            // One bad endpoint (an identity no token can carry) must not keep the session from the others.
            this.#log.warn({ err, room: session.name, url }, 'service handoff token could not be minted: not handed off');
            continue;
          }
          const data = { room_name: session.name, room_url: session.url, token, arguments: null, session_id: session.sessionId };
          void this.#inFlight.track(this.#handOff({ url, room: session.name, sessionId: session.sessionId, identity: endpoint.meshagent.identity }, data));
        }
      }
    }
  }

  /** The websocket handoffs, oldest first (POST ones are in the webhook sender's log). */
  deliveries(): DeliveryRecord[] {
    return [...this.#records.values()].map((record) => ({ ...record, attempts: record.attempts.map((a) => ({ ...a })) }));
  }

  /** Resolves once no handoff is being attempted. */
  async idle(): Promise<void> {
    await this.#inFlight.idle();
  }

  /** Stops retrying and waits for attempts in progress. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) this.#closing.abort(new Error('service handoffs closed'));
    await this.idle();
  }

  async #handOff(target: Target, data: Record<string, unknown>): Promise<void> {
    const protocol = safeProtocol(target.url);
    if (protocol === 'http:' || protocol === 'https:') {
      const record = await this.#options.webhooks.deliverTo(
        target.url,
        'room.call',
        data,
        this.#options.secret ? { scheme: 'meshagent', secret: this.#options.secret } : {},
      );
      this.#log.info({ room: target.room, url: target.url, status: record.status }, 'service handoff POSTed');
      return;
    }
    if (protocol !== 'ws:' && protocol !== 'wss:') {
      this.#log.warn({ room: target.room, url: target.url }, 'service endpoint URL is neither ws(s) nor http(s): not handed off');
      return;
    }
    const record = this.#newRecord(target.url, pythonDumps({ event: 'room.call', data }));
    const retries = this.#options.retries ?? DEFAULT_WEBHOOK_RETRIES;
    const log = this.#log.child({ delivery: record.id, room: target.room, identity: target.identity });
    for (let attempt = 0; ; attempt += 1) {
      if (this.#closing.signal.aborted || !this.#sessionCurrent(target)) break;
      if (await this.#attempt(record, target, data['token'] as string)) {
        record.status = 'delivered';
        record.deliveredAt = new Date(this.#now()).toISOString();
        log.info({ attempts: record.attempts.length }, 'service handed the room over the websocket');
        return;
      }
      if (attempt >= retries) break;
      const delay = backoffDelayMs(attempt, this.#random, {
        initialMs: this.#options.minTimeoutMs ?? DEFAULT_WEBHOOK_MIN_TIMEOUT_MS,
        maxMs: Math.max(this.#options.maxTimeoutMs ?? DEFAULT_WEBHOOK_MAX_TIMEOUT_MS, this.#options.minTimeoutMs ?? DEFAULT_WEBHOOK_MIN_TIMEOUT_MS),
        jitter: this.#options.jitter ?? DEFAULT_WEBHOOK_JITTER,
      });
      log.info({ attempt: attempt + 1, delayMs: delay, status: record.attempts.at(-1)?.status ?? null }, 'service handoff refused; retrying');
      try {
        await this.#sleep(delay, this.#closing.signal);
      } catch {
        break;
      }
    }
    record.status = 'failed';
    log.warn({ attempts: record.attempts.length, status: record.attempts.at(-1)?.status ?? null }, 'service handoff failed');
  }

  /** One websocket handshake; on 101 the room server takes the socket at once. Resolves whether it was taken. */
  #attempt(record: MutableRecord, target: Target, token: string): Promise<boolean> {
    const started = this.#now();
    const headers: Record<string, string> = { [HANDOFF_ENVELOPE_HEADER]: record.body, 'user-agent': USER_AGENT };
    if (this.#options.secret) Object.assign(headers, signWebhook('meshagent', { body: record.body, secret: this.#options.secret }));
    return new Promise<boolean>((resolve) => {
      let status: number | null = null;
      let error: string | null = null;
      let opened = false;
      const finish = (ok: boolean): void => {
        record.attempts.push({
          at: new Date(started).toISOString(),
          status,
          error: ok ? null : (error ?? 'closed before the upgrade'),
          latencyMs: Math.max(0, this.#now() - started),
        });
        resolve(ok);
      };
      const ws = new WebSocket(target.url, { headers, perMessageDeflate: false, handshakeTimeout: this.#options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS });
      ws.on('error', (cause) => (error ??= cause.message));
      ws.once('unexpected-response', (_request, response) => {
        status = response.statusCode ?? null;
        error = `status ${String(status)}: the handoff was refused`;
        response.resume();
        ws.terminate();
      });
      ws.once('upgrade', (response) => (status = response.statusCode ?? 101));
      ws.once('open', () => {
        opened = true;
        if (this.#closing.signal.aborted || !this.#sessionCurrent(target)) {
          error = 'the session ended during the handoff';
          ws.close(1000, 'session ended');
          finish(false);
          return;
        }
        this.#options.rooms.acceptHandoff(ws, target.room, token);
        finish(true);
      });
      ws.once('close', () => {
        if (!opened) finish(false);
      });
    });
  }

  #sessionCurrent(target: Target): boolean {
    const room = this.#options.rooms.listRooms().find((info) => info.name === target.room);
    return room?.active === true && (target.sessionId === null || room.sessionId === target.sessionId);
  }

  #newRecord(url: string, body: string): MutableRecord {
    const record: MutableRecord = {
      id: `msg_${randomBytes(12).toString('hex')}`,
      subscriptionId: null,
      event: 'room.call',
      url,
      body,
      attempts: [],
      status: 'pending',
      createdAt: new Date(this.#now()).toISOString(),
      deliveredAt: null,
    };
    this.#records.set(record.id, record);
    while (this.#records.size > HANDOFF_LOG_SIZE) {
      const oldest = this.#records.keys().next();
      if (oldest.done) break;
      this.#records.delete(oldest.value);
    }
    return record;
  }
}

function safeProtocol(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}
