/**
 * Which agent tools MCP offers and how they are listed: one MCP tool per agent tool, named by
 * {@link mcpToolName}, with the JSON Schemas the tool registers in rooms (built from its zod schemas) as its
 * `inputSchema` and `outputSchema`. Only types come from the MCP SDK here, so building the routes loads none
 * of it (./mcp-tools.ts, which does, is imported on the first MCP request).
 */
import type { Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import { RoomrunnerError } from '../errors.js';
import { AGENT_TOOL_NAME, type Tool, type Toolkit } from '../agents/define-agent.js';

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
        throw new RoomrunnerError(
          'RR_AGENT_DUPLICATE_NAME',
          `MCP tool name "${name}" is taken by both ${clash.toolkit.name}/${clash.tool} and ${toolkit.name}/${tool}: rename one toolkit`,
        );
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
export function hasStructuredOutput(definition: Tool): boolean {
  return definition.chunk === undefined && definition.outputJsonSchema['type'] === 'object';
}
