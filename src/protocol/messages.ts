/**
 * Room message types and zod schemas for the headers we send and receive, docs/protocol.md §E.
 *
 * Receivers parse every incoming header with these schemas; a header that does not match becomes a
 * RR_MESSAGE_INVALID error, answered to the sender as an `error` content with code 1002, never a crash.
 * Objects are loose (unknown keys kept): MeshAgent's own models ignore extra fields, and so do we.
 */
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';
import type { JsonObject } from './packing.js';

/** Wire message type names (§E). */
export const MESSAGE_TYPES = {
  RESPONSE: '__response__',
  ROOM_READY: 'room_ready',
  CONNECTED: 'connected',
  SET_ATTRIBUTES: 'set_attributes',
  ROOM_STATUS: 'room.status',
  REGISTER_TOOLKIT: 'room.register_toolkit',
  UNREGISTER_TOOLKIT: 'room.unregister_toolkit',
  LIST_TOOLKITS: 'room.list_toolkits',
  INVOKE_TOOL: 'room.invoke_tool',
  TOOL_CALL_PREFIX: 'room.tool_call.',
  TOOL_CALL_RESPONSE: 'room.tool_call_response',
  TOOL_CALL_RESPONSE_CHUNK: 'room.tool_call_response_chunk',
  TOOL_CALL_REQUEST_CHUNK: 'room.tool_call_request_chunk',
  TOOL_CALL_REQUEST_CHUNK_PREFIX: 'room.tool_call_request_chunk.',
  ROOM_CALL: 'room.call',
  MESSAGING_SEND: 'messaging.send',
} as const;

/** The `type` of a server-to-host tool call for a toolkit (§E.5 step 3). */
export const toolCallType = (toolkit: string): string => `${MESSAGE_TYPES.TOOL_CALL_PREFIX}${toolkit}`;

/** A content header inside a request field (§D.4): only `type` is required here; the content codec checks the rest. */
export const ContentHeaderSchema = z.looseObject({ type: z.string() });

/** `ToolContentSpec` (§D.4). npm accepts only these types in `types` and throws on anything else. */
export const NPM_SPEC_TYPES = ['json', 'text', 'file', 'link', 'empty'] as const;
export const ToolContentSpecSchema = z.looseObject({
  types: z.array(z.string()).min(1),
  stream: z.boolean().default(false),
  schema: z.record(z.string(), z.unknown()).optional(),
});
export type ToolContentSpec = z.infer<typeof ToolContentSpecSchema>;

export const ToolDescriptionSchema = z.looseObject({
  title: z.string().optional(),
  description: z.string().optional(),
  input_spec: ToolContentSpecSchema.nullish(),
  output_spec: ToolContentSpecSchema.nullish(),
  // Legacy tool-level schemas mean {types:["json"], schema} (§D.4).
  input_schema: z.record(z.string(), z.unknown()).nullish(),
  output_schema: z.record(z.string(), z.unknown()).nullish(),
  thumbnail_url: z.string().nullish(),
  defs: z.unknown().optional(),
  strict: z.boolean().nullish(),
});
export type ToolDescription = z.infer<typeof ToolDescriptionSchema>;

/** `room_ready` (§E.1). */
export const RoomReadySchema = z.looseObject({
  room_name: z.string(),
  room_url: z.string().optional(),
  session_id: z.string().optional(),
});

/** `connected` (§E.1). */
export const ConnectedSchema = z.looseObject({
  type: z.string(),
  participantId: z.string(),
  attributes: z.record(z.string(), z.unknown()).default({}),
});

/** `set_attributes` (§E.1): the header is the attributes object itself. */
export const SetAttributesSchema = z.record(z.string(), z.unknown());

/** `room.status` (§E.1). */
export const RoomStatusSchema = z.looseObject({ status: z.string(), message: z.string().nullish() });

/** `room.register_toolkit` (§E.2). `tools` is a map keyed by tool name. */
export const RegisterToolkitSchema = z.looseObject({
  name: z.string().min(1),
  title: z.string().nullish(),
  description: z.string().nullish(),
  public: z.boolean().default(false),
  tools: z.record(z.string(), ToolDescriptionSchema),
  thumbnail_url: z.string().nullish(),
  annotations: z.record(z.string(), z.unknown()).nullish(),
});
export type RegisterToolkit = z.infer<typeof RegisterToolkitSchema>;

/** `room.unregister_toolkit` (§E.2). */
export const UnregisterToolkitSchema = z.looseObject({ id: z.string() });

/** `room.list_toolkits` (§E.3). `timeout` is in seconds. */
export const ListToolkitsSchema = z.looseObject({
  participant_id: z.string().nullish(),
  participant_name: z.string().nullish(),
  timeout: z.number().nullish(),
});

/** `room.invoke_tool` (§E.4). */
export const InvokeToolSchema = z.looseObject({
  toolkit: z.string().min(1),
  tool: z.string().min(1),
  arguments: ContentHeaderSchema,
  participant_id: z.string().nullish(),
  on_behalf_of_id: z.string().nullish(),
  caller_context: z.record(z.string(), z.unknown()).nullish(),
  tool_call_id: z.string().nullish(),
});
export type InvokeTool = z.infer<typeof InvokeToolSchema>;

/** `room.tool_call.<toolkit>`, server to host (§E.5 step 3). */
export const ToolCallSchema = z.looseObject({
  name: z.string().min(1),
  arguments: ContentHeaderSchema,
  caller_id: z.string().nullish(),
  tool_call_id: z.string().nullish(),
  on_behalf_of_id: z.string().nullish(),
  caller_context: z.record(z.string(), z.unknown()).nullish(),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

/** `room.tool_call_response_chunk` and `room.tool_call_request_chunk` (§E.5 streaming). */
export const ToolCallChunkSchema = z.looseObject({
  tool_call_id: z.string(),
  chunk: ContentHeaderSchema,
  toolkit: z.string().optional(),
  tool: z.string().optional(),
});

/** `messaging.send`, server to client (§E.6). */
export const MessagingSendSchema = z.looseObject({
  from_participant_id: z.string().nullish(),
  type: z.string(),
  message: z.unknown().optional(),
});

/** `room.call` (§A.8). */
export const RoomCallSchema = z.looseObject({
  name: z.string().min(1),
  url: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).nullish(),
  api: z.record(z.string(), z.unknown()).nullish(),
});

/** Response of `room.register_toolkit`: `json` content `{id}` (npm reads `response.json.id`). */
export const RegisterToolkitResponseSchema = z.looseObject({ id: z.string() });

/** Response of `room.list_toolkits`: `json` content `{tools: {<name>: {...}}}` (§E.3). */
export const ListedToolkitSchema = z.looseObject({
  name: z.string(),
  title: z.string().nullish(),
  description: z.string().nullish(),
  thumbnail_url: z.string().nullish(),
  participant_id: z.string().nullish(),
  annotations: z.record(z.string(), z.unknown()).nullish(),
  tools: z.record(z.string(), ToolDescriptionSchema),
});
export const ListToolkitsResponseSchema = z.looseObject({ tools: z.record(z.string(), ListedToolkitSchema) });

/**
 * Parse a header with a schema. On failure throws RR_MESSAGE_INVALID naming the message type and each issue as
 * `path: message`, so the sender reads what was wrong.
 */
export function parseHeader<S extends z.ZodType>(schema: S, header: JsonObject, type: string): z.infer<S> {
  const result = schema.safeParse(header);
  if (result.success) return result.data;
  throw new RoomrunnerError('RR_MESSAGE_INVALID', `invalid ${type}: ${describeIssues(result.error)}`, {
    data: { type, issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
  });
}

/** zod issues as `path: message` joined by `; ` (the MCP / Mastra style, docs/references.md §typed-agents). */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.map(String).join('.')}: ${issue.message}`)).join('; ');
}
