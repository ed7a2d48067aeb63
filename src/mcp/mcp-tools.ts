/**
 * The hosted agents as MCP tools (docs/protocol.md §E.5 for the room side of a call). One MCP tool per agent
 * tool, named by {@link mcpToolName}; its `inputSchema` and `outputSchema` are the JSON Schemas the tool
 * registers in rooms (built from its zod schemas), and every call runs through {@link runCall}, so the zod
 * validation, the deadline, the concurrency limit and the error texts are those a room caller gets.
 *
 * The MCP server is the SDK's low-level `Server` rather than `McpServer`: `McpServer` validates arguments
 * against the zod schema itself and answers with its own message, so a caller would see other words than a
 * room caller for the same mistake. Here runCall is the one validator.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Content } from '../protocol/content.js';
import { AGENT_TOOL_NAME, type Tool, type Toolkit } from '../agents/define-agent.js';
import { CallLimiter, runCall, type RoomApi } from '../agents/run-call.js';

/** What `ctx.room` says in a call that came over MCP: there is no room. */
export const MCP_ROOM = 'mcp';

/** One agent tool as MCP offers it. */
export interface McpEntry {
  readonly name: string;
  readonly toolkit: Toolkit;
  readonly tool: string;
  readonly definition: Tool;
}

/**
 * The MCP name of a tool: `<toolkit>` for an agent (a toolkit whose only tool is `ask`), else `<toolkit>.<tool>`.
 * Toolkit names already carry dots (`samples.adder`), which MCP tool names allow.
 */
export function mcpToolName(toolkit: Toolkit, tool: string): string {
  const names = Object.keys(toolkit.tools);
  return names.length === 1 && names[0] === AGENT_TOOL_NAME && tool === AGENT_TOOL_NAME ? toolkit.name : `${toolkit.name}.${tool}`;
}

/**
 * Every tool of `toolkits` that MCP can call, by MCP name. Tools that read streamed input are left out: an MCP
 * call carries one arguments object.
 * @throws RoomrunnerError `RR_AGENT_DUPLICATE_NAME` when two tools get the same MCP name.
 */
export function mcpEntries(toolkits: readonly Toolkit[]): ReadonlyMap<string, McpEntry> {
  const entries = new Map<string, McpEntry>();
  for (const toolkit of toolkits) {
    for (const [tool, definition] of Object.entries(toolkit.tools)) {
      if (definition.streamInput) continue;
      const name = mcpToolName(toolkit, tool);
      const clash = entries.get(name);
      if (clash) {
        throw new RoomrunnerError('RR_AGENT_DUPLICATE_NAME', `MCP tool name "${name}" is taken by both ${clash.toolkit.name}/${clash.tool} and ${toolkit.name}/${tool}: rename one toolkit`);
      }
      entries.set(name, { name, toolkit, tool, definition });
    }
  }
  return entries;
}

/** The MCP listing of one entry: the registered JSON Schemas; an output schema only where MCP allows one. */
export function mcpToolListing(entry: McpEntry): McpTool {
  const { definition } = entry;
  return {
    name: entry.name,
    ...(definition.title ? { title: definition.title } : {}),
    ...(definition.description || entry.toolkit.description ? { description: definition.description || entry.toolkit.description } : {}),
    inputSchema: definition.inputJsonSchema as McpTool['inputSchema'],
    ...(hasStructuredOutput(definition) ? { outputSchema: definition.outputJsonSchema as NonNullable<McpTool['outputSchema']> } : {}),
  };
}

/**
 * MCP's structured content is a JSON object: a tool whose output is one gets `outputSchema` and
 * `structuredContent`. A streaming tool's answer over MCP is its final value alone, so it gets neither.
 */
function hasStructuredOutput(definition: Tool): boolean {
  return definition.chunk === undefined && definition.outputJsonSchema['type'] === 'object';
}

/** The room a call over MCP does not have: `ctx.call`, `ctx.invoke` and `ctx.listToolkits` fail with this. */
const noRoom: RoomApi = {
  invokeTool: () => Promise.reject(noRoomError()),
  invokeStream: () => ({
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(noRoomError()) }),
  }),
  listToolkits: () => Promise.reject(noRoomError()),
};

function noRoomError(): RoomrunnerError {
  return new RoomrunnerError('RR_MCP_NO_ROOM', 'this call came over MCP, outside any room: ctx.call, ctx.invoke and ctx.listToolkits reach no other toolkit');
}

export interface McpToolServerOptions {
  readonly entries: ReadonlyMap<string, McpEntry>;
  /** Shared by every MCP call, so a tool's concurrency limit holds across requests (MCP is one "room"). */
  readonly limiter: CallLimiter;
  readonly logger: Logger;
  readonly version: string;
  readonly name: string;
}

/** A new MCP server that lists and calls the entries (one per HTTP request in stateless mode). */
export function createMcpToolServer(options: McpToolServerOptions): Server {
  const server = new Server({ name: options.name, version: options.version }, { capabilities: { tools: {} } });
  const listing = [...options.entries.values()].map(mcpToolListing);
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listing }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const entry = options.entries.get(request.params.name);
    if (!entry) {
      throw new McpError(ErrorCode.InvalidParams, `no tool "${request.params.name}" (tools: ${[...options.entries.keys()].join(', ')})`);
    }
    const { content } = await runCall({
      toolkit: entry.toolkit,
      tool: entry.tool,
      arguments: { type: 'json', json: request.params.arguments ?? {} },
      room: MCP_ROOM,
      callerId: null,
      toolCallId: typeof extra.requestId === 'string' ? extra.requestId : `mcp-${extra.requestId}`,
      logger: options.logger,
      roomApi: noRoom,
      limiter: options.limiter,
      signal: extra.signal,
    });
    return toResult(content, hasStructuredOutput(entry.definition));
  });
  return server;
}

/** A runCall answer as an MCP result: `error` content becomes `isError` with the same text a room caller reads. */
export function toResult(content: Content, structured: boolean): CallToolResult {
  if (content.type === 'error') return { isError: true, content: [{ type: 'text', text: content.text }] };
  if (content.type === 'json') {
    const text = JSON.stringify(content.json);
    // Clients without structured-content support read the same value as text (MCP's advice for structured results).
    return structured ? { content: [{ type: 'text', text }], structuredContent: content.json as Record<string, unknown> } : { content: [{ type: 'text', text }] };
  }
  if (content.type === 'text') return { content: [{ type: 'text', text: content.text }] };
  if (content.type === 'empty') return { content: [] };
  return { isError: true, content: [{ type: 'text', text: `the tool answered with a ${content.type} content, which MCP results do not carry` }] };
}
