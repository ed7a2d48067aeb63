/**
 * Hosts toolkits (agents) in one room: registers each with `room.register_toolkit` (§E.2) carrying the JSON
 * Schemas zod generates, answers `room.tool_call.<toolkit>` through {@link runCall}, registers again after every
 * reconnect, and on leave aborts calls in flight, unregisters and closes the socket with 1000.
 */
import { setMaxListeners } from 'node:events';
import { RoomrunnerError } from '../errors.js';
import type { Content } from '../protocol/content.js';
import type { JsonObject } from '../protocol/packing.js';
import { silentLogger, withBindings, type Logger } from '../logger.js';
import { RoomConnection, type RoomConnectionOptions } from '../room/connection.js';
import { RoomClient, type ToolCall, type ToolkitRegistration } from '../room/room-client.js';
import type { Toolkit } from './define-agent.js';
import { CallLimiter, runCall, type CallGroup, type CallOutcome, type RoomApi } from './run-call.js';

/** Observes every answered call (metrics, tests). */
export type CallObserver = (toolkit: string, tool: string, outcome: CallOutcome) => void;

export interface AgentHostOptions {
  /** Room name, for logs and `ctx.room`. */
  room: string;
  toolkits: readonly Toolkit[];
  logger?: Logger;
  onCall?: CallObserver;
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
  readonly #limiter = new CallLimiter();
  /** The controllers of the calls in flight, aborted together by {@link abortCalls}. */
  readonly #calls = new Set<AbortController>();
  /** Set by {@link abortCalls}: every call in flight then, and any call started later, is aborted with it. */
  #abortReason: Error | undefined;
  readonly #group: CallGroup = {
    join: (controller) => {
      if (this.#abortReason) controller.abort(this.#abortReason);
      else this.#calls.add(controller);
    },
    leave: (controller) => {
      this.#calls.delete(controller);
    },
  };
  readonly #registrations = new Map<string, string>();
  readonly #unserve: Array<() => void> = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #roomApi: RoomApi;
  #leaving: string | undefined;
  /** The last call signal seen: the room client shares one per socket, and every call in flight listens to it. */
  #callSignal: AbortSignal | undefined;

  constructor(client: RoomClient, options: AgentHostOptions) {
    this.#client = client;
    this.#options = options;
    this.#logger = withBindings(options.logger ?? silentLogger(), { room: options.room });
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
      this.#unserve.push(client.serveToolkit(toolkit.name, (call) => this.#answer(toolkit, call)));
    }
  }

  /** Registration ids by toolkit name for the current socket. */
  get registrations(): ReadonlyMap<string, string> {
    return this.#registrations;
  }

  /** Calls being answered now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Register every toolkit on the current socket. Run it from the connection's `onReady`: ids from a previous
   * socket are dropped first, as the room forgot them when that socket closed (§E.2).
   */
  async register(): Promise<void> {
    this.#registrations.clear();
    for (const toolkit of this.#options.toolkits) {
      const id = await this.#client.registerToolkit(toolkitRegistration(toolkit));
      this.#registrations.set(toolkit.name, id);
      this.#logger.debug({ agent: toolkit.name, registration: id }, 'toolkit registered');
    }
  }

  /** Answer every new call with 1006 `reason` from now on; calls in flight go on. */
  stopAccepting(reason: string): void {
    this.#leaving ??= reason;
  }

  /** Abort every call in flight with `reason` (room ended, shutdown); their callers get code 1006. */
  abortCalls(reason: string): void {
    if (this.#abortReason) return;
    const error = new Error(reason);
    this.#abortReason = error;
    const calls = [...this.#calls];
    this.#calls.clear();
    for (const controller of calls) controller.abort(error);
  }

  /** Wait until no call is in flight, or `timeoutMs` passes. Resolves true when idle. */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inFlight.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.#inFlight]), new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
    return true;
  }

  /**
   * Unregister every toolkit (skipped when the socket is already gone). Handlers stay until {@link dispose}: a
   * call the room relayed just before the unregistration still gets a clear answer ("leaving", 1006) rather
   * than "not served".
   */
  async unregister(): Promise<void> {
    const ids = [...this.#registrations.values()];
    this.#registrations.clear();
    if (this.#client.connection.state !== 'ready') return;
    await Promise.allSettled(ids.map((id) => this.#client.unregisterToolkit(id, { timeoutMs: 5_000 })));
  }

  /** Stop serving calls on this connection (after it closed). */
  dispose(): void {
    for (const unserve of this.#unserve.splice(0)) unserve();
  }

  #answer(toolkit: Toolkit, call: ToolCall): Promise<Content> {
    const { name: tool, signal: callSignal } = call;
    if (this.#leaving !== undefined) {
      const error = new RoomrunnerError('RR_AGENT_ABORTED', `agent ${toolkit.name} is leaving the room: ${this.#leaving}`);
      return Promise.resolve({ type: 'error', text: error.message, code: error.contentCode });
    }
    if (callSignal !== this.#callSignal) {
      // One listener per call in flight (removed when it settles), so more than 10 is expected, not a leak.
      setMaxListeners(0, callSignal);
      this.#callSignal = callSignal;
    }
    const work = runCall({
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
      signal: callSignal,
      group: this.#group,
    }).then((outcome) => {
      this.#options.onCall?.(toolkit.name, tool, outcome);
      return outcome.content;
    });
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
    return work;
  }
}

export interface JoinRoomOptions extends Omit<RoomConnectionOptions, 'onReady'> {
  room: string;
  toolkits: readonly Toolkit[];
  onCall?: CallObserver;
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
  const { room, toolkits, onCall, ...connectionOptions } = options;
  let host: AgentHost | undefined;
  const connection = new RoomConnection({
    ...connectionOptions,
    onReady: async () => {
      await host?.register();
    },
  });
  const client = new RoomClient(connection);
  host = new AgentHost(client, { room, toolkits, ...(options.logger ? { logger: options.logger } : {}), ...(onCall ? { onCall } : {}) });
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
