/**
 * The typed room API over a {@link RoomConnection} (docs/protocol.md §E): toolkit registration and
 * listing, tool invocation, serving `room.tool_call.<toolkit>`, attributes, the `messaging` toolkit and
 * `room.call`. Every method is one request; reconnects, timeouts and aborts are the connection's job.
 */
import type { z } from 'zod';
import { isRoomrunnerError, RoomrunnerError } from '../errors.js';
import { CONTENT_TYPES, CONTROL_CLOSE_NORMAL, contentFromParts, contentToParts, errorContent, json, packContent, type Content } from '../protocol/content.js';
import {
  ListToolkitsResponseSchema,
  MESSAGE_TYPES,
  parseHeader,
  RegisterToolkitResponseSchema,
  RegisterToolkitSchema,
  ToolCallChunkSchema,
  ToolCallSchema,
  toolCallType,
} from '../protocol/messages.js';
import { packMessage, unpackMessage, type JsonObject } from '../protocol/packing.js';
import { ChunkQueue, isAsyncIterable } from './chunk-queue.js';
import type { ConnectionRequestOptions, RoomConnection } from './connection.js';
import { serverError, type Session } from './session.js';
import { errorMessage } from '../util/error-message.js';

/** A toolkit registration as sent in `room.register_toolkit` (§E.2); `public` defaults to false. */
export type ToolkitRegistration = z.input<typeof RegisterToolkitSchema>;
/** The parsed answer of `room.list_toolkits` (§E.3). */
export type ListToolkitsResult = z.infer<typeof ListToolkitsResponseSchema>;

/** The built-in toolkit messaging goes through (§E.6). */
export const MESSAGING_TOOLKIT = 'messaging';

/** Calls whose request chunks arrived before the call itself, kept per toolkit until the call comes (§E.5). */
const EARLY_CALLS_KEPT = 256;
/** Request chunks kept for one such call; more are dropped (the caller is misbehaving). */
const EARLY_CHUNKS_KEPT = 1024;

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
   * An AsyncIterable of contents is streamed input: the call opens with `control open` and each content goes as
   * a `room.tool_call_request_chunk`, then `control close` (docs/protocol.md §E.5).
   */
  arguments?: Content | JsonObject | AsyncIterable<Content>;
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
  /**
   * The request chunks when the caller streams its input (`arguments` is then `control open`), else null.
   * Open and close controls are framing and never appear; the socket closing fails the iteration.
   */
  readonly input: AsyncIterable<Content> | null;
  /**
   * Answer with a stream (`control open`); then send chunks with {@link ToolCall.sendChunk}. The content the
   * handler returns afterwards is the last chunk: a `control close` (1000 is added after anything else).
   */
  openStream(): Promise<void>;
  /** Send one response chunk of an opened stream. Never rejects: a chunk for a closed socket is dropped. */
  sendChunk(chunk: Content): Promise<void>;
}

export type ToolCallHandler = (call: ToolCall) => Content | Promise<Content>;

/**
 * The answer of one tool call as it arrives: one content for a single answer, or each chunk of a streamed one
 * (`control` framing left out, `error` chunks included, as they do not end a stream). A stream that closes with
 * another status than 1000 fails the iteration with RR_ROOM_STREAM_CLOSED; an `error` answer with
 * RR_ROOM_SERVER_ERROR.
 */
export interface ToolCallStream extends AsyncIterable<Content> {
  readonly toolCallId: string;
}

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
  /** Response chunks of this client's calls in flight, by tool_call_id. */
  readonly #responseStreams = new Map<string, ChunkQueue<Content>>();
  #listeningForChunks = false;
  /** Request chunks of calls this client hosts, by `${toolkit} ${tool_call_id}`. */
  readonly #requestStreams = new Map<string, ChunkQueue<Content>>();
  /** Request chunks that came before their call, by the same key (the SDK hosts buffer them too). */
  readonly #earlyChunks = new Map<string, Content[]>();

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
   * `room.invoke_tool` (§E.4). Resolves with the tool's result content; for a streamed answer, with its last
   * chunk before the close (the final value). An `error` result rejects with RR_ROOM_SERVER_ERROR whose
   * `contentCode` is the room's code (a result without a code keeps `data.code` unset); a stream that closes with
   * a status other than 1000 rejects with RR_ROOM_STREAM_CLOSED.
   */
  async invokeTool(params: InvokeToolParams): Promise<Content> {
    const call = this.#startCall(params);
    const first = await call.response;
    if (!isStreamOpen(first)) return first;
    let last: Content | undefined;
    for await (const chunk of call.chunks) last = chunk;
    if (last?.type === 'error') throw serverError(last);
    return last ?? { type: 'empty' };
  }

  /**
   * `room.invoke_tool` (§E.4, §E.5 streaming), read as it arrives: see {@link ToolCallStream}. The call starts at
   * once; `tool_call_id` is the given one or a fresh `<ms>-<hex>` like the SDKs send.
   */
  invoke(params: InvokeToolParams): ToolCallStream {
    const call = this.#startCall(params);
    // Read by the iterator; a caller that never iterates must not see an unhandled rejection.
    call.response.catch(() => undefined);
    return {
      toolCallId: call.toolCallId,
      async *[Symbol.asyncIterator]() {
        const first = await call.response;
        if (!isStreamOpen(first)) {
          yield first;
          return;
        }
        yield* call.chunks;
      },
    };
  }

  #startCall(params: InvokeToolParams): { toolCallId: string; response: Promise<Content>; chunks: ChunkQueue<Content> } {
    this.#listenForChunks();
    const toolCallId = params.toolCallId ?? newToolCallId();
    const streamed = isAsyncIterable(params.arguments) ? (params.arguments as AsyncIterable<Content>) : undefined;
    const { header: args, payload } = streamed
      ? { header: { type: 'control', method: 'open' }, payload: new Uint8Array(0) }
      : contentToParts(toContent(params.arguments as Content | JsonObject | undefined));
    const header: JsonObject = { toolkit: params.toolkit, tool: params.tool, arguments: args, tool_call_id: toolCallId };
    if (params.participantId !== undefined) header['participant_id'] = params.participantId;
    if (params.onBehalfOfId !== undefined) header['on_behalf_of_id'] = params.onBehalfOfId;
    if (params.callerContext !== undefined) header['caller_context'] = params.callerContext;
    const { signal } = params;
    const onAbort = (): void => chunks.fail(new RoomrunnerError('RR_REQUEST_ABORTED', `${MESSAGE_TYPES.INVOKE_TOOL} was aborted`, { cause: signal?.reason }));
    const chunks = new ChunkQueue<Content>(() => {
      if (this.#responseStreams.get(toolCallId) === chunks) this.#responseStreams.delete(toolCallId);
      signal?.removeEventListener('abort', onAbort);
    });
    this.#responseStreams.set(toolCallId, chunks);
    const response = this.#connection.request(MESSAGE_TYPES.INVOKE_TOOL, header, payload.length > 0 ? payload : undefined, requestOptions(params)).then(
      (content) => {
        if (!isStreamOpen(content)) chunks.end();
        else if (signal?.aborted) onAbort();
        // The request's own timeout and signal covered the wait for `open`; the signal goes on covering the stream.
        else signal?.addEventListener('abort', onAbort, { once: true });
        return content;
      },
      (error: unknown) => {
        chunks.fail(error);
        throw error;
      },
    );
    if (streamed) void this.#sendRequestChunks(toolCallId, streamed, chunks, params);
    return { toolCallId, response, chunks };
  }

  /** Send streamed input as `room.tool_call_request_chunk` requests, in order, then `control close` (§E.5). */
  async #sendRequestChunks(toolCallId: string, input: AsyncIterable<Content>, chunks: ChunkQueue<Content>, options: ConnectionRequestOptions): Promise<void> {
    // Let the invoke go out first: both wait for the same usable socket, in call order.
    await Promise.resolve();
    const send = async (chunk: Content): Promise<void> => {
      const { header, payload } = contentToParts(chunk);
      await this.#connection.request(
        MESSAGE_TYPES.TOOL_CALL_REQUEST_CHUNK,
        { tool_call_id: toolCallId, chunk: header },
        payload.length > 0 ? payload : undefined,
        requestOptions(options),
      );
    };
    try {
      try {
        for await (const chunk of input) {
          if (chunks.ended) break;
          await send(chunk);
        }
      } finally {
        if (!chunks.ended) await send({ type: 'control', method: 'close' });
      }
    } catch (error) {
      // The host stopped reading (it answered already) or the input failed: the call's answer says the rest.
      if (!chunks.ended) chunks.fail(error);
    }
  }

  #listenForChunks(): void {
    if (this.#listeningForChunks) return;
    this.#listeningForChunks = true;
    this.#connection.handle(MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK, (message) => this.#onResponseChunk(message.data));
    const failAll = (): void => {
      const error = new RoomrunnerError('RR_ROOM_CLOSED', 'room connection closed before the streamed answer ended');
      for (const stream of [...this.#responseStreams.values()]) stream.fail(error);
      this.#responseStreams.clear();
    };
    this.#connection.on('reconnecting', failAll);
    this.#connection.on('closed', failAll);
  }

  #onResponseChunk(data: Uint8Array): void {
    const { header, payload } = unpackMessage(data);
    const toolCallId = header['tool_call_id'];
    const stream = typeof toolCallId === 'string' ? this.#responseStreams.get(toolCallId) : undefined;
    if (!stream) return;
    const raw = header['chunk'];
    // Python hosts also send a tool's events as bare JSON chunks with no content `type`; the SDKs read those as json.
    const chunk =
      raw !== null && typeof raw === 'object' && !Array.isArray(raw) && typeof (raw as JsonObject)['type'] === 'string'
        ? contentFromParts(raw as JsonObject, payload)
        : json(raw ?? null);
    if (chunk.type !== 'control') {
      stream.push(chunk);
      return;
    }
    if (chunk.method !== 'close') return;
    this.#responseStreams.delete(toolCallId as string);
    const status = chunk.statusCode ?? CONTROL_CLOSE_NORMAL;
    if (status === CONTROL_CLOSE_NORMAL) {
      stream.end();
      return;
    }
    const reason = chunk.message ?? `the tool call stream closed with status ${status}`;
    stream.fail(new RoomrunnerError('RR_ROOM_STREAM_CLOSED', reason, { data: { statusCode: status, toolCallId } }));
  }

  /**
   * Answer `room.tool_call.<toolkit>` on every socket (registrations of the handler survive reconnects;
   * registering the toolkit with the room is {@link registerToolkit}'s job, usually in `onReady`). The answer
   * is `room.tool_call_response` echoing the room's id (§E.5 step 4). A thrown error, a malformed call or a
   * result that is not a Content becomes an `error` content with the error's message (a RoomrunnerError's
   * `contentCode` as its code); nothing a handler does can take the connection down. Returns an unserve function.
   */
  serveToolkit(toolkit: string, handler: ToolCallHandler): () => void {
    const unserve = this.#connection.handle(toolCallType(toolkit), async (message, session) => {
      let opened = false;
      const open = async (): Promise<void> => {
        if (opened) return;
        opened = true;
        await trySend(session, MESSAGE_TYPES.TOOL_CALL_RESPONSE, packContent({ type: 'control', method: 'open' }), message.id);
      };
      let toolCallId = String(message.id);
      const sendChunk = async (chunk: Content): Promise<void> => {
        const { header, payload } = contentToParts(chunk);
        await trySend(session, MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK, packMessage({ tool_call_id: toolCallId, chunk: header }, payload), message.id);
      };
      const { result, packed } = await this.#runTool(toolkit, handler, message.id, message.data, session, {
        open,
        sendChunk,
        setId: (id) => (toolCallId = id),
      });
      if (!session.isOpen) return;
      if (!opened) {
        await session.send(MESSAGE_TYPES.TOOL_CALL_RESPONSE, packed, message.id);
        return;
      }
      // After `open` the answer is the stream's end: an error chunk does not end it, the close does (§E.5).
      if (result.type === 'control' && result.method === 'close') {
        await sendChunk(result);
        return;
      }
      if (result.type !== 'control') await sendChunk(result);
      await sendChunk({ type: 'control', method: 'close', statusCode: CONTROL_CLOSE_NORMAL });
    });
    const unserveChunks = this.#connection.handle(`${MESSAGE_TYPES.TOOL_CALL_REQUEST_CHUNK_PREFIX}${toolkit}`, (message) =>
      this.#onRequestChunk(toolkit, message.data),
    );
    return () => {
      unserve();
      unserveChunks();
    };
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

  async #runTool(
    toolkit: string,
    handler: ToolCallHandler,
    id: number,
    data: Uint8Array,
    session: Session,
    stream: { open(): Promise<void>; sendChunk(chunk: Content): Promise<void>; setId(id: string): void },
  ): Promise<{ result: Content; packed: Uint8Array }> {
    let inputKey: string | undefined;
    try {
      const { header, payload } = unpackMessage(data);
      const call = parseHeader(ToolCallSchema, header, toolCallType(toolkit));
      const toolCallId = call.tool_call_id ?? String(id);
      stream.setId(toolCallId);
      const args = contentFromParts(call.arguments, payload);
      let input: AsyncIterable<Content> | null = null;
      if (args.type === 'control') {
        if (args.method !== 'open') throw new RoomrunnerError('RR_CONTENT_INVALID', 'a request stream must start with a control open chunk');
        inputKey = `${toolkit} ${toolCallId}`;
        input = this.#openRequestStream(inputKey, session);
      }
      const result = await handler({
        toolkit,
        name: call.name,
        arguments: args,
        callerId: call.caller_id ?? null,
        toolCallId,
        onBehalfOfId: call.on_behalf_of_id ?? null,
        callerContext: (call.caller_context as JsonObject | null | undefined) ?? null,
        messageId: id,
        signal: this.#signalFor(session),
        input,
        openStream: stream.open,
        sendChunk: stream.sendChunk,
      });
      if (!isContent(result)) {
        throw new RoomrunnerError('RR_CONTENT_INVALID', `tool '${call.name}' of toolkit '${toolkit}' returned no content`);
      }
      // Encoded here, once, so that a content with a bad field fails into an error answer, not a broken frame.
      return { result, packed: packContent(result) };
    } catch (error) {
      const result = isRoomrunnerError(error) ? errorContent(error.message, error.contentCode) : errorContent(errorMessage(error));
      return { result, packed: packContent(result) };
    } finally {
      if (inputKey !== undefined) {
        this.#requestStreams.get(inputKey)?.end();
        this.#requestStreams.delete(inputKey);
        this.#earlyChunks.delete(inputKey);
      }
    }
  }

  /** The request chunks of one streamed-input call, with any that arrived before it first. */
  #openRequestStream(key: string, session: Session): ChunkQueue<Content> {
    const queue = new ChunkQueue<Content>(() => {
      if (this.#requestStreams.get(key) === queue) this.#requestStreams.delete(key);
    });
    this.#requestStreams.set(key, queue);
    const early = this.#earlyChunks.get(key) ?? [];
    this.#earlyChunks.delete(key);
    for (const chunk of early) this.#pushRequestChunk(queue, chunk);
    void session.closed.then(() => queue.fail(new RoomrunnerError('RR_ROOM_CLOSED', 'room connection closed before the streamed input ended')));
    return queue;
  }

  /** `room.tool_call_request_chunk.<toolkit>` (§E.5): one chunk of a streamed input, one-way from the room. */
  #onRequestChunk(toolkit: string, data: Uint8Array): void {
    const { header, payload } = unpackMessage(data);
    const message = parseHeader(ToolCallChunkSchema, header, `${MESSAGE_TYPES.TOOL_CALL_REQUEST_CHUNK_PREFIX}${toolkit}`);
    const chunk = contentFromParts(message.chunk, payload);
    const key = `${toolkit} ${message.tool_call_id}`;
    const queue = this.#requestStreams.get(key);
    if (queue) {
      this.#pushRequestChunk(queue, chunk);
      return;
    }
    let early = this.#earlyChunks.get(key);
    if (!early) {
      if (this.#earlyChunks.size >= EARLY_CALLS_KEPT) {
        const oldest = this.#earlyChunks.keys().next().value;
        if (oldest !== undefined) this.#earlyChunks.delete(oldest);
      }
      early = [];
      this.#earlyChunks.set(key, early);
    }
    if (early.length < EARLY_CHUNKS_KEPT) early.push(chunk);
  }

  #pushRequestChunk(queue: ChunkQueue<Content>, chunk: Content): void {
    if (chunk.type !== 'control') queue.push(chunk);
    else if (chunk.method === 'close') queue.end();
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

function isStreamOpen(content: Content): boolean {
  return content.type === 'control' && content.method === 'open';
}

/** `<ms>-<hex>`, the shape the npm SDK sends (§E.4). */
function newToolCallId(): string {
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/** Send on the socket that carried the call; a socket that closed meanwhile drops the message. */
async function trySend(session: Session, type: string, data: Uint8Array, id: number): Promise<void> {
  if (!session.isOpen) return;
  await session.send(type, data, id).catch(() => undefined);
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
