/**
 * The wiring between one participant's {@link Session} and its room (docs/protocol.md §E, §H.1 item 5).
 *
 * Every request gets exactly one `__response__` with its id: a content, or an `error` content whose code comes
 * from the error catalog (1001 grants, 1002 malformed, 1003 not found, …). Unknown types are answered 1002 so no
 * client waits forever (§E.10). One-way messages (`set_attributes`, the host's responses and chunks, anything
 * whose type names a response) are never answered. Bad frames are answered 1002 when their id is known, and the
 * connection keeps serving.
 */
import { RoomrunnerError, isRoomrunnerError } from '../errors.js';
import { errorContent, type Content, type ErrorContent } from '../protocol/content.js';
import type { FrameMessage } from '../protocol/frame-reader.js';
import { MESSAGE_TYPES } from '../protocol/messages.js';
import { unpackMessage, type JsonObject } from '../protocol/packing.js';
import type { Participant } from './participant.js';
import type { EmulatorEventInput } from './room-events.js';
import { errorMessage } from '../util/error-message.js';

/** A handler's answer: a content now, or {@link DEFERRED} when the handler answers later itself. */
export type Reply = Content | typeof DEFERRED;
export const DEFERRED: unique symbol = Symbol('deferred');

export interface RequestContext {
  readonly participant: Participant;
  /** The request id to answer. */
  readonly id: number;
  readonly type: string;
  readonly header: JsonObject;
  readonly payload: Uint8Array;
}

/** What the wiring needs from a room. */
export interface RequestRoom {
  registerToolkit(ctx: RequestContext): Reply;
  unregisterToolkit(ctx: RequestContext): Reply;
  listToolkits(ctx: RequestContext): Reply;
  invokeTool(ctx: RequestContext): Reply;
  requestChunk(ctx: RequestContext): Reply;
  roomCall(ctx: RequestContext): Promise<Reply>;
  setAttributes(participant: Participant, header: JsonObject): void;
  toolCallResponse(participant: Participant, message: FrameMessage): void;
  toolCallResponseChunk(participant: Participant, message: FrameMessage): void;
  responseUnreadable(participant: Participant, id: number, error: RoomrunnerError): void;
  record(event: Omit<EmulatorEventInput, 'room'>): void;
}

type RequestHandler = (ctx: RequestContext) => Reply | Promise<Reply>;

/** Install the room's handlers on the participant's session. */
export function installRequestHandlers(room: RequestRoom, participant: Participant): void {
  const { session } = participant;
  const requests: Record<string, RequestHandler> = {
    [MESSAGE_TYPES.REGISTER_TOOLKIT]: (ctx) => room.registerToolkit(ctx),
    [MESSAGE_TYPES.UNREGISTER_TOOLKIT]: (ctx) => room.unregisterToolkit(ctx),
    [MESSAGE_TYPES.LIST_TOOLKITS]: (ctx) => room.listToolkits(ctx),
    [MESSAGE_TYPES.INVOKE_TOOL]: (ctx) => room.invokeTool(ctx),
    // npm sends request chunks as requests and waits for an answer (§E.5); Python's one-way chunks get one too,
    // which Python ignores.
    [MESSAGE_TYPES.TOOL_CALL_REQUEST_CHUNK]: (ctx) => room.requestChunk(ctx),
    [MESSAGE_TYPES.ROOM_CALL]: (ctx) => room.roomCall(ctx),
  };
  for (const [type, handler] of Object.entries(requests)) {
    session.on(type, (message) => answer(room, participant, message, handler));
  }
  session.on(MESSAGE_TYPES.SET_ATTRIBUTES, (message) =>
    oneWay(room, participant, message, () => room.setAttributes(participant, unpackMessage(message.data).header)),
  );
  session.on(MESSAGE_TYPES.TOOL_CALL_RESPONSE, (message) => oneWay(room, participant, message, () => room.toolCallResponse(participant, message)));
  session.on(MESSAGE_TYPES.TOOL_CALL_RESPONSE_CHUNK, (message) => oneWay(room, participant, message, () => room.toolCallResponseChunk(participant, message)));
  // The empty prefix claims every type no exact handler took.
  session.onPrefix('', (message) => {
    if (isOneWayType(message.type)) {
      participant.log.debug({ participantId: participant.id, type: message.type }, 'one-way message of an unknown type dropped');
      return;
    }
    reject(
      room,
      participant,
      message.id,
      message.type,
      new RoomrunnerError('RR_REQUEST_UNKNOWN_TYPE', `the room server does not implement '${message.type}'`, { data: { type: message.type } }),
    );
  });
}

/**
 * A frame the reader refused (garbage, out of order, oversize): answer its id when known, so a client waiting
 * on that request learns why; a host's unreadable tool response fails the caller waiting for it instead.
 */
export function handleFrameError(room: RequestRoom, participant: Participant, error: unknown, context: { id?: number; type?: string }): void {
  const err = isRoomrunnerError(error) ? error : new RoomrunnerError('RR_MESSAGE_INVALID', errorMessage(error), { cause: error });
  participant.log.warn({ participantId: participant.id, code: err.code, id: context.id, type: context.type }, 'bad frame from participant');
  room.record({ kind: 'frame.error', participantId: participant.id, type: context.type, code: err.contentCode, reason: err.message });
  if (context.id === undefined) return;
  if (context.type === MESSAGE_TYPES.TOOL_CALL_RESPONSE) {
    room.responseUnreadable(participant, context.id, err);
    return;
  }
  if (context.type !== undefined && isOneWayType(context.type)) return;
  participant.respond(context.id, toErrorContent(err));
}

/** Types that are never answered: responses of any kind, and one-way notifications. */
function isOneWayType(type: string): boolean {
  return type === MESSAGE_TYPES.RESPONSE || type === MESSAGE_TYPES.SET_ATTRIBUTES || type.endsWith('_response') || type.endsWith('_response_chunk');
}

function answer(room: RequestRoom, participant: Participant, message: FrameMessage, handler: RequestHandler): void {
  const fail = (error: unknown): void => reject(room, participant, message.id, message.type, error);
  const send = (reply: Reply): void => {
    if (reply !== DEFERRED) participant.respond(message.id, reply);
  };
  try {
    const { header, payload } = unpackMessage(message.data);
    const reply = handler({ participant, id: message.id, type: message.type, header, payload });
    if (reply instanceof Promise) reply.then(send, fail);
    else send(reply);
  } catch (error) {
    fail(error);
  }
}

function oneWay(room: RequestRoom, participant: Participant, message: FrameMessage, run: () => void): void {
  try {
    run();
  } catch (error) {
    const err = isRoomrunnerError(error) ? error : undefined;
    participant.log.warn({ participantId: participant.id, type: message.type, code: err?.code }, 'invalid one-way message dropped');
    room.record({ kind: 'request.failed', participantId: participant.id, type: message.type, code: err?.contentCode, reason: errorMessage(error) });
  }
}

function reject(room: RequestRoom, participant: Participant, id: number, type: string, error: unknown): void {
  const content = toErrorContent(error);
  if (!isRoomrunnerError(error)) participant.log.error({ participantId: participant.id, type, err: error }, 'request handler failed');
  room.record({ kind: 'request.failed', participantId: participant.id, type, code: content.code, reason: content.text });
  participant.respond(id, content);
}

/** An error as an `error` content: the catalog's content code for ours, 1008 for anything else. */
export function toErrorContent(error: unknown): ErrorContent {
  if (isRoomrunnerError(error)) return errorContent(error.message, error.contentCode);
  return errorContent(errorMessage(error), 1008);
}
