/**
 * Run agents without any socket, for the people writing them. Every call goes through the same runner the
 * room host uses (validation, deadline, concurrency, error mapping), and `ctx.call` between agents in the
 * harness is routed through it too, so an agent that calls another can be tested with the real one.
 */
import { RoomrunnerError } from '../errors.js';
import type { Content } from '../protocol/content.js';
import { silentLogger, type Logger } from '../logger.js';
import { AGENT_TOOL_NAME, type Toolkit } from './define-agent.js';
import { CallLimiter, runCall, type CallOutcome, type RoomApi } from './run-call.js';

export interface AgentHarnessOptions {
  room?: string;
  callerId?: string;
  logger?: Logger;
}

export interface AgentHarness {
  /** Call `toolkit`'s `tool` and return the whole outcome (content + outcome label). */
  invoke(toolkit: string, tool: string, args: Content, options?: { signal?: AbortSignal }): Promise<CallOutcome>;
  /**
   * Call an agent's `ask` tool and return its JSON output, or throw a RoomrunnerError whose `contentCode` is
   * the code a room caller would get (1002 bad input, 1008 failure, 1009 timeout, ...).
   */
  call(agent: string | Toolkit, args: Record<string, unknown>, options?: { tool?: string; signal?: AbortSignal }): Promise<unknown>;
}

export function createAgentHarness(toolkits: readonly Toolkit[], options: AgentHarnessOptions = {}): AgentHarness {
  const byName = new Map(toolkits.map((t) => [t.name, t]));
  const limiter = new CallLimiter();
  const logger = options.logger ?? silentLogger();
  const room = options.room ?? 'test-room';

  const invoke: AgentHarness['invoke'] = async (toolkitName, tool, args, invokeOptions = {}) => {
    const toolkit = byName.get(toolkitName);
    if (!toolkit) {
      return { content: { type: 'error', text: `toolkit '${toolkitName}' was not found`, code: 1003 }, outcome: 'not_found', durationMs: 0 };
    }
    return runCall({
      toolkit,
      tool,
      arguments: args,
      room,
      callerId: options.callerId ?? 'test-caller',
      toolCallId: `test-${Math.random().toString(16).slice(2)}`,
      logger,
      roomApi,
      limiter,
      ...(invokeOptions.signal ? { signal: invokeOptions.signal } : {}),
    });
  };

  const roomApi: RoomApi = {
    async invokeTool(request) {
      const { content } = await invoke(request.toolkit, request.tool, request.arguments, request.signal ? { signal: request.signal } : {});
      if (content.type === 'error') {
        throw new RoomrunnerError('RR_ROOM_SERVER_ERROR', content.text, { data: content.code === undefined ? {} : { code: content.code } });
      }
      return content;
    },
    async listToolkits() {
      return Object.fromEntries([...byName.values()].map((t) => [t.name, { participantId: 'test-host', title: t.title, tools: Object.keys(t.tools) }]));
    },
  };

  return {
    invoke,
    async call(agent, args, callOptions = {}) {
      const name = typeof agent === 'string' ? agent : agent.name;
      if (typeof agent !== 'string' && !byName.has(name)) byName.set(name, agent);
      const { content } = await invoke(name, callOptions.tool ?? AGENT_TOOL_NAME, { type: 'json', json: args }, callOptions.signal ? { signal: callOptions.signal } : {});
      if (content.type === 'error') {
        throw new RoomrunnerError('RR_ROOM_SERVER_ERROR', content.text, { data: content.code === undefined ? {} : { code: content.code } });
      }
      return content.type === 'json' ? content.json : content;
    },
  };
}

