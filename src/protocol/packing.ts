/**
 * Packed messages, docs/protocol.md §D.3: an 8-byte big-endian header length L, L bytes of JSON header
 * (UTF-8), then the binary payload. Python adds a `__meshagent__` key (OpenTelemetry propagation) to every
 * header it packs; we strip it when unpacking and never send it.
 */
import { RoomrunnerError } from '../errors.js';

/** The key Python senders add to every packed header (§D.3). */
export const MESHAGENT_META_KEY = '__meshagent__';

const PREFIX_BYTES = 8;
const TWO_POW_32 = 2 ** 32;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const EMPTY = new Uint8Array(0);

export type JsonObject = { [key: string]: unknown };

export interface PackedMessage {
  readonly header: JsonObject;
  readonly payload: Uint8Array;
}

/** Pack a JSON header object and an optional payload. */
export function packMessage(header: JsonObject, payload: Uint8Array = EMPTY): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(PREFIX_BYTES + json.length + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(json.length / TWO_POW_32), false);
  view.setUint32(4, json.length >>> 0, false);
  out.set(json, PREFIX_BYTES);
  out.set(payload, PREFIX_BYTES + json.length);
  return out;
}

/**
 * Unpack a message. Throws RR_PACKED_MESSAGE_INVALID when the bytes are truncated, the header is not UTF-8 JSON,
 * or the header is not an object. The payload is a view into `bytes`, not a copy.
 */
export function unpackMessage(bytes: Uint8Array): PackedMessage {
  if (bytes.length < PREFIX_BYTES) {
    throw new RoomrunnerError('RR_PACKED_MESSAGE_INVALID', `packed message of ${bytes.length} bytes has no 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(0, false) * TWO_POW_32 + view.getUint32(4, false);
  if (length > bytes.length - PREFIX_BYTES) {
    throw new RoomrunnerError('RR_PACKED_MESSAGE_INVALID', `packed header announces ${length} bytes but only ${bytes.length - PREFIX_BYTES} follow`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + length)));
  } catch (cause) {
    throw new RoomrunnerError('RR_PACKED_MESSAGE_INVALID', 'packed header is not UTF-8 JSON', { cause });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RoomrunnerError('RR_PACKED_MESSAGE_INVALID', 'packed header is not a JSON object');
  }
  const header = parsed as JsonObject;
  delete header[MESHAGENT_META_KEY];
  return { header, payload: bytes.subarray(PREFIX_BYTES + length) };
}
