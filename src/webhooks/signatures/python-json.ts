/**
 * Python `json.dumps(obj)` with default arguments, in TypeScript (docs/protocol.md §A.4).
 *
 * MeshAgent's Python sender signs `json.dumps(envelope)` and its Python verifier re-serialises the parsed
 * body the same way before hashing. To sign bodies Python can verify, and to verify bodies that went
 * through a re-formatting proxy, we need the same bytes:
 *
 * - separators `", "` and `": "`, keys in insertion order;
 * - `ensure_ascii`: every character outside 0x20–0x7E as lowercase `\uXXXX` (astral characters as
 *   surrogate pairs, DEL as `\u007f`), with the short escapes `\" \\ \n \r \t \b \f`;
 * - ints as written, floats as Python's `repr` (shortest round-trip digits, exponent form when the
 *   decimal exponent is < -4 or >= 16, e.g. `1e-07`, `1e+16`, `100000.0`), non-finite as `NaN`/`Infinity`.
 *
 * JS cannot tell `1` from `1.0` once parsed, so {@link pythonDumps} prints integral numbers as ints, while
 * {@link pythonDumpsFromJsonText} works on the JSON text and keeps each number's int/float nature, and
 * Python's duplicate-key and key-order behaviour (JS objects move integer-like keys to the front).
 */
import { RoomrunnerError } from '../../errors.js';

/**
 * Deepest nesting accepted. CPython's json recurses per level and fails near its default recursion
 * limit of 1000, so no Python peer can sign or verify anything deeper either.
 */
export const MAX_NESTING_DEPTH = 1000;

// CPython 3.11+ refuses to convert int literals longer than this (sys.int_info.default_max_str_digits).
const MAX_INT_DIGITS = 4300;

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  34: '\\"',
  92: '\\\\',
  10: '\\n',
  13: '\\r',
  9: '\\t',
  8: '\\b',
  12: '\\f',
};

/** A JSON string literal exactly as Python's `json.dumps` (with `ensure_ascii=True`) writes it. */
export function pythonJsonString(value: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x20 && code <= 0x7e && code !== 0x22 && code !== 0x5c) continue;
    // Code units, not code points: an astral character comes out as its surrogate pair, as in Python.
    out += value.slice(start, i) + (SHORT_ESCAPES[code] ?? `\\u${code.toString(16).padStart(4, '0')}`);
    start = i + 1;
  }
  return `${out}${value.slice(start)}"`;
}

/** A float as `json.dumps` writes it: Python's `float.__repr__`, with `NaN`/`Infinity`/`-Infinity`. */
export function pythonJsonFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  // toExponential() without an argument gives the shortest round-trip digits, the same digits as
  // Python's repr (both pick the shortest string that reads back, closest to the exact value on ties).
  const { digits, exponent } = shortestDigits(Math.abs(value));
  const point = exponent + 1; // digits d1d2… mean 0.d1d2… × 10^point
  if (point <= -4 || point > 16) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expSign = exponent < 0 ? '-' : '+';
    return `${sign}${mantissa}e${expSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * Serialises a JS value like Python's `json.dumps`. Integral numbers print as ints (JS has lost any
 * `.0`); numbers beyond 2^53 keep only their shortest digits. Object keys follow JS order, which puts
 * integer-like keys first: when the original text is at hand, prefer {@link pythonDumpsFromJsonText}.
 * Object properties that are `undefined` are skipped, as `JSON.stringify` does.
 * @throws RoomrunnerError `RR_WEBHOOK_BODY_NOT_JSON` for cycles, too-deep nesting or non-JSON values.
 */
export function pythonDumps(value: unknown): string {
  return dumpValue(value, new Set<object>());
}

function dumpValue(value: unknown, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return pythonJsonString(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      return Number.isInteger(value) ? integralNumber(value) : pythonJsonFloat(value);
    case 'object':
      if (value === null) return 'null';
      return dumpContainer(value, ancestors);
    default:
      throw notJson(`a ${typeof value} is not a JSON value`);
  }
}

function dumpContainer(value: object, ancestors: Set<object>): string {
  if (ancestors.has(value)) throw notJson('the value has a circular reference');
  if (ancestors.size >= MAX_NESTING_DEPTH) throw notJson(`the value nests deeper than ${MAX_NESTING_DEPTH} levels`);
  ancestors.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = `[${value.map((item: unknown) => dumpValue(item, ancestors)).join(', ')}]`;
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw notJson('only plain objects and arrays are JSON containers');
    const members: string[] = [];
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) members.push(`${pythonJsonString(key)}: ${dumpValue(item, ancestors)}`);
    }
    out = `{${members.join(', ')}}`;
  }
  ancestors.delete(value);
  return out;
}

/** An integral double as an int literal: its shortest digits, zero-padded (so 1e23 prints as 1 and 23 zeros). */
function integralNumber(value: number): string {
  const { digits, exponent } = shortestDigits(Math.abs(value));
  if (digits === '0') return '0'; // also -0, which Python's int has no spelling for
  return `${value < 0 ? '-' : ''}${digits}${'0'.repeat(exponent + 1 - digits.length)}`;
}

function shortestDigits(magnitude: number): { digits: string; exponent: number } {
  const [mantissa = '0', exponent = '0'] = magnitude.toExponential().split('e');
  return { digits: mantissa.replace('.', ''), exponent: Number(exponent) };
}

/**
 * What Python gives for `json.dumps(json.loads(text))`, computed on the text itself: numbers keep their
 * int or float nature, duplicate keys keep their first position and last value (Python's dict), and the
 * constants `NaN`, `Infinity` and `-Infinity` are accepted as Python accepts them.
 * @throws RoomrunnerError `RR_WEBHOOK_BODY_NOT_JSON` when Python's `json.loads` would refuse the text.
 */
export function pythonDumpsFromJsonText(text: string): string {
  return new PythonJsonReader(text, DUMPS).run();
}

/**
 * Parses JSON text as Python's `json.loads` does, so a body that Python's `json.dumps` wrote (with `NaN`,
 * `Infinity` or `-Infinity` in it, which `JSON.parse` refuses) reads as it was meant: those constants become
 * the JS numbers of the same name, a duplicate key keeps its last value, and an int longer than 4300 digits is
 * refused as CPython refuses it. JS has one number type, so an int beyond 2^53 keeps only its nearest double.
 * @throws RoomrunnerError `RR_WEBHOOK_BODY_NOT_JSON` when Python's `json.loads` would refuse the text.
 */
export function pythonJsonLoads(text: string): unknown {
  return new PythonJsonReader(text, LOADS).run();
}

const WHITESPACE = /[ \t\n\r]*/y;
const NUMBER = /(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?/y;
// Characters that can be copied as is from a JSON string body: printable ASCII except `"` and `\`.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters end a plain run, as in JSON
const PLAIN_RUN = /[^"\\\u0000-\u001f]*/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const STRING_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};
const CONSTANTS = ['true', 'false', 'null', 'NaN', 'Infinity', '-Infinity'] as const;
type JsonConstant = (typeof CONSTANTS)[number];

/** What the reader makes of each JSON value it has read: Python's serialisation, or a JS value. */
interface JsonBuilder<T> {
  string(value: string): T;
  /** `integer` is the literal's sign and integer digits; the literal is a float when it has a fraction or exponent. */
  number(literal: string, integer: string, isFloat: boolean): T;
  constant(name: JsonConstant): T;
  /** A Map keeps the first position of a key and takes its last value: the same as a Python dict. */
  object(members: ReadonlyMap<string, T>): T;
  array(items: readonly T[]): T;
}

const DUMPS: JsonBuilder<string> = {
  string: pythonJsonString,
  // An int: Python keeps every digit, and `-0` is the int 0.
  number: (literal, integer, isFloat) => (isFloat ? pythonJsonFloat(Number(literal)) : integer === '-0' ? '0' : integer),
  constant: (name) => name,
  object: (members) => `{${Array.from(members, ([key, value]) => `${pythonJsonString(key)}: ${value}`).join(', ')}}`,
  array: (items) => `[${items.join(', ')}]`,
};

const CONSTANT_VALUES: Readonly<Record<JsonConstant, unknown>> = {
  true: true,
  false: false,
  null: null,
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

const LOADS: JsonBuilder<unknown> = {
  string: (value) => value,
  number: (literal, _integer, isFloat) => (isFloat ? Number(literal) : Number(literal) || 0),
  constant: (name) => CONSTANT_VALUES[name],
  // fromEntries defines own properties, so a `__proto__` key is data, as in JSON.parse.
  object: (members) => Object.fromEntries(members),
  array: (items) => [...items],
};

/** A recursive-descent reader of JSON text with Python's `json.loads` rules, building values with a builder. */
class PythonJsonReader<T> {
  readonly #text: string;
  readonly #build: JsonBuilder<T>;
  #pos = 0;

  constructor(text: string, build: JsonBuilder<T>) {
    this.#text = text;
    this.#build = build;
  }

  run(): T {
    this.#skipWhitespace();
    const out = this.#value(0);
    this.#skipWhitespace();
    if (this.#pos !== this.#text.length) throw this.#error('extra data after the JSON value');
    return out;
  }

  #value(depth: number): T {
    const char = this.#text[this.#pos];
    if (char === '{') return this.#object(depth + 1);
    if (char === '[') return this.#array(depth + 1);
    if (char === '"') return this.#build.string(this.#string());
    if (char !== undefined && (char === '-' || (char >= '0' && char <= '9'))) {
      const number = this.#number();
      if (number !== undefined) return number;
    }
    for (const constant of CONSTANTS) {
      if (this.#text.startsWith(constant, this.#pos)) {
        this.#pos += constant.length;
        return this.#build.constant(constant);
      }
    }
    throw this.#error('expected a JSON value');
  }

  #object(depth: number): T {
    this.#checkDepth(depth);
    this.#pos++; // `{`
    const members = new Map<string, T>();
    this.#skipWhitespace();
    if (this.#eat('}')) return this.#build.object(members);
    for (;;) {
      if (this.#text[this.#pos] !== '"') throw this.#error('expected a string key');
      const key = this.#string();
      this.#skipWhitespace();
      if (!this.#eat(':')) throw this.#error('expected `:` after an object key');
      this.#skipWhitespace();
      members.set(key, this.#value(depth));
      this.#skipWhitespace();
      if (this.#eat('}')) break;
      if (!this.#eat(',')) throw this.#error('expected `,` or `}` in an object');
      this.#skipWhitespace();
    }
    return this.#build.object(members);
  }

  #array(depth: number): T {
    this.#checkDepth(depth);
    this.#pos++; // `[`
    const items: T[] = [];
    this.#skipWhitespace();
    if (this.#eat(']')) return this.#build.array(items);
    for (;;) {
      items.push(this.#value(depth));
      this.#skipWhitespace();
      if (this.#eat(']')) break;
      if (!this.#eat(',')) throw this.#error('expected `,` or `]` in an array');
      this.#skipWhitespace();
    }
    return this.#build.array(items);
  }

  /** Reads a number literal; undefined when none starts here (e.g. `-Infinity`). */
  #number(): T | undefined {
    NUMBER.lastIndex = this.#pos;
    const match = NUMBER.exec(this.#text);
    if (match === null) return undefined;
    this.#pos = NUMBER.lastIndex;
    const [literal, integer = '', fraction, exponent] = match;
    const isFloat = fraction !== undefined || exponent !== undefined;
    if (!isFloat && integer.replace('-', '').length > MAX_INT_DIGITS) throw this.#error('an integer literal has too many digits');
    return this.#build.number(literal, integer, isFloat);
  }

  /** Reads a string literal and returns its decoded value. */
  #string(): string {
    this.#pos++; // opening quote
    let out = '';
    for (;;) {
      PLAIN_RUN.lastIndex = this.#pos;
      PLAIN_RUN.exec(this.#text);
      out += this.#text.slice(this.#pos, PLAIN_RUN.lastIndex);
      this.#pos = PLAIN_RUN.lastIndex;
      const char = this.#text[this.#pos];
      if (char === '"') {
        this.#pos++;
        return out;
      }
      if (char !== '\\') throw this.#error(char === undefined ? 'unterminated string' : 'control character in a string');
      const escapeChar = this.#text[this.#pos + 1] ?? '';
      if (escapeChar === 'u') {
        const hex = this.#text.slice(this.#pos + 2, this.#pos + 6);
        if (!HEX4.test(hex)) throw this.#error('invalid \\uXXXX escape');
        // Lone surrogates are kept, as Python keeps them; pairs rejoin into one character.
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.#pos += 6;
        continue;
      }
      const decoded = STRING_ESCAPES[escapeChar];
      if (decoded === undefined) throw this.#error('invalid escape in a string');
      out += decoded;
      this.#pos += 2;
    }
  }

  #checkDepth(depth: number): void {
    if (depth > MAX_NESTING_DEPTH) throw this.#error(`nesting deeper than ${MAX_NESTING_DEPTH} levels`);
  }

  #skipWhitespace(): void {
    WHITESPACE.lastIndex = this.#pos;
    WHITESPACE.exec(this.#text);
    this.#pos = WHITESPACE.lastIndex;
  }

  #eat(char: string): boolean {
    if (this.#text[this.#pos] !== char) return false;
    this.#pos++;
    return true;
  }

  #error(reason: string): RoomrunnerError {
    return notJson(`${reason} at offset ${this.#pos}`, { offset: this.#pos });
  }
}

function notJson(message: string, data?: Record<string, unknown>): RoomrunnerError {
  return new RoomrunnerError('RR_WEBHOOK_BODY_NOT_JSON', `not Python-compatible JSON: ${message}`, data ? { data } : {});
}
