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
import { AGENT_TOOL_NAME, type Toolkit } from './define-agent.js';
import { CallLimiter, jsonArguments, runCall, type CallOutcome, type ResponseSink, type RoomApi } from './run-call.js';

export interface AgentHarnessOptions {
  room?: string;
  callerId?: string;
  logger?: Logger;
}

export interface AgentHarness {
  /**
   * Call `toolkit`'s `tool` and return the whole outcome (content + outcome label). `chunks` holds what a
   * streaming tool sent before `content`, which is then the stream's end (`control close`, or an `error` that a
   * room caller gets as a last chunk before a normal close). `args` may be an async iterable: streamed input.
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
   * Call an agent's `ask` tool and return its JSON output (a streaming agent's final value), or throw a
   * RoomrunnerError whose `contentCode` is the code a room caller would get (1002 bad input, 1008 failure,
   * 1009 timeout, ...). An async iterable of objects is sent as streamed input.
   */
  call(
    agent: string | Toolkit,
    args: Record<string, unknown> | AsyncIterable<Record<string, unknown>>,
    options?: { tool?: string; signal?: AbortSignal },
  ): Promise<unknown>;
}

export function createAgentHarness(toolkits: readonly Toolkit[], options: AgentHarnessOptions = {}): AgentHarness {
  const byName = new Map(toolkits.map((t) => [t.name, t]));
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

  const invoke: AgentHarness['invoke'] = async (toolkitName, tool, args, invokeOptions = {}) => {
    const chunks: Content[] = [];
    const outcome = await run(toolkitName, tool, args, invokeOptions.signal, { open: async () => undefined, chunk: async (c) => void chunks.push(c) });
    return { ...outcome, chunks };
  };

  const stream: AgentHarness['stream'] = (toolkitName, tool, args, streamOptions = {}) => {
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

  return {
    invoke,
    stream,
    async call(agent, args, callOptions = {}) {
      const name = typeof agent === 'string' ? agent : agent.name;
      if (typeof agent !== 'string' && !byName.has(name)) byName.set(name, agent);
      const content = await roomApi.invokeTool({
        toolkit: name,
        tool: callOptions.tool ?? AGENT_TOOL_NAME,
        arguments: jsonArguments(args),
        ...(callOptions.signal ? { signal: callOptions.signal } : {}),
      });
      return content.type === 'json' ? content.json : content;
    },
  };
}
