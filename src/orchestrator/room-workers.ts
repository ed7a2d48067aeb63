/**
 * Room work on worker threads (docs/architecture.md §Composition): `ROOMRUNNER_ROOM_WORKERS` threads, each
 * joining rooms and running their agents (./room-worker-thread.ts), so the thread that answers webhooks spends
 * no time on joins, frames or agent calls, and one process uses more than one core. The orchestrator keeps
 * everything else here: room state, coordination, join slots, attempt bounds, retries. {@link RoomWorkers.join}
 * is a {@link JoinRoomWork}, so the attachments do not know where a room runs.
 *
 * A room goes to the worker with the fewest rooms. A worker that exits closes its rooms (each is lost, as a
 * dropped room is: the coordination takes it again) and is started anew. A websocket handoff stays in the
 * orchestrator's thread: a socket cannot move to another thread.
 */
import type { Worker } from 'node:worker_threads';
import type { Toolkit } from '../agents/define-agent.js';
import type { Config } from '../config.js';
import type { ToolkitsReplaced } from '../agents/host.js';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ClosedEvent } from '../room/connection.js';
import { Emitter } from '../room/emitter.js';
import { wholeNumber } from '../util/options.js';
import type { JoinRequest, JoinRoomWork, PresenceEvent, RoomPresence } from './room-presence.js';
import { deserializeError, serializeError, startModuleWorker } from '../util/threads.js';
import type { FromWorker, RoomWorkerData, ToWorker, WorkerConnectionOptions } from './room-worker-protocol.js';

/**
 * What a worker takes from the configuration: the agents folder (default the configured one), the credentials
 * that sign its participant tokens, the identity, the token lifetime and the log settings.
 */
export function roomWorkerData(config: Config, agentsDir: string = config.agentsDir): RoomWorkerData {
  return {
    agentsDir,
    credentials: { apiKey: config.apiKey, secret: config.secret, projectId: config.projectId },
    identity: config.identity,
    tokenTtlMs: config.tokenTtlMs,
    logLevel: config.logLevel,
    logPretty: config.logPretty,
  };
}

export interface RoomWorkersOptions {
  /** Threads to start (at least 1). */
  readonly count: number;
  readonly data: RoomWorkerData;
  readonly logger: Logger;
}

/** What the orchestrator tracks of one join on a worker. */
interface WorkerJoin {
  readonly request: JoinRequest;
  readonly resolve: (presence: RoomPresence) => void;
  readonly reject: (error: unknown) => void;
  /** Aborted when the join is given up or forgotten here: a join slot still being waited for is then not taken. */
  readonly abort: AbortController;
  presence?: WorkerPresence;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class RoomWorkers {
  readonly #options: RoomWorkersOptions;
  readonly #threads: Thread[] = [];
  #closing = false;
  #nextId = 0;

  private constructor(options: RoomWorkersOptions) {
    this.#options = options;
  }

  /**
   * Start the threads and wait until each has loaded the agents.
   * @throws RoomrunnerError `RR_OPTION_INVALID` for a bad count; a worker's own start-up error (its agents folder).
   */
  static async start(options: RoomWorkersOptions): Promise<RoomWorkers> {
    wholeNumber('roomWorkers', options.count, 1);
    const workers = new RoomWorkers(options);
    try {
      await Promise.all(Array.from({ length: options.count }, () => workers.#spawn()));
    } catch (error) {
      await workers.close();
      throw error;
    }
    return workers;
  }

  /** Threads running. */
  get size(): number {
    return this.#threads.length;
  }

  /** Rooms on each thread (joined or joining), in thread order. */
  get load(): number[] {
    return this.#threads.map((t) => t.joins.size);
  }

  /** Join a room on the thread with the fewest rooms. */
  readonly join: JoinRoomWork = (request, signal) => {
    const thread = this.#threads.reduce<Thread | undefined>((best, t) => (best === undefined || t.joins.size < best.joins.size ? t : best), undefined);
    if (thread === undefined || this.#closing) {
      return Promise.reject(new RoomrunnerError('RR_ROOM_ABORTED', 'the room workers are stopped'));
    }
    return thread.join(request, signal, this.#nextId++);
  };

  /** Stop every thread (rooms still on them close without unregistering: leave them first). Idempotent. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#threads.splice(0).map((t) => t.terminate()));
  }

  async #spawn(): Promise<void> {
    const thread = new Thread(this.#options, (exited) => this.#onExit(exited));
    this.#threads.push(thread);
    await thread.ready;
  }

  #onExit(thread: Thread): void {
    const i = this.#threads.indexOf(thread);
    if (i >= 0) this.#threads.splice(i, 1);
    if (this.#closing) return;
    this.#options.logger.error({ rooms: thread.joins.size }, 'a room worker exited; its rooms are lost and a new worker starts');
    this.#spawn().catch((error: unknown) => this.#options.logger.error({ err: error }, 'a room worker could not start again'));
  }
}

/** One worker thread and the joins on it. */
class Thread {
  readonly joins = new Map<number, WorkerJoin>();
  /**
   * Join slots granted and not yet given back, by join and slot request: kept apart from the joins, so a slot the
   * worker gives back after its join has ended (or failed) is still released.
   */
  readonly #slots = new Map<string, () => void>();
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #requests = new Map<number, Pending>();
  readonly #logger: Logger;
  #nextReq = 0;
  #exited = false;

  constructor(options: RoomWorkersOptions, onExit: (thread: Thread) => void) {
    this.#logger = options.logger;
    this.#worker = startWorker(options.data);
    let started: Pending | undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      started = { resolve: () => resolve(), reject };
    });
    this.#worker.on('message', (message: FromWorker) => {
      if (message.ev === 'ready') started?.resolve(undefined);
      else if (message.ev === 'start-failed') started?.reject(deserializeError(message.error));
      else this.#onMessage(message);
    });
    this.#worker.on('error', (error) => {
      this.#logger.error({ err: error }, 'room worker failed');
      started?.reject(error);
    });
    this.#worker.on('exit', (code) => {
      this.#exited = true;
      started?.reject(new RoomrunnerError('RR_ROOM_ABORTED', `the room worker exited (code ${code}) before it was ready`));
      const gone = new RoomrunnerError('RR_ROOM_CLOSED', `the room worker exited (code ${code})`);
      for (const pending of this.#requests.values()) pending.reject(gone);
      this.#requests.clear();
      for (const release of this.#slots.values()) release();
      this.#slots.clear();
      for (const join of this.joins.values()) {
        join.abort.abort(gone);
        if (join.presence) join.presence.closedBy({ code: 1011, reason: 'the room worker exited' });
        else join.reject(gone);
      }
      this.joins.clear();
      onExit(this);
    });
  }

  join(request: JoinRequest, signal: AbortSignal, id: number): Promise<RoomPresence> {
    return new Promise<RoomPresence>((resolve, reject) => {
      const abort = new AbortController();
      const onAbort = (): void => {
        abort.abort(signal.reason);
        this.post({ op: 'abort', id, reason: serializeError(signal.reason) });
      };
      const join: WorkerJoin = {
        request,
        abort,
        resolve: (presence) => {
          signal.removeEventListener('abort', onAbort);
          resolve(presence);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          this.joins.delete(id);
          abort.abort(error);
          reject(error);
        },
      };
      this.joins.set(id, join);
      this.post({
        op: 'join',
        id,
        room: request.room,
        url: request.url,
        agents: request.toolkits.map((t) => t.name),
        ...(request.token === undefined ? {} : { token: request.token }),
        connection: crossable(request.connection),
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  post(message: ToWorker): void {
    if (!this.#exited) this.#worker.postMessage(message);
  }

  request(message: ToWorker & { readonly req: number }): Promise<unknown> {
    if (this.#exited) return Promise.reject(new RoomrunnerError('RR_ROOM_CLOSED', 'the room worker exited'));
    return new Promise((resolve, reject) => {
      this.#requests.set(message.req, { resolve, reject });
      this.post(message);
    });
  }

  nextReq(): number {
    return this.#nextReq++;
  }

  terminate(): Promise<number> {
    return this.#worker.terminate();
  }

  #onMessage(message: Exclude<FromWorker, { ev: 'ready' } | { ev: 'start-failed' }>): void {
    if (message.ev === 'reply') {
      const pending = this.#requests.get(message.req);
      this.#requests.delete(message.req);
      if (message.ok) pending?.resolve(message.value);
      else pending?.reject(deserializeError(message.error));
      return;
    }
    if (message.ev === 'slot-release') {
      const key = `${message.id}:${message.slot}`;
      this.#slots.get(key)?.();
      this.#slots.delete(key);
      return;
    }
    const join = this.joins.get(message.id);
    // A join this side has already forgotten (failed, given up, closed): nothing to route.
    if (join === undefined) return;
    switch (message.ev) {
      case 'slot':
        join.request.registrationSlot(join.abort.signal).then(
          (release) => {
            if (!this.joins.has(message.id) || this.#exited) {
              release(); // the join ended while its turn came: nobody will use it
              return;
            }
            this.#slots.set(`${message.id}:${message.slot}`, release);
            this.post({ op: 'slot', id: message.id, slot: message.slot });
          },
          () => undefined, // the join was given up while waiting: the worker gave up its wait too
        );
        return;
      case 'joined': {
        const presence = new WorkerPresence(this, message.id, join.request.toolkits, message.participantId);
        join.presence = presence;
        join.resolve(presence);
        return;
      }
      case 'join-failed':
        join.reject(deserializeError(message.error));
        return;
      case 'call':
        join.request.onCall(message.agent, message.tool, { outcome: message.outcome, durationMs: message.durationMs });
        return;
      case 'reconnecting':
      case 'dismiss':
        join.presence?.emit(message.ev);
        return;
      case 'closed':
        this.joins.delete(message.id);
        join.abort.abort(new RoomrunnerError('RR_ROOM_CLOSED', 'the room closed'));
        join.presence?.closedBy({ code: message.code, reason: message.reason });
        return;
    }
  }
}

/** A room joined on a worker thread, as the attachments see it. */
class WorkerPresence implements RoomPresence {
  readonly participantId: string | undefined;
  readonly client = undefined;
  readonly closed: Promise<ClosedEvent>;
  #toolkits: readonly Toolkit[];
  readonly #thread: Thread;
  readonly #id: number;
  readonly #events = new Emitter<{ reconnecting: []; dismiss: [] }>(() => undefined);
  #closedBy!: (event: ClosedEvent) => void;
  #leaving: Promise<void> | undefined;

  constructor(thread: Thread, id: number, toolkits: readonly Toolkit[], participantId: string | undefined) {
    this.#thread = thread;
    this.#id = id;
    this.#toolkits = toolkits;
    this.participantId = participantId;
    this.closed = new Promise<ClosedEvent>((resolve) => (this.#closedBy = resolve));
  }

  get toolkits(): readonly Toolkit[] {
    return this.#toolkits;
  }

  on(event: PresenceEvent, listener: () => void): () => void {
    return this.#events.on(event, listener);
  }

  emit(event: PresenceEvent): void {
    this.#events.emit(event);
  }

  closedBy(event: ClosedEvent): void {
    this.#closedBy(event);
  }

  async replaceToolkits(toolkits: readonly Toolkit[]): Promise<ToolkitsReplaced> {
    const req = this.#thread.nextReq();
    const replaced = (await this.#thread.request({ op: 'replace', id: this.#id, req, agents: toolkits.map((t) => t.name) })) as ToolkitsReplaced;
    this.#toolkits = toolkits;
    return replaced;
  }

  leave(options: { reason?: string; graceMs?: number } = {}): Promise<void> {
    this.#leaving ??= (async () => {
      const req = this.#thread.nextReq();
      await this.#thread
        .request({ op: 'leave', id: this.#id, req, reason: options.reason ?? 'leaving the room', graceMs: options.graceMs ?? 0 })
        .catch(() => undefined);
    })();
    return this.#leaving;
  }

  async handOver(reason: string, graceMs: number, onUnregistered: () => unknown): Promise<void> {
    const req = this.#thread.nextReq();
    const left = await this.#thread.request({ op: 'unregister', id: this.#id, req, reason }).catch(() => true);
    await onUnregistered();
    if (left !== true) await this.leave({ reason, graceMs });
  }
}

/** The room connection options a worker can take: numbers and the backoff (functions and sockets stay here). */
function crossable(options: JoinRequest['connection']): WorkerConnectionOptions {
  if (options === undefined) return {};
  const { requestTimeoutMs, handshakeTimeoutMs, pingIntervalMs, maxMessageBytes, backoff } = options;
  return {
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs }),
    ...(pingIntervalMs === undefined ? {} : { pingIntervalMs }),
    ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
    ...(backoff === undefined ? {} : { backoff: { ...backoff } }),
  };
}

/** The worker thread (src/util/threads.ts: compiled, or the TypeScript source through tsx). */
function startWorker(data: RoomWorkerData): Worker {
  return startModuleWorker(import.meta.url, 'room-worker-thread', data);
}
