import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRoomrunnerError } from '../../../src/errors.js';
import {
  MAX_NESTING_DEPTH,
  pythonDumps,
  pythonDumpsFromJsonText,
  pythonJsonFloat,
  pythonJsonLoads,
  pythonJsonString,
} from '../../../src/webhooks/signatures/python-json.js';

// Generated with CPython 3.11: [JSON text, json.dumps(json.loads(text))].
const TEXT_VECTORS: ReadonlyArray<readonly [string, string]> = [
  [
    '{"event": "room.started", "data": {"room_name": "caf\\u00e9 \\u2615", "count": 3}}',
    '{"event": "room.started", "data": {"room_name": "caf\\u00e9 \\u2615", "count": 3}}',
  ],
  ['"h\\u00e9llo w\\u00f6rld \\u4e2d\\u6587"', '"h\\u00e9llo w\\u00f6rld \\u4e2d\\u6587"'],
  ['"emoji \\ud83d\\ude00 and \\ud83c\\udf89"', '"emoji \\ud83d\\ude00 and \\ud83c\\udf89"'],
  ['"lone \\ud800 surrogate"', '"lone \\ud800 surrogate"'],
  ['"ctl \\u0000 \\u0001 \\u001f \\u007f \\n \\r \\t \\b \\f \\" \\\\ \\/ end"', '"ctl \\u0000 \\u0001 \\u001f \\u007f \\n \\r \\t \\b \\f \\" \\\\ / end"'],
  ['[1.0, 0.1, 1e20, 1e-7, -0.0, 1.5e-7, 1e5, 1E5, 2.5, 100.0]', '[1.0, 0.1, 1e+20, 1e-07, -0.0, 1.5e-07, 100000.0, 100000.0, 2.5, 100.0]'],
  [
    '[1e15, 1e16, 1.5e16, 123456789012345678, 0.0001, 0.00001, 5e-324, 1.7976931348623157e308, 1e400, -1e400]',
    '[1000000000000000.0, 1e+16, 1.5e+16, 123456789012345678, 0.0001, 1e-05, 5e-324, 1.7976931348623157e+308, Infinity, -Infinity]',
  ],
  [
    '[0, -0, 12, -12, 99999999999999999999999999, 3.14159, 0.30000000000000004, 1e22, 1e23, 123e-20]',
    '[0, 0, 12, -12, 99999999999999999999999999, 3.14159, 0.30000000000000004, 1e+22, 1e+23, 1.23e-18]',
  ],
  ['{"b": 1, "a": {"2": [true, false, null], "1": {}}, "c": [], "10": "x"}', '{"b": 1, "a": {"2": [true, false, null], "1": {}}, "c": [], "10": "x"}'],
  ['{"dup": 1, "other": 2, "dup": 3}', '{"dup": 3, "other": 2}'],
  [' \t\n\r[ 1 , { "a" : "b" } ] \n', '[1, {"a": "b"}]'],
  ['NaN', 'NaN'],
  ['[NaN, Infinity, -Infinity]', '[NaN, Infinity, -Infinity]'],
  ['{"nested": {"deep": {"deeper": [[[[]]]], "x": -1.25e-10}}}', '{"nested": {"deep": {"deeper": [[[[]]]], "x": -1.25e-10}}}'],
  ['"\\u00E9 uppercase hex escape"', '"\\u00e9 uppercase hex escape"'],
  ['"raw utf8: caf\u00e9 \u2615 \ud83d\ude00"', '"raw utf8: caf\\u00e9 \\u2615 \\ud83d\\ude00"'],
  ['[1.0e0, 10.0e-1, 0.5e1, 123.456e2, -9.999999999999999e22]', '[1.0, 1.0, 5.0, 12345.6, -1e+23]'],
  [
    '{"event":"room.ended","data":{"room_name":"Z\u00fcrich","duration":12.5,"ratio":1.0}}',
    '{"event": "room.ended", "data": {"room_name": "Z\\u00fcrich", "duration": 12.5, "ratio": 1.0}}',
  ],
];

// Generated with CPython 3.11 from values without integral floats or integer-like keys, so the parsed-value
// path must agree too: [compact JSON text, json.dumps(value)].
const VALUE_VECTORS: ReadonlyArray<readonly [string, string]> = [
  [
    '{"event":"room.started","data":{"room_name":"caf\u00e9 \u2615 \ud83d\ude00","participants":["a","b"],"load":0.25}}',
    '{"event": "room.started", "data": {"room_name": "caf\\u00e9 \\u2615 \\ud83d\\ude00", "participants": ["a", "b"], "load": 0.25}}',
  ],
  [
    '["\\u0000\\u001f\u007f\u0080\uffff","tab\\tnew\\nline","quote\\"back\\\\slash","/"]',
    '["\\u0000\\u001f\\u007f\\u0080\\uffff", "tab\\tnew\\nline", "quote\\"back\\\\slash", "/"]',
  ],
  ['[0.1,1.5e-07,1e-07,2.5e-300,-0.5,123.456,0.3,1e-05,5e-324]', '[0.1, 1.5e-07, 1e-07, 2.5e-300, -0.5, 123.456, 0.3, 1e-05, 5e-324]'],
  [
    '{"nested":{"list":[1,-2,3000000000,{"k":null,"t":true,"f":false}],"empty":{},"arr":[]}}',
    '{"nested": {"list": [1, -2, 3000000000, {"k": null, "t": true, "f": false}], "empty": {}, "arr": []}}',
  ],
  ['"\ud83c\udf89 party \u00e9\u00e8"', '"\\ud83c\\udf89 party \\u00e9\\u00e8"'],
  ['12345678901234', '12345678901234'],
];

// Generated with CPython 3.11: [repr(x), json.dumps(x)] for fixed and random doubles (random bit patterns included).
const FLOAT_VECTORS: ReadonlyArray<readonly [string, string]> = [
  ['0.0', '0.0'],
  ['-0.0', '-0.0'],
  ['1.0', '1.0'],
  ['-1.0', '-1.0'],
  ['0.1', '0.1'],
  ['0.30000000000000004', '0.30000000000000004'],
  ['0.3333333333333333', '0.3333333333333333'],
  ['0.6666666666666666', '0.6666666666666666'],
  ['1e+16', '1e+16'],
  ['9999999999999998.0', '9999999999999998.0'],
  ['9007199254740992.0', '9007199254740992.0'],
  ['1000000000000000.0', '1000000000000000.0'],
  ['123456789.125', '123456789.125'],
  ['0.0001', '0.0001'],
  ['9.999e-05', '9.999e-05'],
  ['1e-05', '1e-05'],
  ['1e+22', '1e+22'],
  ['1e+23', '1e+23'],
  ['1e+300', '1e+300'],
  ['5e-324', '5e-324'],
  ['2.2250738585072014e-308', '2.2250738585072014e-308'],
  ['1.7976931348623157e+308', '1.7976931348623157e+308'],
  ['4.35', '4.35'],
  ['0.000123', '0.000123'],
  ['1234567890123456.8', '1234567890123456.8'],
  ['1.2345678901234568e+16', '1.2345678901234568e+16'],
  ['5e-05', '5e-05'],
  ['100.0', '100.0'],
  ['1e-07', '1e-07'],
  ['1.5e-07', '1.5e-07'],
  ['-1.989032661366619e+244', '-1.989032661366619e+244'],
  ['7.761117632285041e+178', '7.761117632285041e+178'],
  ['3.980498358697587e-249', '3.980498358697587e-249'],
  ['-1.5432835417340557e+88', '-1.5432835417340557e+88'],
  ['1.3647584518757569e-192', '1.3647584518757569e-192'],
  ['-1.3701135617873088e-206', '-1.3701135617873088e-206'],
  ['-1.7160537630466207e+197', '-1.7160537630466207e+197'],
  ['6.294675241195386e-44', '6.294675241195386e-44'],
  ['1.0613447212142254e-202', '1.0613447212142254e-202'],
  ['4.708325160387546e+207', '4.708325160387546e+207'],
  ['6.387016158513563e-12', '6.387016158513563e-12'],
  ['-9.973130378568733e-246', '-9.973130378568733e-246'],
  ['8.779753225680271e-236', '8.779753225680271e-236'],
  ['-5.795503248498993e-228', '-5.795503248498993e-228'],
  ['-5.988180159386011e+243', '-5.988180159386011e+243'],
  ['-1.306052388527796e-147', '-1.306052388527796e-147'],
  ['-2.436117699484841e-206', '-2.436117699484841e-206'],
  ['2.233386999150174e-232', '2.233386999150174e-232'],
  ['-3.51527970626667e-203', '-3.51527970626667e-203'],
  ['1.5987381841032883e-247', '1.5987381841032883e-247'],
  ['4.6678633181812096e-36', '4.6678633181812096e-36'],
  ['-8.441872792105456e-239', '-8.441872792105456e-239'],
  ['1.9015657400796622e-144', '1.9015657400796622e-144'],
  ['7.370437700706684e+208', '7.370437700706684e+208'],
  ['-711489.833285125', '-711489.833285125'],
  ['-764415.5238432633', '-764415.5238432633'],
  ['-383036.35179613123', '-383036.35179613123'],
  ['632252.7182400627', '632252.7182400627'],
  ['-638547.240152125', '-638547.240152125'],
  ['163200.32732493244', '163200.32732493244'],
  ['277826.9378523682', '277826.9378523682'],
  ['-255204.91454853758', '-255204.91454853758'],
  ['95488.93141911575', '95488.93141911575'],
  ['-874422.0500533537', '-874422.0500533537'],
  ['-880797.6600675347', '-880797.6600675347'],
  ['-588082.5743613469', '-588082.5743613469'],
  ['6.803999731817859e+16', '6.803999731817859e+16'],
  ['7.77228774980807e+18', '7.77228774980807e+18'],
  ['5.855618635076387e+18', '5.855618635076387e+18'],
  ['36158.23559445664', '36158.23559445664'],
  ['79437.94815224911', '79437.94815224911'],
  ['81855010.79576984', '81855010.79576984'],
  ['52519650381.14514', '52519650381.14514'],
  ['72944528.94392176', '72944528.94392176'],
];

function expectNotJson(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(isRoomrunnerError(thrown, 'RR_WEBHOOK_BODY_NOT_JSON'), String(thrown)).toBe(true);
}

/** Random JSON values whose numbers print the same whether JS or Python parsed them (|x| < 1e21). */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e20, max: 1e20 }),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value')),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value')),
  ),
})).value;

const hasPython = spawnSync('python3', ['-c', 'import json'], { encoding: 'utf8' }).status === 0;

describe('pythonJsonLoads', () => {
  it('reads the constants Python writes for floats that are not finite', () => {
    expect(pythonJsonLoads('[NaN, Infinity, -Infinity, -0, 1.5, 12]')).toStrictEqual([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      0,
      1.5,
      12,
    ]);
  });

  it('keeps the last value of a duplicate key and a __proto__ key as data, as JSON.parse does', () => {
    const value = pythonJsonLoads('{"a": 1, "__proto__": {"polluted": true}, "a": 2}') as Record<string, unknown>;
    expect(value['a']).toBe(2);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('agrees with JSON.parse on any JSON text', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(pythonJsonLoads(text)).toStrictEqual(JSON.parse(text));
      }),
    );
  });

  it('refuses what Python refuses', () => {
    for (const text of ['nan', '{"a": 1,}', '1'.repeat(4301), '[1] 2']) expectNotJson(() => pythonJsonLoads(text));
  });
});

describe('pythonDumpsFromJsonText', () => {
  it.each(TEXT_VECTORS)('matches CPython json.dumps(json.loads(%j))', (text, expected) => {
    expect(pythonDumpsFromJsonText(text)).toBe(expected);
  });

  it.each([
    ['empty text', ''],
    ['unclosed object', '{'],
    ['trailing comma in an array', '[1,]'],
    ['trailing comma in an object', '{"a": 1,}'],
    ['leading zero', '01'],
    ['bare fraction', '.5'],
    ['dangling point', '1.'],
    ['dangling exponent', '1e'],
    ['plus sign', '+1'],
    ['raw control character in a string', '"a\u0001b"'],
    ['unknown escape', '"\\x41"'],
    ['short unicode escape', '"\\u12"'],
    ['single quotes', "'a'"],
    ['lower-case nan', 'nan'],
    ['truncated literal', 'tru'],
    ['two values', '1 2'],
    ['a byte order mark', '\ufeff{}'],
    ['non-string key', '{1: 2}'],
    ['an int longer than CPython allows', '1'.repeat(4301)],
  ])('refuses %s as Python would', (_name, text) => {
    expectNotJson(() => pythonDumpsFromJsonText(text));
  });

  it('accepts nesting up to the limit and refuses one level more', () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    expect(pythonDumpsFromJsonText(nested(MAX_NESTING_DEPTH))).toBe(nested(MAX_NESTING_DEPTH));
    expectNotJson(() => pythonDumpsFromJsonText(nested(MAX_NESTING_DEPTH + 1)));
  });

  it('keeps the order of integer-like keys, which a JS object would move to the front', () => {
    expect(pythonDumpsFromJsonText('{"b":1,"2":2,"1":3}')).toBe('{"b": 1, "2": 2, "1": 3}');
  });

  it('agrees with the parsed-value path on any JSON.stringify output', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(pythonDumpsFromJsonText(JSON.stringify(value))).toBe(pythonDumps(value));
      }),
    );
  });

  it('never throws anything but RR_WEBHOOK_BODY_NOT_JSON on arbitrary text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.json().map((text) => text.slice(0, -1)),
        ),
        (text) => {
          try {
            pythonDumpsFromJsonText(text);
          } catch (err) {
            expect(isRoomrunnerError(err, 'RR_WEBHOOK_BODY_NOT_JSON')).toBe(true);
          }
        },
      ),
    );
  });
});

describe('pythonDumps', () => {
  it.each(VALUE_VECTORS)('matches CPython json.dumps for the value of %j', (text, expected) => {
    expect(pythonDumps(JSON.parse(text))).toBe(expected);
    expect(pythonDumpsFromJsonText(text)).toBe(expected);
  });

  it('prints integral numbers as ints, because JS cannot tell 1 from 1.0', () => {
    expect(pythonDumps([1, 1.0, -0, 3e9, 1e21, 1e23, 2 ** 53])).toBe(
      '[1, 1, 0, 3000000000, 1000000000000000000000, 100000000000000000000000, 9007199254740992]',
    );
  });

  it('prints non-finite numbers and bigints as Python does', () => {
    expect(pythonDumps([NaN, Infinity, -Infinity, 12345678901234567890n])).toBe('[NaN, Infinity, -Infinity, 12345678901234567890]');
  });

  it('skips undefined properties like JSON.stringify', () => {
    expect(pythonDumps({ a: 1, b: undefined, c: 'x' })).toBe('{"a": 1, "c": "x"}');
  });

  it('refuses cycles, non-plain objects and non-JSON values', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expectNotJson(() => pythonDumps(cyclic));
    expectNotJson(() => pythonDumps(new Map()));
    expectNotJson(() => pythonDumps([undefined]));
    expectNotJson(() => pythonDumps(() => 1));
  });

  it('serialises a shared (non-cyclic) sub-object every time it appears', () => {
    const shared = { k: 'v' };
    expect(pythonDumps([shared, shared])).toBe('[{"k": "v"}, {"k": "v"}]');
  });

  it('round-trips any JSON value through JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(pythonDumps(value))).toStrictEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('writes only printable ASCII', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(pythonDumps(value)).toMatch(/^[\x20-\x7e]*$/);
      }),
    );
  });
});

describe('pythonJsonFloat', () => {
  it.each(FLOAT_VECTORS)('prints %s as CPython json.dumps does', (repr, expected) => {
    expect(pythonJsonFloat(Number(repr))).toBe(expected);
  });
});

describe('pythonJsonString', () => {
  it('escapes like ensure_ascii: short escapes, lowercase \\u, astral as surrogate pairs, DEL', () => {
    expect(pythonJsonString('a"\\\n\r\t\b\f\u0000\u001f\u007f/é😀')).toBe('"a\\"\\\\\\n\\r\\t\\b\\f\\u0000\\u001f\\u007f/\\u00e9\\ud83d\\ude00"');
  });
});

describe.runIf(hasPython)('against the python3 on this machine', () => {
  it('gives the same bytes as json.dumps(json.loads(text)) for random JSON texts', () => {
    const values = fc.sample(jsonValue, { numRuns: 300, seed: 42 });
    const texts = values.map((value) => JSON.stringify(value));
    texts.push(...values.map((value) => JSON.stringify(value, null, 2)), '[1.0, 1e5, -0.0, 1.5e-7, 1e22]');
    const script = 'import json,sys\nprint(json.dumps([json.dumps(json.loads(t)) for t in json.load(sys.stdin)]))';
    const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(texts), encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(run.status, run.stderr).toBe(0);
    const expected = JSON.parse(run.stdout) as string[];
    expect(texts.map((text) => pythonDumpsFromJsonText(text))).toStrictEqual(expected);
  });
});
