import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MASK, mask, maskedBody } from '../../src/dashboard/mask.js';

describe('maskedBody', () => {
  it('masks tokens and secrets at any depth and keeps everything else', () => {
    const body = JSON.stringify({ event: 'room.call', data: { room_name: 'r', token: 'jwt', arguments: { nested: { api_key: 'k', a: 1 } } } });
    expect(JSON.parse(maskedBody(body))).toEqual({ event: 'room.call', data: { room_name: 'r', token: MASK, arguments: { nested: { api_key: MASK, a: 1 } } } });
  });

  it('returns text that is not JSON unchanged', () => {
    expect(maskedBody('not json')).toBe('not json');
  });

  it('never lets a value under a secret-named key through, for any JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ minLength: 1 }), (value, secret) => {
        const shown = JSON.stringify(mask({ wrapper: [value, { Token: secret, password: secret }] }));
        const parsed = JSON.parse(shown) as { wrapper: [unknown, { Token: string; password: string }] };
        expect(parsed.wrapper[1]).toEqual({ Token: MASK, password: MASK });
      }),
    );
  });
});
