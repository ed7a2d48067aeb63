/**
 * The built-in `messaging` toolkit, reached through `room.invoke_tool` (docs/protocol.md §E.6).
 *
 * `enable` answers the caller with `messaging.enabled {participants}` and tells the other enabled participants
 * `participant.enabled`; `disable` tells them `participant.disabled`; `send` pushes `messaging.send` to one
 * participant (any participant in the room, enabled or not: dismissal must reach services that never enabled
 * messaging); `broadcast` pushes it to every other enabled participant. Attachments travel as the message
 * payload.
 */
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';
import { empty, type Content } from '../protocol/content.js';
import { MESSAGE_TYPES, parseHeader } from '../protocol/messages.js';
import type { JsonObject } from '../protocol/packing.js';
import type { Participant } from './participant.js';
import type { EmulatorEventInput } from './room-events.js';

export const MESSAGING_TOOLKIT = 'messaging';

/** Built-in toolkit names of the real server (§E.7). Only `messaging` is emulated; the rest answer 1007. */
export const BUILTIN_TOOLKITS: ReadonlySet<string> = new Set([
  'messaging',
  'storage',
  'sync',
  'queues',
  'dataset',
  'database',
  'memory',
  'containers',
  'developer',
  'services',
  'secrets',
  'livekit',
]);

/** The id messages from the room server itself carry in `from_participant_id` (e.g. `dismiss`). */
export const SERVER_PARTICIPANT_ID = 'server';

/** Reserved `messaging.send` types (§E.6). */
export const MESSAGING_TYPES = {
  ENABLED: 'messaging.enabled',
  PARTICIPANT_ENABLED: 'participant.enabled',
  PARTICIPANT_DISABLED: 'participant.disabled',
  PARTICIPANT_ATTRIBUTES: 'participant.attributes',
  DISMISS: 'dismiss',
} as const;

const SendInputSchema = z.looseObject({
  to_participant_id: z.string().min(1),
  type: z.string().min(1),
  message_json: z.string().optional(),
  attachment_base64: z.string().nullish(),
});
const BroadcastInputSchema = SendInputSchema.omit({ to_participant_id: true });

/** What messaging needs from its room. */
export interface MessagingRoom {
  participants(): Iterable<Participant>;
  participant(id: string): Participant | undefined;
  record(event: Omit<EmulatorEventInput, 'room'>): void;
}

/** Run one tool of the `messaging` toolkit for `caller`. Throws RoomrunnerError with its content code. */
export function invokeMessaging(room: MessagingRoom, caller: Participant, tool: string, input: Content, payload: Uint8Array): Content {
  switch (tool) {
    case 'enable':
      enable(room, caller);
      return empty();
    case 'disable':
      disable(room, caller);
      return empty();
    case 'send': {
      const args = parseHeader(SendInputSchema, jsonInput(input, tool), 'messaging.send input');
      const to = room.participant(args.to_participant_id);
      if (!to) {
        // npm matches this exact text to mark the peer offline (§E.6).
        throw new RoomrunnerError('RR_EMULATOR_PARTICIPANT_NOT_FOUND', 'the participant was not found', { data: { participantId: args.to_participant_id } });
      }
      deliver(room, caller.id, [to], args.type, parseMessage(args.message_json), attachment(args.attachment_base64, payload));
      return empty();
    }
    case 'broadcast': {
      const args = parseHeader(BroadcastInputSchema, jsonInput(input, tool), 'messaging.broadcast input');
      const peers = [...room.participants()].filter((p) => p !== caller && p.messagingEnabled);
      deliver(room, caller.id, peers, args.type, parseMessage(args.message_json), attachment(args.attachment_base64, payload));
      return empty();
    }
    default:
      throw new RoomrunnerError('RR_EMULATOR_NOT_EMULATED', `the messaging tool '${tool}' is not emulated by the roomrunner room server`, {
        data: { toolkit: MESSAGING_TOOLKIT, tool },
      });
  }
}

/** Push one `messaging.send` to each of `to` (§E.6). */
export function deliver(room: MessagingRoom, from: string, to: Iterable<Participant>, type: string, message: unknown, payload?: Uint8Array): void {
  for (const participant of to) {
    participant.push(MESSAGE_TYPES.MESSAGING_SEND, { from_participant_id: from, type, message: message as JsonObject }, payload);
    room.record({ kind: 'messaging.sent', participantId: participant.id, callerId: from, type });
  }
}

/** Tell the enabled peers of `participant` that its attributes changed (§E.1, §E.6). */
export function announceAttributes(room: MessagingRoom, participant: Participant): void {
  const peers = [...room.participants()].filter((p) => p !== participant && p.messagingEnabled);
  for (const peer of peers) {
    peer.push(MESSAGE_TYPES.MESSAGING_SEND, {
      from_participant_id: participant.id,
      type: MESSAGING_TYPES.PARTICIPANT_ATTRIBUTES,
      message: { attributes: { ...participant.attributes } },
    });
  }
}

/** A participant left the room: its enabled peers see it disabled. */
export function messagingParticipantLeft(room: MessagingRoom, participant: Participant): void {
  if (participant.messagingEnabled) disable(room, participant);
}

function enable(room: MessagingRoom, caller: Participant): void {
  const wasEnabled = caller.messagingEnabled;
  caller.messagingEnabled = true;
  const peers = [...room.participants()].filter((p) => p !== caller && p.messagingEnabled);
  caller.push(MESSAGE_TYPES.MESSAGING_SEND, {
    from_participant_id: caller.id,
    type: MESSAGING_TYPES.ENABLED,
    message: { participants: peers.map((p) => p.describe()) },
  });
  if (wasEnabled) return;
  for (const peer of peers) {
    peer.push(MESSAGE_TYPES.MESSAGING_SEND, { from_participant_id: caller.id, type: MESSAGING_TYPES.PARTICIPANT_ENABLED, message: caller.describe() });
  }
  room.record({ kind: 'messaging.enabled', participantId: caller.id });
}

function disable(room: MessagingRoom, caller: Participant): void {
  if (!caller.messagingEnabled) return;
  caller.messagingEnabled = false;
  for (const peer of room.participants()) {
    if (peer === caller || !peer.messagingEnabled) continue;
    peer.push(MESSAGE_TYPES.MESSAGING_SEND, { from_participant_id: caller.id, type: MESSAGING_TYPES.PARTICIPANT_DISABLED, message: { id: caller.id } });
  }
  room.record({ kind: 'messaging.disabled', participantId: caller.id });
}

function jsonInput(input: Content, tool: string): JsonObject {
  if (input.type === 'empty') return {};
  if (input.type === 'json' && input.json !== null && typeof input.json === 'object' && !Array.isArray(input.json)) {
    return input.json as JsonObject;
  }
  throw new RoomrunnerError('RR_MESSAGE_INVALID', `messaging.${tool} takes a json object input, got ${input.type} content`);
}

function parseMessage(messageJson: string | undefined): unknown {
  if (messageJson === undefined) return {};
  try {
    return JSON.parse(messageJson) as unknown;
  } catch (cause) {
    throw new RoomrunnerError('RR_MESSAGE_INVALID', 'message_json is not JSON', { cause });
  }
}

function attachment(base64: string | null | undefined, payload: Uint8Array): Uint8Array | undefined {
  if (base64) return Buffer.from(base64, 'base64');
  return payload.length > 0 ? payload : undefined;
}
