/**
 * The MCP server over the hosted agents (listing: ./mcp-entries.ts). Every call runs through {@link runCall}
 * (docs/protocol.md §E.5 for the room side of a call), so the zod validation, the deadline, the concurrency
 * limit and the error texts are those a room caller gets.
 *
 * The server is the SDK's low-level `Server` rather than `McpServer`: `McpServer` validates arguments against
 * the zod schema itself and answers with its own message, so a caller would see other words than a room caller
 * for the same mistake. Here runCall is the one validator.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Content } from '../protocol/content.js';
import { type CallLimiter, runCall, type RoomApi } from '../agents/run-call.js';
import { hasStructuredOutput, mcpToolListing, type McpEntry } from './mcp-entries.js';

/** What `ctx.room` says in a call that came over MCP: there is no room. */
export const MCP_ROOM = 'mcp';

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
    return structured
      ? { content: [{ type: 'text', text }], structuredContent: content.json as Record<string, unknown> }
      : { content: [{ type: 'text', text }] };
  }
  if (content.type === 'text') return { content: [{ type: 'text', text: content.text }] };
  if (content.type === 'empty') return { content: [] };
  return { isError: true, content: [{ type: 'text', text: `the tool answered with a ${content.type} content, which MCP results do not carry` }] };
}
