/**
 * Routing `room.invoke_tool` to the participant hosting the toolkit, docs/protocol.md §E.5.
 *
 * A call from caller C with request id Q goes to the host as `room.tool_call.<toolkit>` with a fresh id K of the
 * host's connection. The host's `room.tool_call_response` (id K) goes back to C as `__response__` Q with its
 * bytes unchanged. Streams: a `control open` answer keeps the call alive, and the host's
 * `room.tool_call_response_chunk`s are relayed to C with C's `tool_call_id` plus `toolkit` and `tool`; C's
 * `room.tool_call_request_chunk`s go to the host as `room.tool_call_request_chunk.<toolkit>` and are acknowledged
 * with `empty`. When the host leaves first, every caller still waiting gets an `error` content.
 *
 * Request chunks of a tool whose output streams are held until the host has answered `control open`, then
 * forwarded in order, as the SDK's own test server orders them (docs/protocol.md §E.5). A tool that takes a
 * streamed input but answers once never opens a stream (the 0.47 host reads all its input, then answers): its
 * chunks are forwarded as soon as the call itself has been written to the host, so they always follow it. A host
 * that answers anything but `open` ends the call, and chunks still held are dropped.
 */
import { RoomrunnerError } from '../errors.js';
import { contentFromParts, errorContent, unpackContent, type Content } from '../protocol/content.js';
import type { FrameMessage } from '../protocol/frame-reader.js';
import { MESSAGE_TYPES, ToolCallChunkSchema, parseHeader, toolCallType, type InvokeTool } from '../protocol/messages.js';
import { unpackMessage, type JsonObject } from '../protocol/packing.js';
import type { Participant } from './participant.js';
import type { EmulatorEventInput } from './room-events.js';
import type { ToolkitRegistry } from './room-toolkits.js';
import { errorMessage } from '../util/error-message.js';

/** Finished calls remembered per room, so late request chunks are acknowledged and dropped, not refused. */
const FINISHED_CALLS_KEPT = 1024;
/** Request chunks held per call while its host has not answered `control open`. */
export const MAX_HELD_REQUEST_CHUNKS = 4096;
/** Bytes of request chunks (header JSON plus payload) held per call while its host has not answered `control open`. */
export const MAX_HELD_REQUEST_BYTES = 64 * 1024 * 1024;

interface HeldChunk {
  readonly chunk: JsonObject;
  readonly payload: Uint8Array;
}

/** What the router needs from its room. */
export interface ToolCallRoom {
  readonly toolkits: ToolkitRegistry;
  participant(id: string): Participant | undefined;
  record(event: Omit<EmulatorEventInput, 'room'>): void;
  createId(): string;
}

interface PendingCall {
  readonly caller: Participant;
  /** Q: the caller's request id. */
  readonly requestId: number;
  readonly host: Participant;
  /** K: the server's message id on the host's connection. */
  readonly hostMessageId: number;
  readonly toolkit: string;
  readonly tool: string;
  /** The caller's own tool_call_id, when it sent one (npm unary invokes do not, §E.4). */
  readonly callerToolCallId: string | undefined;
  /** The id the host sees: the caller's, or one the server made up. */
  readonly toolCallId: string;
  /** True once `__response__` Q went out (a `control open` starts a stream). */
  streaming: boolean;
  /** True when the tool's output streams: its request chunks wait for the host's `control open`. */
  readonly waitsForOpen: boolean;
  /** True once the call went out to a tool that answers once: its request chunks are forwarded at once. */
  forwarding: boolean;
  /** The caller's request chunks that arrived before they could be forwarded, oldest first. */
  readonly held: HeldChunk[];
  heldBytes: number;
}

export class ToolCallRouter {
  readonly #room: ToolCallRoom;
  /** `${hostId} ${K}` → call */
  readonly #byHost = new Map<string, PendingCall>();
  /** `${callerId} ${callerToolCallId}` → call, for request chunks */
  readonly #byCaller = new Map<string, PendingCall>();
  readonly #finished = new Set<string>();

  constructor(room: ToolCallRoom) {
    this.#room = room;
  }

  /** Calls waiting for their host. */
  get pendingCount(): number {
    return this.#byHost.size;
  }

  /**
   * Route one invoke (§E.5 steps 1–3). Synchronous up to the send, so request chunks that follow the invoke on
   * the same socket always find the call.
   * @throws RoomrunnerError `RR_EMULATOR_TOOLKIT_NOT_FOUND` (1003) when no visible toolkit or tool matches.
   */
  invoke(caller: Participant, requestId: number, request: InvokeTool, payload: Uint8Array): void {
    const { toolkit, tool } = request;
    const registration = this.#room.toolkits.resolve(toolkit, { callerId: caller.id, participantId: request.participant_id });
    if (!registration) throw notFound(`toolkit '${toolkit}' was not found`, toolkit);
    if (!Object.hasOwn(registration.tools, tool)) throw notFound(`tool '${tool}' was not found in toolkit '${toolkit}'`, toolkit);
    const host = this.#room.participant(registration.participantId);
    if (!host?.isOpen) throw notFound(`toolkit '${toolkit}' was not found`, toolkit);

    const hostMessageId = host.session.nextId();
    const callerToolCallId = request.tool_call_id ?? undefined;
    const call: PendingCall = {
      caller,
      requestId,
      host,
      hostMessageId,
      toolkit,
      tool,
      callerToolCallId,
      toolCallId: callerToolCallId ?? this.#room.createId(),
      streaming: false,
      waitsForOpen: registration.tools[tool]?.output_spec?.stream === true,
      forwarding: false,
      held: [],
      heldBytes: 0,
    };
    this.#byHost.set(hostKey(host.id, hostMessageId), call);
    if (callerToolCallId !== undefined) this.#byCaller.set(callerKey(caller.id, callerToolCallId), call);

    const header: JsonObject = {
      name: tool,
      arguments: request.arguments,
      // Python hosts require caller_id (§E.5 step 3).
      caller_id: caller.id,
      tool_call_id: call.toolCallId,
      on_behalf_of_id: request.on_behalf_of_id ?? null,
      caller_context: request.caller_context ?? null,
    };
    this.#room.record({
      kind: 'tool.called',
      participantId: host.id,
      callerId: caller.id,
      toolkit,
      tool,
      toolCallId: call.toolCallId,
      registrationId: registration.id,
    });
    host.session.sendPacked(toolCallType(toolkit), header, payload, hostMessageId).then(
      () => {
        if (call.waitsForOpen || !this.#byHost.has(hostKey(host.id, hostMessageId))) return;
        call.forwarding = true;
        this.#flushHeld(call);
      },
      () => this.#fail(call, `the participant hosting toolkit '${toolkit}' could not be reached`),
    );
  }

  /** The host's `room.tool_call_response` (id K): relay its bytes to the caller (§E.5 steps 4–5). */
  onResponse(host: Participant, message: FrameMessage): void {
    const call = this.#byHost.get(hostKey(host.id, message.id));
    if (!call) {
      host.log.debug({ participantId: host.id, id: message.id }, 'tool call response for no pending call dropped');
      return;
    }
    let content: Content;
    try {
      // Check the bytes decode as a content npm can read (Python's `raw`, garbage), or the caller hangs forever.
      content = unpackContent(message.data);
    } catch (error) {
      this.#fail(call, `the participant hosting toolkit '${call.toolkit}' sent an invalid response: ${errorMessage(error)}`, 1002);
      return;
    }
    if (call.streaming) {
      host.log.debug({ participantId: host.id, id: message.id }, 'second tool call response for a stream dropped');
      return;
    }
    call.caller.respondRaw(call.requestId, message.data);
    const opensStream = content.type === 'control' && content.method === 'open';
    this.#room.record({
      kind: 'tool.answered',
      participantId: host.id,
      callerId: call.caller.id,
      toolkit: call.toolkit,
      tool: call.tool,
      toolCallId: call.toolCallId,
      type: content.type,
      ok: content.type !== 'error',
      ...(content.type === 'error' ? { reason: content.text, code: content.code } : {}),
    });
    if (opensStream) {
      call.streaming = true;
      this.#flushHeld(call);
    } else {
      this.#finish(call);
    }
  }

  /** The host could not deliver its response to K (e.g. it was larger than the server accepts). */
  onResponseUnreadable(host: Participant, hostMessageId: number, error: RoomrunnerError): void {
    const call = this.#byHost.get(hostKey(host.id, hostMessageId));
    if (call) this.#fail(call, `the response of toolkit '${call.toolkit}' could not be read: ${error.message}`, error.contentCode);
  }

  /** The host's `room.tool_call_response_chunk`: relay it to the caller with the caller's ids (§E.5 streaming). */
  onResponseChunk(host: Participant, message: FrameMessage): void {
    const { header, payload } = unpackMessage(message.data);
    const chunk = parseHeader(ToolCallChunkSchema, header, MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK);
    const call =
      this.#byHost.get(hostKey(host.id, message.id)) ?? [...this.#byHost.values()].find((c) => c.host === host && c.toolCallId === chunk.tool_call_id);
    if (!call) {
      host.log.debug({ participantId: host.id, toolCallId: chunk.tool_call_id }, 'tool call response chunk for no pending call dropped');
      return;
    }
    call.caller.push(
      MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK,
      { tool_call_id: call.callerToolCallId ?? call.toolCallId, toolkit: call.toolkit, tool: call.tool, chunk: chunk.chunk },
      payload,
    );
    if (chunk.chunk.type === 'control' && chunk.chunk['method'] === 'close') this.#finish(call);
  }

  /**
   * The caller's `room.tool_call_request_chunk` (a request for npm): forward it to the host, or hold it until
   * it may be forwarded (see the file comment), and acknowledge it.
   * @throws RoomrunnerError `RR_EMULATOR_TOOL_CALL_NOT_FOUND` (1003) when no call of this caller has that id;
   *   `RR_EMULATOR_STREAM_BACKLOG_FULL` (1006) when holding it would pass {@link MAX_HELD_REQUEST_CHUNKS} or
   *   {@link MAX_HELD_REQUEST_BYTES} (the chunk is not kept; the caller may send it again).
   */
  onRequestChunk(caller: Participant, header: JsonObject, payload: Uint8Array): void {
    const chunk = parseHeader(ToolCallChunkSchema, header, MESSAGE_TYPES.TOOL_CALL_REQUEST_CHUNK);
    const key = callerKey(caller.id, chunk.tool_call_id);
    const call = this.#byCaller.get(key);
    if (!call) {
      // The host already answered (for example with an error before reading all its input): drop quietly.
      if (this.#finished.has(key)) return;
      throw new RoomrunnerError('RR_EMULATOR_TOOL_CALL_NOT_FOUND', `tool call '${chunk.tool_call_id}' was not found`, {
        data: { toolCallId: chunk.tool_call_id },
      });
    }
    if (call.streaming || call.forwarding) {
      this.#forwardRequestChunk(call, chunk.chunk, payload);
      return;
    }
    const bytes = Buffer.byteLength(JSON.stringify(chunk.chunk)) + payload.byteLength;
    if (call.held.length >= MAX_HELD_REQUEST_CHUNKS || call.heldBytes + bytes > MAX_HELD_REQUEST_BYTES) {
      throw new RoomrunnerError(
        'RR_EMULATOR_STREAM_BACKLOG_FULL',
        `tool call '${chunk.tool_call_id}': the host has not opened its input stream yet and ${call.held.length} chunks (${call.heldBytes} bytes) are already held`,
        { data: { toolCallId: chunk.tool_call_id, held: call.held.length, heldBytes: call.heldBytes } },
      );
    }
    // An own copy: the payload is a view into the received message's buffer.
    call.held.push({ chunk: chunk.chunk, payload: Uint8Array.from(payload) });
    call.heldBytes += bytes;
  }

  #flushHeld(call: PendingCall): void {
    for (const { chunk, payload } of call.held.splice(0)) this.#forwardRequestChunk(call, chunk, payload);
    call.heldBytes = 0;
  }

  #forwardRequestChunk(call: PendingCall, chunk: JsonObject, payload: Uint8Array): void {
    call.host.push(`${MESSAGE_TYPES.TOOL_CALL_REQUEST_CHUNK_PREFIX}${call.toolkit}`, { tool_call_id: call.toolCallId, chunk }, payload);
  }

  /** A participant left: its hosted calls fail, its own calls are forgotten. */
  participantLeft(participant: Participant): void {
    for (const call of [...this.#byHost.values()]) {
      if (call.host === participant) {
        this.#fail(call, `the participant hosting toolkit '${call.toolkit}' left before answering`);
      } else if (call.caller === participant) {
        this.#finish(call);
        this.#room.record({
          kind: 'tool.failed',
          participantId: call.host.id,
          callerId: call.caller.id,
          toolkit: call.toolkit,
          tool: call.tool,
          toolCallId: call.toolCallId,
          reason: 'the caller left',
        });
      }
    }
  }

  /** Answer a waiting caller with an error (or end its stream with one) and forget the call. */
  #fail(call: PendingCall, text: string, code?: number): void {
    if (!this.#byHost.has(hostKey(call.host.id, call.hostMessageId))) return;
    const error = new RoomrunnerError('RR_EMULATOR_HOST_GONE', text, code === undefined ? {} : { data: { code } });
    const content = errorContent(error.message, error.contentCode);
    if (call.streaming) {
      const chunkHeader = { tool_call_id: call.callerToolCallId ?? call.toolCallId, toolkit: call.toolkit, tool: call.tool };
      call.caller.push(MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK, { ...chunkHeader, chunk: { type: 'error', text: content.text, code: content.code } });
      call.caller.push(MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK, { ...chunkHeader, chunk: { type: 'control', method: 'close', status_code: 1000 } });
    } else {
      call.caller.respond(call.requestId, content);
    }
    this.#finish(call);
    this.#room.record({
      kind: 'tool.failed',
      participantId: call.host.id,
      callerId: call.caller.id,
      toolkit: call.toolkit,
      tool: call.tool,
      toolCallId: call.toolCallId,
      code: content.code,
      reason: text,
    });
  }

  #finish(call: PendingCall): void {
    this.#byHost.delete(hostKey(call.host.id, call.hostMessageId));
    call.held.length = 0;
    call.heldBytes = 0;
    if (call.callerToolCallId === undefined) return;
    const key = callerKey(call.caller.id, call.callerToolCallId);
    this.#byCaller.delete(key);
    this.#finished.add(key);
    if (this.#finished.size > FINISHED_CALLS_KEPT) {
      const oldest = this.#finished.values().next().value;
      if (oldest !== undefined) this.#finished.delete(oldest);
    }
  }
}

/** Decode a request's argument content (header field + message payload, §D.4). */
export function argumentContent(request: InvokeTool, payload: Uint8Array): Content {
  return contentFromParts(request.arguments, payload);
}

function hostKey(hostId: string, id: number): string {
  return `${hostId} ${id}`;
}

function callerKey(callerId: string, toolCallId: string): string {
  return `${callerId} ${toolCallId}`;
}

function notFound(message: string, toolkit: string): RoomrunnerError {
  return new RoomrunnerError('RR_EMULATOR_TOOLKIT_NOT_FOUND', message, { data: { toolkit } });
}
