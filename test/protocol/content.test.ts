import * as official from '@meshagent/meshagent';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import { contentFromParts, packContent, unpackContent, type Content } from '../../src/protocol/content.js';
import { packMessage } from '../../src/protocol/packing.js';

const contentArb: fc.Arbitrary<Content> = fc.oneof(
  fc.jsonValue().map((v) => ({ type: 'json' as const, json: JSON.parse(JSON.stringify(v ?? null)) as unknown })),
  fc.string().map((t) => ({ type: 'text' as const, text: t })),
  fc.record({ name: fc.string(), mimeType: fc.string(), data: fc.uint8Array({ maxLength: 300 }) }).map((r) => ({ type: 'file' as const, ...r })),
  fc.record({ name: fc.string(), url: fc.webUrl() }).map((r) => ({ type: 'link' as const, ...r })),
  fc.constant({ type: 'empty' as const }),
  fc.record({ text: fc.string(), code: fc.integer({ min: 1000, max: 9999 }) }).map((r) => ({ type: 'error' as const, ...r })),
  fc.record({ data: fc.uint8Array({ maxLength: 300 }) }).map((r) => ({ type: 'binary' as const, headers: { k: 'v' }, data: r.data })),
  fc.constant({ type: 'control' as const, method: 'open' as const }),
  fc.integer({ min: 1000, max: 1015 }).map((statusCode) => ({ type: 'control' as const, method: 'close' as const, statusCode })),
);

describe('contents (§D.4)', () => {
  it('round-trips every content type (property)', () => {
    fc.assert(
      fc.property(contentArb, (content) => {
        expect(unpackContent(packContent(content))).toEqual(content);
      }),
    );
  });

  it('uses the wire field names the official client reads (mime_type, status_code, code)', () => {
    const file = official.unpackContent(packContent({ type: 'file', name: 'a.txt', mimeType: 'text/plain', data: new Uint8Array([104, 105]) }));
    expect(file).toBeInstanceOf(official.FileContent);
    expect((file as official.FileContent).mimeType).toBe('text/plain');
    const err = official.unpackContent(packContent({ type: 'error', text: 'nope', code: 1003 })) as official.ErrorContent;
    expect([err.text, err.code]).toEqual(['nope', 1003]);
    const close = official.unpackContent(packContent({ type: 'control', method: 'close', statusCode: 1007 })) as official.ControlContent;
    expect([close.method, close.statusCode]).toEqual(['close', 1007]);
  });

  it('reads what the official client packs', () => {
    expect(unpackContent(new official.JsonContent({ json: { a: [1, 'x'] } }).pack())).toEqual({ type: 'json', json: { a: [1, 'x'] } });
    expect(unpackContent(new official.EmptyContent().pack())).toEqual({ type: 'empty' });
    expect(unpackContent(new official.LinkContent({ name: 'n', url: 'https://x.test' }).pack())).toEqual({ type: 'link', name: 'n', url: 'https://x.test' });
  });

  it('defaults a close control to status 1000', () => {
    expect(contentFromParts({ type: 'control', method: 'close' })).toEqual({ type: 'control', method: 'close', statusCode: 1000 });
  });

  it('tolerates a numeric string error code, as npm does', () => {
    expect(contentFromParts({ type: 'error', text: 'x', code: '1002' })).toEqual({ type: 'error', text: 'x', code: 1002 });
  });

  it('refuses an unknown type, including Python-only raw', () => {
    expect(() => unpackContent(packMessage({ type: 'raw', outputs: [] }))).toThrow(expect.objectContaining({ code: 'RR_CONTENT_UNKNOWN_TYPE' }));
  });

  it('refuses a content missing a required field', () => {
    expect(() => contentFromParts({ type: 'text' })).toThrow(expect.objectContaining({ code: 'RR_CONTENT_INVALID' }));
    expect(() => contentFromParts({ type: 'control', method: 'pause' })).toThrow(expect.objectContaining({ code: 'RR_CONTENT_INVALID' }));
  });

  it('throws only RoomrunnerError for random headers (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('type', 'text', 'name', 'url', 'method', 'mime_type', 'code', 'x'), fc.jsonValue()), (header) => {
        try {
          contentFromParts(header);
        } catch (error) {
          expect(error).toBeInstanceOf(RoomrunnerError);
        }
      }),
    );
  });
});
