import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import { FrameReader, type FrameReadResult } from '../../src/protocol/frame-reader.js';
import { encodeDataFrame, encodeFrames, encodeHeaderFrame } from '../../src/protocol/frames.js';

const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));

function feed(reader: FrameReader, frames: Uint8Array[]): FrameReadResult[] {
  return frames.map((f) => reader.push(f)).filter((r): r is FrameReadResult => r !== undefined);
}

describe('FrameReader (§D.1)', () => {
  it('reads a message from a hex fixture of a header frame and one data frame', () => {
    const reader = new FrameReader();
    const header = fromHex(`00000000 0000002a 00000000 00000001${Buffer.from('ping').toString('hex')}`);
    const data = fromHex('00000000 0000002a 00000001 68656c6c6f');
    expect(reader.push(header)).toBeUndefined();
    expect(reader.push(data)).toEqual({ kind: 'message', message: { id: 42, type: 'ping', data: new Uint8Array(Buffer.from('hello')) } });
  });

  it('dispatches a header frame with zero data frames at once', () => {
    const result = new FrameReader().push(encodeHeaderFrame(5, 'connected', 0));
    expect(result).toMatchObject({ kind: 'message', message: { id: 5, type: 'connected' } });
  });

  it('refuses a frame shorter than a data frame prefix', () => {
    const result = new FrameReader().push(fromHex('0000'));
    expect(result).toMatchObject({ kind: 'error', error: { code: 'RR_FRAME_TOO_SHORT' } });
  });

  it('refuses a header frame shorter than 16 bytes', () => {
    const result = new FrameReader().push(fromHex('00000000 00000001 00000000 0000'));
    expect(result).toMatchObject({ kind: 'error', error: { code: 'RR_FRAME_TOO_SHORT' } });
  });

  it('drops an out-of-order data frame and everything after it until the next header frame', () => {
    const reader = new FrameReader();
    const [h, d1, d2] = encodeFrames(1, 'a', new Uint8Array(1500));
    expect(reader.push(h!)).toBeUndefined();
    const first = reader.push(d2!);
    expect(first).toMatchObject({ kind: 'error', error: { code: 'RR_FRAME_OUT_OF_ORDER' }, id: 1 });
    expect(reader.dropping).toBe(true);
    expect(reader.push(d1!)).toBeUndefined();
    expect(reader.push(d2!)).toBeUndefined();
    const next = feed(reader, encodeFrames(2, 'b', new Uint8Array([1, 2, 3])));
    expect(next).toEqual([{ kind: 'message', message: { id: 2, type: 'b', data: new Uint8Array([1, 2, 3]) } }]);
  });

  it('refuses a data frame that arrives while no message is in progress', () => {
    const result = new FrameReader().push(encodeDataFrame(1, 1, new Uint8Array([1])));
    expect(result).toMatchObject({ kind: 'error', error: { code: 'RR_FRAME_OUT_OF_ORDER' } });
  });

  it('refuses a data frame of another message id', () => {
    const reader = new FrameReader();
    reader.push(encodeHeaderFrame(1, 'a', 2));
    expect(reader.push(encodeDataFrame(2, 1, new Uint8Array([1])))).toMatchObject({ kind: 'error', error: { code: 'RR_FRAME_OUT_OF_ORDER' } });
  });

  it('lets a new header frame reset a message in progress, as the official clients do', () => {
    const reader = new FrameReader();
    reader.push(encodeHeaderFrame(1, 'a', 3));
    reader.push(encodeDataFrame(1, 1, new Uint8Array(10)));
    expect(feed(reader, encodeFrames(2, 'b', new Uint8Array([9])))).toMatchObject([{ kind: 'message', message: { id: 2 } }]);
  });

  it('refuses a header that announces more frames than the maximum message size allows', () => {
    const reader = new FrameReader({ maxMessageBytes: 4096 });
    const result = reader.push(encodeHeaderFrame(1, 'big', 5));
    expect(result).toMatchObject({ kind: 'error', error: { code: 'RR_MESSAGE_TOO_LARGE' }, id: 1, type: 'big' });
  });

  it('refuses a message whose oversized chunks exceed the maximum without buffering the rest', () => {
    const reader = new FrameReader({ maxMessageBytes: 2048 });
    reader.push(encodeHeaderFrame(1, 'big', 2));
    expect(reader.push(encodeDataFrame(1, 1, new Uint8Array(2000)))).toBeUndefined();
    expect(reader.push(encodeDataFrame(1, 2, new Uint8Array(2000)))).toMatchObject({ kind: 'error', error: { code: 'RR_MESSAGE_TOO_LARGE' } });
  });

  it('rejects a negative or fractional maximum with a message that says what to pass', () => {
    expect(() => new FrameReader({ maxMessageBytes: -1 })).toThrow('maxMessageBytes must be an integer >= 0, got -1');
    expect(() => new FrameReader({ maxMessageBytes: 1.5 })).toThrow(expect.objectContaining({ code: 'RR_OPTION_INVALID' }));
  });

  it('reassembles any message split by any frame boundaries of the sender (property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.string(), fc.uint8Array({ maxLength: 5000 }), (id, type, data) => {
        const reader = new FrameReader();
        const results = feed(reader, encodeFrames(id, type, data));
        expect(results).toHaveLength(1);
        expect(results[0]).toEqual({ kind: 'message', message: { id, type: new TextDecoder().decode(new TextEncoder().encode(type)), data } });
      }),
    );
  });

  it('never throws on random frames and recovers at the next valid message (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 30 }), fc.uint8Array({ maxLength: 3000 }), (garbage, data) => {
        const reader = new FrameReader({ maxMessageBytes: 1 << 16 });
        for (const frame of garbage) {
          const r = reader.push(frame);
          if (r?.kind === 'error') expect(r.error).toBeInstanceOf(RoomrunnerError);
        }
        const results = feed(reader, encodeFrames(77, 'after', data));
        expect(results.at(-1)).toEqual({ kind: 'message', message: { id: 77, type: 'after', data } });
      }),
    );
  });
});
