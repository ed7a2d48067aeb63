/**
 * Run agents without any socket, for the people writing them. Every call goes through the same runner the
 * room host uses (validation, deadline, concurrency, error mapping), and `ctx.call` between agents in the
 * harness is routed through it too, so an agent that calls another can be tested with the real one.
 */
import { RoomrunnerError } from '../errors.js';
import { CONTROL_CLOSE_NORMAL, type Content } from '../protocol/content.js';
import { ChunkQueue, isAsyncIterable } from '../room/chunk-queue.js';
import { serverError } from '../room/session.js';
import { silentLogger, type Logger } from '../logger.js';
import { AGENT_TOOL_NAME, type Schema, type Tool, type Toolkit } from './define-agent.js';
import type { z } from 'zod';
import { CallLimiter, jsonArguments, runCall, type CallOutcome, type ResponseSink, type RoomApi, type RoomApiRequest } from './run-call.js';

export interface AgentHarnessOptions {
  room?: string;
  callerId?: string;
  logger?: Logger;
}

/** What `call` and `callStream` take besides the arguments: the tool (default `ask`) and an abort signal. */
export interface HarnessCallOptions<K extends string = string> {
  tool?: K;
  signal?: AbortSignal;
}

/**
 * A value as a caller may send it: `null` also stands for an absent optional field (the runner drops it before
 * the input schema reads the arguments, as LLM callers send it; README.md "Schemas LLM agents accept").
 */
export type Sent<T> = T extends Leaf
  ? T
  : T extends readonly unknown[]
    ? { [K in keyof T]: Sent<T[K]> }
    : T extends object
      ? { [K in keyof T]: IsOptional<T, K> extends true ? Sent<T[K]> | null : Sent<T[K]> }
      : T;

/**
 * A single answer as the caller gets it: an optional field the agent left out arrives as `null`, as the
 * registered output schema promises (LLM callers require every field).
 */
export type Received<T> = T extends Leaf
  ? T
  : T extends readonly unknown[]
    ? { [K in keyof T]: Received<T[K]> }
    : T extends object
      ? { [K in keyof T]-?: IsOptional<T, K> extends true ? Received<Exclude<T[K], undefined>> | null : Received<T[K]> }
      : T;

/** Values whose insides the runner does not walk: primitives, functions, dates, maps, sets, binary data. */
type Leaf =
  | string
  | number
  | boolean
  | bigint
  | symbol
  | null
  | undefined
  | Date
  | RegExp
  | ReadonlyMap<unknown, unknown>
  | ReadonlySet<unknown>
  | ArrayBuffer
  | ArrayBufferView
  | ((...args: never[]) => unknown);

/** True when `K` is an optional field of `T` (an index signature is not: its keys are not named fields). */
type IsOptional<T, K extends keyof T> = string extends K ? false : number extends K ? false : Partial<Pick<T, K>> extends Pick<T, K> ? true : false;

/** The tools of the toolkits `T` (a union) named `N`: by name, so a literal name wins over a toolkit typed `string`. */
type ToolsOf<T extends Toolkit, N extends string> = { [Kit in T as Kit['name']]: Kit['tools'] }[N];

/** The toolkit names of `T`; `string` when one of them is only known as a string. */
export type HarnessToolkitName<T extends Toolkit> = T['name'];
/** The tool names of toolkit `N` in `T`. */
export type HarnessToolName<T extends Toolkit, N extends string> = keyof ToolsOf<T, N> & string;

/** The arguments of `tool`: its input as sent, or for a streamed-input tool an async iterable of items. */
export type CallArgs<Tl> =
  Tl extends Tool<infer I, Schema, Schema | undefined, infer S>
    ? unknown extends z.input<I>
      ? Record<string, unknown> | AsyncIterable<Record<string, unknown>>
      : S extends true
        ? AsyncIterable<Sent<z.input<I>>>
        : Sent<z.input<I>>
    : never;

/**
 * What `call` resolves to: a single answer's output as the caller gets it; for a streaming tool its final value.
 * A stream whose final value may be undefined ends with its last chunk instead, or an `empty` content when it
 * sent none.
 */
export type CallAnswer<Tl> =
  Tl extends Tool<Schema, infer O, infer C, boolean>
    ? C extends Schema
      ? undefined extends z.output<O>
        ? Exclude<z.output<O>, undefined> | z.output<C> | Content
        : z.output<O>
      : Received<z.output<O>>
    : never;

/** Each value `callStream` yields: a streaming tool's chunks and, last, its final value; a single answer once. */
export type StreamValue<Tl> =
  Tl extends Tool<Schema, infer O, infer C, boolean> ? (C extends Schema ? z.output<C> | Exclude<z.output<O>, undefined> : Received<z.output<O>>) : never;

/** The tool an agent answers on when a call names none: `ask`, if toolkit `N` has it. */
type DefaultTool<T extends Toolkit, N extends string> = Extract<typeof AGENT_TOOL_NAME, HarnessToolName<T, N>>;

/**
 * The harness over the toolkits `T` (a union of their types, as {@link createAgentHarness} infers it): `call`
 * and `callStream` are typed by toolkit name and tool from the toolkits' zod schemas. Toolkits only known as
 * {@link Toolkit} (discovered ones, class agents) take any name and `unknown` values.
 */
export interface AgentHarness<T extends Toolkit = Toolkit> {
  /**
   * Call `toolkit`'s `tool` and return the whole outcome (content + outcome label). `chunks` holds what a
   * streaming tool sent before `content`, which is then the stream's end (`control close`, or an `error` that a
   * room caller gets as a last chunk before a normal close). `args` may be an async iterable: streamed input.
   * Untyped on purpose: the way to send what a typed call refuses (a wrong type, a missing tool) and see the
   * answer a room caller gets.
   */
  invoke(
    toolkit: string,
    tool: string,
    args: Content | AsyncIterable<Content>,
    options?: { signal?: AbortSignal },
  ): Promise<CallOutcome & { chunks: readonly Content[] }>;
  /**
   * Read a call's answer as a room caller does (RoomClient.invoke): each chunk as it is sent, `error` chunks
   * included; a close other than 1000 fails with RR_ROOM_STREAM_CLOSED, an `error` answer with RR_ROOM_SERVER_ERROR.
   */
  stream(toolkit: string, tool: string, args: Content | AsyncIterable<Content>, options?: { signal?: AbortSignal }): AsyncIterable<Content>;
  /**
   * Call a toolkit of the harness by name (its `ask` tool, or `options.tool`) and return its output (a streaming
   * tool's final value), or throw a RoomrunnerError whose `contentCode` is the code a room caller would get
   * (1002 bad input, 1003 not found, 1008 failure, 1009 timeout, ...). For a streamed-input tool `args` is an
   * async iterable of items.
   */
  call<N extends HarnessToolkitName<T>, K extends HarnessToolName<T, N> = DefaultTool<T, N>>(
    toolkit: N,
    args: CallArgs<ToolsOf<T, N>[K]>,
    options?: HarnessCallOptions<K>,
  ): Promise<CallAnswer<ToolsOf<T, N>[K]>>;
  /** As above with the toolkit value itself, typed from it; a toolkit the harness lacks is added to it. */
  call<A extends Toolkit, K extends keyof A['tools'] & string = Extract<typeof AGENT_TOOL_NAME, keyof A['tools']>>(
    toolkit: A,
    args: CallArgs<A['tools'][K]>,
    options?: HarnessCallOptions<K>,
  ): Promise<CallAnswer<A['tools'][K]>>;
  /**
   * Call a toolkit of the harness by name and read its answer as it arrives: each chunk's JSON value, the last
   * being a streaming tool's final value (unless undefined); a single answer is one value. An `error` chunk or a
   * close other than 1000 fails the iteration with a RoomrunnerError.
   */
  callStream<N extends HarnessToolkitName<T>, K extends HarnessToolName<T, N> = DefaultTool<T, N>>(
    toolkit: N,
    args: CallArgs<ToolsOf<T, N>[K]>,
    options?: HarnessCallOptions<K>,
  ): AsyncIterable<StreamValue<ToolsOf<T, N>[K]>>;
}

export function createAgentHarness<T extends Toolkit>(toolkits: readonly T[], options: AgentHarnessOptions = {}): AgentHarness<T> {
  const byName = new Map<string, Toolkit>(toolkits.map((t) => [t.name, t]));
  const limiter = new CallLimiter();
  const logger = options.logger ?? silentLogger();
  const room = options.room ?? 'test-room';

  const run = (
    toolkitName: string,
    tool: string,
    args: Content | AsyncIterable<Content>,
    signal: AbortSignal | undefined,
    stream: ResponseSink,
  ): Promise<CallOutcome> => {
    const toolkit = byName.get(toolkitName);
    if (!toolkit) {
      return Promise.resolve({ content: { type: 'error', text: `toolkit '${toolkitName}' was not found`, code: 1003 }, outcome: 'not_found', durationMs: 0 });
    }
    const streamed = isAsyncIterable(args);
    return runCall({
      toolkit,
      tool,
      arguments: streamed ? { type: 'control', method: 'open' } : (args as Content),
      input: streamed ? (args as AsyncIterable<Content>) : null,
      stream,
      room,
      callerId: options.callerId ?? 'test-caller',
      toolCallId: `test-${Math.random().toString(16).slice(2)}`,
      logger,
      roomApi,
      limiter,
      ...(signal ? { signal } : {}),
    });
  };

  const invoke: AgentHarness<T>['invoke'] = async (toolkitName, tool, args, invokeOptions = {}) => {
    const chunks: Content[] = [];
    const outcome = await run(toolkitName, tool, args, invokeOptions.signal, { open: async () => undefined, chunk: async (c) => void chunks.push(c) });
    return { ...outcome, chunks };
  };

  const stream: AgentHarness<T>['stream'] = (toolkitName, tool, args, streamOptions = {}) => {
    const queue = new ChunkQueue<Content>();
    let opened = false;
    const sink: ResponseSink = {
      open: async () => {
        opened = true;
      },
      chunk: async (c) => queue.push(c),
    };
    void run(toolkitName, tool, args, streamOptions.signal, sink).then(({ content }) => {
      if (content.type === 'control' && content.method === 'close') {
        const status = content.statusCode ?? CONTROL_CLOSE_NORMAL;
        if (status === CONTROL_CLOSE_NORMAL) queue.end();
        else
          queue.fail(
            new RoomrunnerError('RR_ROOM_STREAM_CLOSED', content.message ?? `the tool call stream closed with status ${status}`, {
              data: { statusCode: status },
            }),
          );
        return;
      }
      if (content.type === 'error' && !opened) {
        queue.fail(serverError(content));
        return;
      }
      queue.push(content);
      queue.end();
    });
    return queue;
  };

  const roomApi: RoomApi = {
    async invokeTool(request) {
      let last: Content | undefined;
      for await (const content of stream(request.toolkit, request.tool, request.arguments, request.signal ? { signal: request.signal } : {})) last = content;
      if (last?.type === 'error') throw serverError(last);
      return last ?? { type: 'empty' };
    },
    invokeStream: (request) => stream(request.toolkit, request.tool, request.arguments, request.signal ? { signal: request.signal } : {}),
    async listToolkits() {
      return Object.fromEntries([...byName.values()].map((t) => [t.name, { participantId: 'test-host', title: t.title, tools: Object.keys(t.tools) }]));
    },
  };

  /** The toolkit a typed call names (a toolkit value joins the harness) and the call as the room host gets it. */
  const request = (agent: string | Toolkit, args: CallArgsOf, callOptions: HarnessCallOptions): RoomApiRequest => {
    const name = typeof agent === 'string' ? agent : agent.name;
    if (typeof agent !== 'string' && !byName.has(name)) byName.set(name, agent);
    return {
      toolkit: name,
      tool: callOptions.tool ?? AGENT_TOOL_NAME,
      arguments: jsonArguments(args),
      ...(callOptions.signal ? { signal: callOptions.signal } : {}),
    };
  };

  async function call(agent: string | Toolkit, args: CallArgsOf, callOptions: HarnessCallOptions = {}): Promise<unknown> {
    const content = await roomApi.invokeTool(request(agent, args, callOptions));
    return content.type === 'json' ? content.json : content;
  }

  async function* callStream(agent: string, args: CallArgsOf, callOptions: HarnessCallOptions = {}): AsyncGenerator<unknown> {
    for await (const content of roomApi.invokeStream(request(agent, args, callOptions))) {
      if (content.type === 'error') throw serverError(content);
      yield content.type === 'json' ? content.json : content;
    }
  }

  // The typed signatures are checked at the call sites; the arguments reach runCall, which validates them.
  return { invoke, stream, call: call as AgentHarness<T>['call'], callStream: callStream as AgentHarness<T>['callStream'] };
}

/** The arguments as the untyped implementation takes them. */
type CallArgsOf = Record<string, unknown> | AsyncIterable<Record<string, unknown>>;
