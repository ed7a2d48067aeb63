/**
 * Hosts toolkits (agents) in one room: registers each with `room.register_toolkit` (§E.2) carrying the JSON
 * Schemas zod generates, answers `room.tool_call.<toolkit>` through {@link runCall}, registers again after every
 * reconnect, and on leave aborts calls in flight, unregisters and closes the socket with 1000.
 *
 * {@link AgentHost.replaceToolkits} swaps the agents over the same socket (`roomrunner dev` reloading): new calls
 * go to the new code at once, calls in flight finish on the code they started with, and only agents whose
 * registration header changed are registered again (the new registration first, then the old one is removed, so
 * the room never lacks the agent; a room that refuses a second registration of a name gets the old one removed
 * first). Removed agents are unregistered, new ones registered.
 */
import { SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import { RoomrunnerError } from '../errors.js';
import type { Content } from '../protocol/content.js';
import type { JsonObject } from '../protocol/packing.js';
import { silentLogger, withBindings, type Logger } from '../logger.js';
import { RoomConnection, type RoomConnectionOptions } from '../room/connection.js';
import { RoomClient, type ToolCall, type ToolkitRegistration } from '../room/room-client.js';
import type { Toolkit } from './define-agent.js';
import { CallLimiter, runCall, type AbortableCall, type CallGroup, type CallOutcome, type RoomApi } from './run-call.js';

/** What {@link AgentHost.replaceToolkits} did, by agent name. */
export interface ToolkitsReplaced {
  /** Agents hosted now that were not before (registered). */
  readonly added: readonly string[];
  /** Agents no longer hosted (unregistered). */
  readonly removed: readonly string[];
  /** Agents kept whose registration changed (tools, schemas, title…) and were registered again. */
  readonly reregistered: readonly string[];
  /** Agents kept with the same registration: only their code was swapped. */
  readonly swapped: readonly string[];
  /** False when the socket was not ready: the room gets the new registrations when it is (after the reconnect). */
  readonly live: boolean;
}

/** Observes every answered call (metrics, tests). */
export type CallObserver = (toolkit: string, tool: string, outcome: CallOutcome) => void;

export interface AgentHostOptions {
  /** Room name, for logs and `ctx.room`. */
  room: string;
  toolkits: readonly Toolkit[];
  logger?: Logger;
  onCall?: CallObserver;
  /** Time for call deadlines and the drain bound (default {@link SYSTEM_CLOCK}). */
  clock?: Clock;
}

/** The `room.register_toolkit` header of a toolkit (§E.2): tools as a map keyed by name, JSON specs. */
export function toolkitRegistration(toolkit: Toolkit): ToolkitRegistration {
  const tools: Record<string, JsonObject> = {};
  for (const [name, tool] of Object.entries(toolkit.tools)) {
    tools[name] = {
      title: tool.title || name,
      description: tool.description,
      input_spec: { types: ['json'], stream: tool.streamInput, schema: tool.inputJsonSchema },
      output_spec: { types: ['json'], stream: tool.chunk !== undefined, schema: tool.outputJsonSchema },
    };
  }
  return {
    name: toolkit.name,
    title: toolkit.title,
    description: toolkit.description,
    public: toolkit.public,
    tools,
    ...(Object.keys(toolkit.annotations).length > 0 ? { annotations: { ...toolkit.annotations } } : {}),
  };
}

export class AgentHost {
  readonly #client: RoomClient;
  readonly #options: AgentHostOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #limiter = new CallLimiter();
  /**
   * The calls in flight by the socket that carried them (the room client's call signal, one per socket): a
   * socket's calls are aborted together when it closes, with one listener per socket rather than per call.
   */
  readonly #sockets = new Map<AbortSignal, SocketCalls>();
  /** Set by {@link abortCalls}: every call in flight then, and any call started later, is aborted with it. */
  #abortReason: Error | undefined;
  readonly #registrations = new Map<string, string>();
  /** The registration header last sent for each agent (JSON), to tell a changed registration from a code swap. */
  readonly #registered = new Map<string, string>();
  /** The agents hosted now by name; a call is answered by the one current when it arrives. */
  #toolkits = new Map<string, Toolkit>();
  readonly #unserve = new Map<string, () => void>();
  /** Registrations and replacements run one at a time (a reconnect's `register` may meet a reload). */
  #serial: Promise<unknown> = Promise.resolve();
  /** Calls being answered, and who waits for there to be none ({@link idle}). */
  #inFlight = 0;
  readonly #idleWaiters = new Set<() => void>();
  readonly #roomApi: RoomApi;
  #leaving: string | undefined;

  constructor(client: RoomClient, options: AgentHostOptions) {
    this.#client = client;
    this.#options = options;
    this.#logger = withBindings(options.logger ?? silentLogger(), { room: options.room });
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#roomApi = {
      invokeTool: ({ toolkit, tool, arguments: args, signal }) => client.invokeTool({ toolkit, tool, arguments: args, ...(signal ? { signal } : {}) }),
      invokeStream: ({ toolkit, tool, arguments: args, signal }) => client.invoke({ toolkit, tool, arguments: args, ...(signal ? { signal } : {}) }),
      listToolkits: async () => {
        const listed = await client.listToolkits();
        return Object.fromEntries(
          Object.entries(listed.tools).map(([name, t]) => [
            name,
            { participantId: t.participant_id ?? null, title: t.title ?? null, tools: Object.keys(t.tools) },
          ]),
        );
      },
    };
    for (const toolkit of options.toolkits) {
      this.#toolkits.set(toolkit.name, toolkit);
      this.#serve(toolkit.name);
    }
  }

  /** The agents hosted now. */
  get toolkits(): readonly Toolkit[] {
    return [...this.#toolkits.values()];
  }

  /** Registration ids by toolkit name for the current socket. */
  get registrations(): ReadonlyMap<string, string> {
    return this.#registrations;
  }

  /** Calls being answered now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Register every toolkit on the current socket. Run it from the connection's `onReady`: ids from a previous
   * socket are dropped first, as the room forgot them when that socket closed (§E.2).
   */
  register(): Promise<void> {
    return this.#oneAtATime(async () => {
      this.#registrations.clear();
      this.#registered.clear();
      for (const toolkit of this.#toolkits.values()) await this.#registerOne(toolkit);
    });
  }

  /**
   * Host `toolkits` instead of the current agents, over the same socket (see the file comment). Resolves once the
   * room has the new registrations; rejects when the room refuses one (the agents switched to so far stay).
   */
  replaceToolkits(toolkits: readonly Toolkit[]): Promise<ToolkitsReplaced> {
    const next = new Map(toolkits.map((toolkit) => [toolkit.name, toolkit]));
    if (next.size !== toolkits.length) {
      const names = toolkits.map((t) => t.name).filter((name, i, all) => all.indexOf(name) !== i);
      return Promise.reject(new RoomrunnerError('RR_AGENT_DUPLICATE_NAME', `replaceToolkits: two agents share the name ${[...new Set(names)].join(', ')}`));
    }
    return this.#oneAtATime(async () => {
      const before = this.#toolkits;
      const added = [...next.keys()].filter((name) => !before.has(name));
      const removed = [...before.keys()].filter((name) => !next.has(name));
      // New calls reach the new code from here on; a call in flight holds the toolkit it started with.
      this.#toolkits = next;
      for (const name of added) this.#serve(name);
      const reregistered: string[] = [];
      const swapped: string[] = [];
      const live = this.#client.connection.state === 'ready';
      for (const toolkit of next.values()) {
        if (added.includes(toolkit.name)) continue;
        if (live && this.#registered.get(toolkit.name) !== JSON.stringify(toolkitRegistration(toolkit))) reregistered.push(toolkit.name);
        else swapped.push(toolkit.name);
      }
      if (live) {
        for (const name of [...added, ...reregistered]) await this.#registerOne(next.get(name) as Toolkit);
        for (const name of removed) {
          const id = this.#registrations.get(name);
          this.#registrations.delete(name);
          this.#registered.delete(name);
          if (id !== undefined) await this.#client.unregisterToolkit(id, { timeoutMs: 5_000 });
        }
      } else {
        for (const name of removed) {
          this.#registrations.delete(name);
          this.#registered.delete(name);
        }
      }
      // Handlers of removed agents go last: a call relayed before the unregistration is answered "removed".
      for (const name of removed) {
        this.#unserve.get(name)?.();
        this.#unserve.delete(name);
      }
      this.#logger.debug({ added, removed, reregistered, swapped }, 'agents replaced');
      return { added, removed, reregistered, swapped, live };
    });
  }

  /** Answer every new call with 1006 `reason` from now on; calls in flight go on. */
  stopAccepting(reason: string): void {
    this.#leaving ??= reason;
  }

  /** Abort every call in flight with `reason` (room ended, shutdown); their callers get code 1006. */
  abortCalls(reason: string): void {
    if (this.#abortReason) return;
    const error = new RoomrunnerError('RR_AGENT_ABORTED', reason);
    this.#abortReason = error;
    for (const calls of this.#sockets.values()) calls.abort(error);
  }

  /** Wait until no call is in flight, or `timeoutMs` passes. Resolves true when idle. */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return true;
    const clock = this.#clock;
    let timer: unknown;
    let onIdle: (() => void) | undefined;
    const idle = await new Promise<boolean>((resolve) => {
      onIdle = () => resolve(true);
      this.#idleWaiters.add(onIdle);
      timer = clock.setTimeout(() => resolve(false), Math.max(0, timeoutMs));
    });
    clock.clearTimeout(timer);
    if (onIdle) this.#idleWaiters.delete(onIdle);
    return idle;
  }

  /**
   * Unregister every toolkit (skipped when the socket is already gone). Handlers stay until {@link dispose}: a
   * call the room relayed just before the unregistration still gets a clear answer ("leaving", 1006) rather
   * than "not served".
   */
  async unregister(): Promise<void> {
    const ids = [...this.#registrations.values()];
    this.#registrations.clear();
    this.#registered.clear();
    if (this.#client.connection.state !== 'ready') return;
    await Promise.allSettled(ids.map((id) => this.#client.unregisterToolkit(id, { timeoutMs: 5_000 })));
  }

  /** Stop serving calls on this connection (after it closed). */
  dispose(): void {
    for (const unserve of this.#unserve.values()) unserve();
    this.#unserve.clear();
  }

  #oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(work, work);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  /**
   * Register `toolkit` and drop the registration it replaces, if any: the new one first (the room routes a name
   * to the newest registration, docs/protocol.md §E.2); when the room refuses it while the old one stands, the
   * old one goes first and the registration is tried again.
   */
  async #registerOne(toolkit: Toolkit): Promise<void> {
    const header = toolkitRegistration(toolkit);
    let previous = this.#registrations.get(toolkit.name);
    let id: string;
    try {
      id = await this.#client.registerToolkit(header);
    } catch (error) {
      if (previous === undefined || this.#client.connection.state !== 'ready') throw error;
      this.#registrations.delete(toolkit.name);
      await this.#client.unregisterToolkit(previous, { timeoutMs: 5_000 });
      previous = undefined;
      id = await this.#client.registerToolkit(header);
    }
    this.#registrations.set(toolkit.name, id);
    this.#registered.set(toolkit.name, JSON.stringify(header));
    this.#logger.debug({ agent: toolkit.name, registration: id }, 'toolkit registered');
    if (previous !== undefined) await this.#client.unregisterToolkit(previous, { timeoutMs: 5_000 });
  }

  /** Serve `room.tool_call.<name>` with whichever agent of that name is current when a call arrives. */
  #serve(name: string): void {
    this.#unserve.set(
      name,
      this.#client.serveToolkit(name, (call) => {
        const toolkit = this.#toolkits.get(name);
        if (toolkit) return this.#answer(toolkit, call);
        const error = new RoomrunnerError('RR_AGENT_ABORTED', `agent ${name} is no longer hosted here (it was removed)`);
        return Promise.resolve({ type: 'error', text: error.message, code: error.contentCode });
      }),
    );
  }

  async #answer(toolkit: Toolkit, call: ToolCall): Promise<Content> {
    const tool = call.name;
    if (this.#leaving !== undefined) {
      const error = new RoomrunnerError('RR_AGENT_ABORTED', `agent ${toolkit.name} is leaving the room: ${this.#leaving}`);
      return { type: 'error', text: error.message, code: error.contentCode };
    }
    this.#inFlight += 1;
    try {
      const outcome = await runCall({
        toolkit,
        tool,
        arguments: call.arguments,
        input: call.input,
        stream: { open: call.openStream, chunk: call.sendChunk },
        room: this.#options.room,
        callerId: call.callerId,
        toolCallId: call.toolCallId,
        logger: this.#logger,
        roomApi: this.#roomApi,
        limiter: this.#limiter,
        clock: this.#clock,
        group: this.#socketCalls(call.signal),
      });
      this.#options.onCall?.(toolkit.name, tool, outcome);
      return outcome.content;
    } finally {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) for (const onIdle of [...this.#idleWaiters]) onIdle();
    }
  }

  /** The group of the calls that came over the socket `signal` belongs to; aborted with it (see {@link #sockets}). */
  #socketCalls(signal: AbortSignal): SocketCalls {
    let calls = this.#sockets.get(signal);
    if (calls === undefined) {
      const group = new SocketCalls();
      calls = group;
      if (this.#abortReason) group.abort(this.#abortReason);
      if (signal.aborted) group.abort(signal.reason);
      else {
        this.#sockets.set(signal, group);
        signal.addEventListener(
          'abort',
          () => {
            this.#sockets.delete(signal);
            group.abort(signal.reason);
          },
          { once: true },
        );
      }
    }
    return calls;
  }
}

/** The calls in flight that one socket carried; once aborted, a call that joins is aborted at once. */
class SocketCalls implements CallGroup {
  readonly #calls = new Set<AbortableCall>();
  #aborted = false;
  #reason: unknown;

  join(call: AbortableCall): void {
    if (this.#aborted) call.abort(this.#reason);
    else this.#calls.add(call);
  }

  leave(call: AbortableCall): void {
    this.#calls.delete(call);
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const calls = [...this.#calls];
    this.#calls.clear();
    for (const call of calls) call.abort(reason);
  }
}

export interface JoinRoomOptions extends Omit<RoomConnectionOptions, 'onReady'> {
  room: string;
  toolkits: readonly Toolkit[];
  onCall?: CallObserver;
  /** Time for the host: call deadlines, the drain bound (default {@link SYSTEM_CLOCK}). The connection's own timers are `timers`/`now`. */
  clock?: Clock;
}

/** A room joined with agents: {@link leave} unregisters them and closes the socket with 1000. */
export interface JoinedRoom {
  readonly connection: RoomConnection;
  readonly client: RoomClient;
  readonly host: AgentHost;
  /**
   * Leave: stop taking calls, let calls in flight finish for up to `graceMs` (default 0: abort them at once,
   * telling callers why), unregister, close with 1000. Idempotent.
   */
  leave(options?: { reason?: string; graceMs?: number }): Promise<void>;
}

/**
 * Connect to a room and host `toolkits` there. Resolves once the toolkits are registered; they are registered
 * again after every reconnect. Rejects when the first connection fails for good (see RoomConnection.start).
 */
export async function joinRoom(options: JoinRoomOptions, signal?: AbortSignal): Promise<JoinedRoom> {
  const { room, toolkits, onCall, clock, ...connectionOptions } = options;
  let host: AgentHost | undefined;
  const connection = new RoomConnection({
    ...connectionOptions,
    onReady: async () => {
      await host?.register();
    },
  });
  const client = new RoomClient(connection);
  host = new AgentHost(client, {
    room,
    toolkits,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(onCall ? { onCall } : {}),
    ...(clock ? { clock } : {}),
  });
  const joinedHost = host;
  let leaving: Promise<void> | undefined;
  try {
    await connection.start(signal);
  } catch (error) {
    await connection.close(1000, 'start failed');
    throw error;
  }
  return {
    connection,
    client,
    host: joinedHost,
    leave(leaveOptions = {}) {
      leaving ??= (async () => {
        const reason = leaveOptions.reason ?? 'leaving the room';
        joinedHost.stopAccepting(reason);
        if (!(leaveOptions.graceMs && (await joinedHost.idle(leaveOptions.graceMs)))) joinedHost.abortCalls(reason);
        await joinedHost.idle(1_000);
        await joinedHost.unregister();
        await connection.close(1000, reason);
        joinedHost.dispose();
      })();
      return leaving;
    },
  };
}
