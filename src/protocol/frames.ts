/**
 * MeshAgent frame encoding, docs/protocol.md §D.1.
 *
 * One websocket binary message is one frame. A message is a 16-byte header frame (id, packet index 0, data frame
 * count N, then the UTF-8 type to the end of the frame) followed by N data frames (id, 1-based packet index, up
 * to 1024 bytes of data). All integers are unsigned big-endian. Pure functions: no sockets, no timers.
 */

/** Bytes of data per data frame. Receivers do not enforce it (§D.1) but every official sender uses it. */
export const CHUNK_SIZE_BYTES = 1024;
/** Size of the fixed part of a header frame: id (8), packet index (4), data frame count (4). */
export const HEADER_FRAME_PREFIX_BYTES = 16;
/** Size of the fixed part of a data frame: id (8), packet index (4). */
export const DATA_FRAME_PREFIX_BYTES = 12;

const TWO_POW_32 = 2 ** 32;
const encoder = new TextEncoder();

/** Write a u64 id as two big-endian u32 words. Ids are kept below 2^53 (§D.1). */
export function writeMessageId(view: DataView, offset: number, id: number): void {
  view.setUint32(offset, Math.floor(id / TWO_POW_32), false);
  view.setUint32(offset + 4, id >>> 0, false);
}

/** Read a u64 id written by {@link writeMessageId}. */
export function readMessageId(view: DataView, offset: number): number {
  return view.getUint32(offset, false) * TWO_POW_32 + view.getUint32(offset + 4, false);
}

/** Number of data frames a message of `dataLength` bytes needs. Empty data needs none (§D.1). */
export function dataFrameCount(dataLength: number): number {
  return Math.ceil(dataLength / CHUNK_SIZE_BYTES);
}

/** The header frame of a message. */
export function encodeHeaderFrame(id: number, type: string, frameCount: number): Uint8Array {
  const typeBytes = encoder.encode(type);
  const frame = new Uint8Array(HEADER_FRAME_PREFIX_BYTES + typeBytes.length);
  const view = new DataView(frame.buffer);
  writeMessageId(view, 0, id);
  view.setUint32(8, 0, false);
  view.setUint32(12, frameCount, false);
  frame.set(typeBytes, HEADER_FRAME_PREFIX_BYTES);
  return frame;
}

/** Data frame `index` (1-based) carrying `chunk`. */
export function encodeDataFrame(id: number, index: number, chunk: Uint8Array): Uint8Array {
  const frame = new Uint8Array(DATA_FRAME_PREFIX_BYTES + chunk.length);
  const view = new DataView(frame.buffer);
  writeMessageId(view, 0, id);
  view.setUint32(8, index, false);
  frame.set(chunk, DATA_FRAME_PREFIX_BYTES);
  return frame;
}

/**
 * Every frame of one message, in the order they must be sent. A sender must send all of them before the next
 * message on the same socket: there is no interleaving (§D.1).
 */
export function encodeFrames(id: number, type: string, data: Uint8Array): Uint8Array[] {
  const count = dataFrameCount(data.length);
  const frames: Uint8Array[] = [encodeHeaderFrame(id, type, count)];
  for (let i = 0; i < count; i++) {
    const start = i * CHUNK_SIZE_BYTES;
    frames.push(encodeDataFrame(id, i + 1, data.subarray(start, Math.min(start + CHUNK_SIZE_BYTES, data.length))));
  }
  return frames;
}
