/**
 * The typed room API over a {@link RoomConnection} (meshagent-protocol.md §E): toolkit registration and
 * listing, tool invocation, serving `room.tool_call.<toolkit>`, attributes, the `messaging` toolkit and
 * `room.call`. Every method is one request; reconnects, timeouts and aborts are the connection's job.
 */
import type { z } from 'zod';
import { isRoomrunnerError, RoomrunnerError } from '../errors.js';
import { CONTENT_TYPES, contentFromParts, contentToParts, errorContent, json, packContent, type Content } from '../protocol/content.js';
import {
  ListToolkitsResponseSchema,
  MESSAGE_TYPES,
  parseHeader,
  RegisterToolkitResponseSchema,
  RegisterToolkitSchema,
  ToolCallSchema,
  toolCallType,
} from '../protocol/messages.js';
import { unpackMessage, type JsonObject } from '../protocol/packing.js';
import type { ConnectionRequestOptions, RoomConnection } from './connection.js';
import type { Session } from './session.js';

/** A toolkit registration as sent in `room.register_toolkit` (§E.2); `public` defaults to false. */
export type ToolkitRegistration = z.input<typeof RegisterToolkitSchema>;
/** The parsed answer of `room.list_toolkits` (§E.3). */
export type ListToolkitsResult = z.infer<typeof ListToolkitsResponseSchema>;

/** The built-in toolkit messaging goes through (§E.6). */
export const MESSAGING_TOOLKIT = 'messaging';

export interface ListToolkitsFilter {
  participantId?: string;
  participantName?: string;
  /** Seconds the room may wait for the participant's toolkits to appear (§E.3). */
  timeout?: number;
}

export interface InvokeToolParams extends ConnectionRequestOptions {
  toolkit: string;
  tool: string;
  /**
   * A Content, or a plain value sent as `json` content; undefined sends `empty` (§E.4). An object whose `type`
   * is a content type (`json`, `text`, …) is taken as a Content: wrap such arguments in `json()` yourself.
   */
  arguments?: Content | JsonObject;
  /** Route to this host's registration (§E.5). */
  participantId?: string;
  onBehalfOfId?: string;
  callerContext?: JsonObject;
  toolCallId?: string;
}

/** One call of a served tool (`room.tool_call.<toolkit>`, §E.5 step 3). */
export interface ToolCall {
  readonly toolkit: string;
  readonly name: string;
  readonly arguments: Content;
  readonly callerId: string | null;
  /** From the room, else the message id as a string (Python's fallback). */
  readonly toolCallId: string;
  readonly onBehalfOfId: string | null;
  readonly callerContext: JsonObject | null;
  /** The room's id K; the answer echoes it. */
  readonly messageId: number;
  /** Aborted when the socket that carried the call closes: the answer could not be delivered any more. */
  readonly signal: AbortSignal;
}

export type ToolCallHandler = (call: ToolCall) => Content | Promise<Content>;

export interface MessageParams extends ConnectionRequestOptions {
  type: string;
  /** Any JSON value; sent as `message_json` (a JSON string, §E.6). */
  message: unknown;
  attachment?: Uint8Array;
}

export interface RoomCallParams {
  /** The identity the callee will use. */
  name: string;
  /** The callee's webhook URL. */
  url: string;
  arguments?: JsonObject | null;
  /** An ApiScope for the callee's token (§B). */
  api?: JsonObject | null;
}

export class RoomClient {
  readonly #connection: RoomConnection;
  readonly #callSignals = new WeakMap<Session, AbortSignal>();

  constructor(connection: RoomConnection) {
    this.#connection = connection;
  }

  get connection(): RoomConnection {
    return this.#connection;
  }

  /** `room.register_toolkit` (§E.2). Resolves with the registration id from `json {id}`. */
  async registerToolkit(toolkit: ToolkitRegistration, options: ConnectionRequestOptions = {}): Promise<string> {
    const header = parseHeader(RegisterToolkitSchema, toolkit as JsonObject, MESSAGE_TYPES.REGISTER_TOOLKIT);
    const content = await this.#connection.request(MESSAGE_TYPES.REGISTER_TOOLKIT, header, undefined, options);
    return expectJson(content, RegisterToolkitResponseSchema, MESSAGE_TYPES.REGISTER_TOOLKIT).id;
  }

  /**
   * `room.unregister_toolkit` (§E.2). Skipped when the connection is closed or reconnecting: the room drops a
   * participant's registrations with its socket, so the id is already gone.
   */
  async unregisterToolkit(id: string, options: ConnectionRequestOptions = {}): Promise<void> {
    const state = this.#connection.state;
    if (state === 'closed' || state === 'reconnecting') return;
    await this.#connection.request(MESSAGE_TYPES.UNREGISTER_TOOLKIT, { id }, undefined, options);
  }

  /** `room.list_toolkits` (§E.3), parsed. */
  async listToolkits(filter: ListToolkitsFilter = {}, options: ConnectionRequestOptions = {}): Promise<ListToolkitsResult> {
    const header: JsonObject = {};
    if (filter.participantId !== undefined) header['participant_id'] = filter.participantId;
    if (filter.participantName !== undefined) header['participant_name'] = filter.participantName;
    if (filter.timeout !== undefined) header['timeout'] = filter.timeout;
    const content = await this.#connection.request(MESSAGE_TYPES.LIST_TOOLKITS, header, undefined, options);
    return expectJson(content, ListToolkitsResponseSchema, MESSAGE_TYPES.LIST_TOOLKITS);
  }

  /**
   * `room.invoke_tool` (§E.4). Resolves with the tool's result content; an `error` result rejects with
   * RR_ROOM_SERVER_ERROR whose `contentCode` is the room's code.
   */
  async invokeTool(params: InvokeToolParams): Promise<Content> {
    const { header: args, payload } = contentToParts(toContent(params.arguments));
    const header: JsonObject = { toolkit: params.toolkit, tool: params.tool, arguments: args };
    if (params.participantId !== undefined) header['participant_id'] = params.participantId;
    if (params.onBehalfOfId !== undefined) header['on_behalf_of_id'] = params.onBehalfOfId;
    if (params.callerContext !== undefined) header['caller_context'] = params.callerContext;
    if (params.toolCallId !== undefined) header['tool_call_id'] = params.toolCallId;
    return this.#connection.request(MESSAGE_TYPES.INVOKE_TOOL, header, payload.length > 0 ? payload : undefined, requestOptions(params));
  }

  /**
   * Answer `room.tool_call.<toolkit>` on every socket (registrations of the handler survive reconnects;
   * registering the toolkit with the room is {@link registerToolkit}'s job, usually in `onReady`). The answer
   * is `room.tool_call_response` echoing the room's id (§E.5 step 4). A thrown error, a malformed call or a
   * result that is not a Content becomes an `error` content with the error's message (a RoomrunnerError's
   * `contentCode` as its code); nothing a handler does can take the connection down. Returns an unserve function.
   */
  serveToolkit(toolkit: string, handler: ToolCallHandler): () => void {
    return this.#connection.handle(toolCallType(toolkit), async (message, session) => {
      const result = await this.#runTool(toolkit, handler, message.id, message.data, session);
      if (!session.isOpen) return;
      await session.send(MESSAGE_TYPES.TOOL_CALL_RESPONSE, packContent(result), message.id);
    });
  }

  /** `set_attributes` (one-way, §E.1); kept locally and re-sent after a reconnect. */
  setAttributes(attributes: JsonObject): Promise<void> {
    return this.#connection.setAttributes(attributes);
  }

  /** The `messaging` toolkit's `enable` (§E.6): the room then pushes `messaging.*` to this participant. */
  async enableMessaging(options: ConnectionRequestOptions = {}): Promise<void> {
    await this.invokeTool({ toolkit: MESSAGING_TOOLKIT, tool: 'enable', arguments: json({}), ...requestOptions(options) });
  }

  async disableMessaging(options: ConnectionRequestOptions = {}): Promise<void> {
    await this.invokeTool({ toolkit: MESSAGING_TOOLKIT, tool: 'disable', arguments: json({}), ...requestOptions(options) });
  }

  /** Send a message to one participant. An unknown one fails with "the participant was not found" (§E.6). */
  async sendMessage(params: MessageParams & { to: string }): Promise<void> {
    const input = { ...messageInput(params), to_participant_id: params.to };
    await this.invokeTool({ toolkit: MESSAGING_TOOLKIT, tool: 'send', arguments: json(input), ...requestOptions(params) });
  }

  async broadcastMessage(params: MessageParams): Promise<void> {
    await this.invokeTool({ toolkit: MESSAGING_TOOLKIT, tool: 'broadcast', arguments: json(messageInput(params)), ...requestOptions(params) });
  }

  /** `room.call` (§A.8): ask the room to hand a participant `name` to the webhook at `url`. */
  async roomCall(params: RoomCallParams, options: ConnectionRequestOptions = {}): Promise<void> {
    const header: JsonObject = { name: params.name, url: params.url, arguments: params.arguments ?? null };
    if (params.api != null) header['api'] = params.api;
    await this.#connection.request(MESSAGE_TYPES.ROOM_CALL, header, undefined, options);
  }

  async #runTool(toolkit: string, handler: ToolCallHandler, id: number, data: Uint8Array, session: Session): Promise<Content> {
    try {
      const { header, payload } = unpackMessage(data);
      const call = parseHeader(ToolCallSchema, header, toolCallType(toolkit));
      const result = await handler({
        toolkit,
        name: call.name,
        arguments: contentFromParts(call.arguments, payload),
        callerId: call.caller_id ?? null,
        toolCallId: call.tool_call_id ?? String(id),
        onBehalfOfId: call.on_behalf_of_id ?? null,
        callerContext: (call.caller_context as JsonObject | null | undefined) ?? null,
        messageId: id,
        signal: this.#signalFor(session),
      });
      if (!isContent(result)) {
        throw new RoomrunnerError('RR_CONTENT_INVALID', `tool '${call.name}' of toolkit '${toolkit}' returned no content`);
      }
      // Encode here so a content with a bad field fails into an error answer, not a broken frame.
      contentToParts(result);
      return result;
    } catch (error) {
      if (isRoomrunnerError(error)) return errorContent(error.message, error.contentCode);
      return errorContent(error instanceof Error ? error.message : String(error));
    }
  }

  #signalFor(session: Session): AbortSignal {
    let signal = this.#callSignals.get(session);
    if (!signal) {
      const controller = new AbortController();
      void session.closed.then((info) => controller.abort(new RoomrunnerError('RR_ROOM_CLOSED', `room connection closed (${info.code})`)));
      signal = controller.signal;
      this.#callSignals.set(session, signal);
    }
    return signal;
  }
}

/** A Content value: an object whose `type` is one of the content types (§D.4). */
export function isContent(value: unknown): value is Content {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { type?: unknown }).type === 'string' &&
    (CONTENT_TYPES as readonly string[]).includes((value as { type: string }).type)
  );
}

function toContent(value: Content | JsonObject | undefined): Content {
  if (value === undefined) return { type: 'empty' };
  return isContent(value) ? value : json(value);
}

function expectJson<S extends z.ZodType>(content: Content, schema: S, type: string): z.infer<S> {
  if (content.type !== 'json' || content.json === null || typeof content.json !== 'object' || Array.isArray(content.json)) {
    throw new RoomrunnerError('RR_ROOM_UNEXPECTED_RESPONSE', `${type} answered with ${content.type} content, expected a json object`, {
      data: { type, contentType: content.type },
    });
  }
  const result = schema.safeParse(content.json);
  if (!result.success) {
    throw new RoomrunnerError('RR_ROOM_UNEXPECTED_RESPONSE', `${type} answered with an unexpected json shape`, {
      cause: result.error,
      data: { type },
    });
  }
  return result.data;
}

function messageInput(params: MessageParams): JsonObject {
  const input: JsonObject = { type: params.type, message_json: JSON.stringify(params.message ?? null) };
  if (params.attachment !== undefined && params.attachment.length > 0) {
    input['attachment_base64'] = Buffer.from(params.attachment.buffer, params.attachment.byteOffset, params.attachment.byteLength).toString('base64');
  }
  return input;
}

function requestOptions(options: ConnectionRequestOptions): ConnectionRequestOptions {
  return {
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}
