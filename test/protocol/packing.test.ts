import * as official from '@meshagent/meshagent';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import { packMessage, unpackMessage } from '../../src/protocol/packing.js';

const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));

describe('packed messages (§D.3)', () => {
  it('writes an 8-byte big-endian header length, the JSON header and the payload', () => {
    expect(Buffer.from(packMessage({ a: 1 }, new Uint8Array([0xff]))).toString('hex')).toBe(`0000000000000007${Buffer.from('{"a":1}').toString('hex')}ff`);
  });

  it('reads a hex fixture into header and payload', () => {
    const { header, payload } = unpackMessage(fromHex('0000000000000002 7b7d 0102'));
    expect(header).toEqual({});
    expect(payload).toEqual(new Uint8Array([1, 2]));
  });

  it('strips the __meshagent__ key Python senders add', () => {
    const { header } = unpackMessage(packMessage({ type: 'empty', __meshagent__: { v: 1, otel: {} } }));
    expect(header).toEqual({ type: 'empty' });
  });

  it('produces the same bytes as the official client', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.uint8Array({ maxLength: 100 }), (header, payload) => {
        expect(Buffer.from(packMessage(header, payload))).toEqual(Buffer.from(official.packMessage(header, payload)));
      }),
    );
  });

  it('round-trips any header object and payload (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string().filter((k) => k !== '__meshagent__' && k !== '__proto__'),
          fc.jsonValue(),
        ),
        fc.uint8Array({ maxLength: 2000 }),
        (header, payload) => {
          const out = unpackMessage(packMessage(header, payload));
          expect(out.header).toEqual(JSON.parse(JSON.stringify(header)));
          expect(out.payload).toEqual(payload);
        },
      ),
    );
  });

  it.each([
    ['fewer than 8 bytes', '000000'],
    ['a length past the end', '0000000000000010 7b7d'],
    ['a header that is not JSON', '0000000000000002 7b7b'],
    ['a header that is not an object', '0000000000000002 5b5d'],
    ['a header that is not UTF-8', '0000000000000002 c328'],
  ])('refuses %s with RR_PACKED_MESSAGE_INVALID', (_name, hex) => {
    expect(() => unpackMessage(fromHex(hex))).toThrow(expect.objectContaining({ code: 'RR_PACKED_MESSAGE_INVALID' }));
  });

  it('throws only RoomrunnerError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          unpackMessage(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(RoomrunnerError);
        }
      }),
    );
  });
});
