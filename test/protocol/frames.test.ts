import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE_BYTES, dataFrameCount, encodeDataFrame, encodeFrames, encodeHeaderFrame } from '../../src/protocol/frames.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('frames (§D.1)', () => {
  it('writes a header frame as id, packet index 0, frame count, then the type to the end', () => {
    expect(hex(encodeHeaderFrame(1, 'room_ready', 1))).toBe(`00000000000000010000000000000001${Buffer.from('room_ready').toString('hex')}`);
  });

  it('writes ids above 2^32 across both words, big-endian', () => {
    const id = 2 ** 32 + 5;
    expect(hex(encodeHeaderFrame(id, 'x', 0)).slice(0, 16)).toBe('0000000100000005');
  });

  it('writes a data frame as id, 1-based packet index, then the chunk', () => {
    expect(hex(encodeDataFrame(7, 2, new Uint8Array([0xaa, 0xbb])))).toBe('0000000000000007' + '00000002' + 'aabb');
  });

  it('sends only the header frame for empty data', () => {
    const frames = encodeFrames(3, '__response__', new Uint8Array(0));
    expect(frames).toHaveLength(1);
    expect(hex(frames[0]!).slice(24, 32)).toBe('00000000');
  });

  it('splits data into 1024-byte chunks and counts them in the header', () => {
    const data = new Uint8Array(2 * CHUNK_SIZE_BYTES + 1).map((_, i) => i % 251);
    const frames = encodeFrames(9, 't', data);
    expect(frames.map((f) => f.length)).toEqual([17, 12 + 1024, 12 + 1024, 12 + 1]);
    expect(new DataView(frames[0]!.buffer).getUint32(12)).toBe(3);
    expect(dataFrameCount(data.length)).toBe(3);
    expect(Buffer.concat(frames.slice(1).map((f) => f.subarray(12)))).toEqual(Buffer.from(data));
  });
});
