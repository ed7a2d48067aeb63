/**
 * Content values, docs/protocol.md §D.4: the argument and result encoding of room requests. A content is a
 * packed message whose header has a `type`. Inside requests a content is often split: its header goes into a
 * field (`arguments`, `chunk`) and its payload becomes the message payload; {@link contentToParts} and
 * {@link contentFromParts} handle that split, {@link packContent} and {@link unpackContent} the whole form.
 */
import { RoomrunnerError } from '../errors.js';
import { packMessage, unpackMessage, type JsonObject } from './packing.js';

export type JsonContent = { readonly type: 'json'; readonly json: unknown };
export type TextContent = { readonly type: 'text'; readonly text: string };
export type FileContent = { readonly type: 'file'; readonly name: string; readonly mimeType: string; readonly data: Uint8Array };
export type LinkContent = { readonly type: 'link'; readonly name: string; readonly url: string };
export type EmptyContent = { readonly type: 'empty' };
export type ErrorContent = { readonly type: 'error'; readonly text: string; readonly code?: number };
export type BinaryContent = { readonly type: 'binary'; readonly headers: JsonObject; readonly data: Uint8Array };
export type ControlContent = {
  readonly type: 'control';
  readonly method: 'open' | 'close';
  /** With `close`: 1000 normal (the default), 1007 invalid data (§G). */
  readonly statusCode?: number;
  readonly message?: string;
};

export type Content = JsonContent | TextContent | FileContent | LinkContent | EmptyContent | ErrorContent | BinaryContent | ControlContent;

export type ContentType = Content['type'];

export const CONTENT_TYPES: readonly ContentType[] = ['json', 'text', 'file', 'link', 'empty', 'error', 'binary', 'control'];

/** Control close status codes (§G, "in-band stream close codes"). */
export const CONTROL_CLOSE_NORMAL = 1000;
export const CONTROL_CLOSE_INVALID_DATA = 1007;

const EMPTY = new Uint8Array(0);

export const json = (value: unknown): JsonContent => ({ type: 'json', json: value });
export const text = (value: string): TextContent => ({ type: 'text', text: value });
export const empty = (): EmptyContent => ({ type: 'empty' });
export const errorContent = (message: string, code?: number): ErrorContent =>
  code === undefined ? { type: 'error', text: message } : { type: 'error', text: message, code };

/** Split a content into its header (wire field names) and payload. */
export function contentToParts(content: Content): { header: JsonObject; payload: Uint8Array } {
  switch (content.type) {
    case 'json':
      return { header: { type: 'json', json: content.json }, payload: EMPTY };
    case 'text':
      return { header: { type: 'text', text: content.text }, payload: EMPTY };
    case 'file':
      return { header: { type: 'file', name: content.name, mime_type: content.mimeType }, payload: content.data };
    case 'link':
      return { header: { type: 'link', name: content.name, url: content.url }, payload: EMPTY };
    case 'empty':
      return { header: { type: 'empty' }, payload: EMPTY };
    case 'error':
      return {
        header: content.code === undefined ? { type: 'error', text: content.text } : { type: 'error', text: content.text, code: content.code },
        payload: EMPTY,
      };
    case 'binary':
      return { header: { type: 'binary', headers: content.headers }, payload: content.data };
    case 'control': {
      const header: JsonObject = { type: 'control', method: content.method };
      if (content.method === 'close') header['status_code'] = content.statusCode ?? CONTROL_CLOSE_NORMAL;
      else if (content.statusCode !== undefined) header['status_code'] = content.statusCode;
      if (content.message !== undefined) header['message'] = content.message;
      return { header, payload: EMPTY };
    }
  }
}

/**
 * Build a content from a header and payload. Throws RR_CONTENT_UNKNOWN_TYPE for a type outside §D.4 (Python's
 * `raw` included: npm clients cannot read it either) and RR_CONTENT_INVALID for a missing required field.
 */
export function contentFromParts(header: JsonObject, payload: Uint8Array = EMPTY): Content {
  const type = header['type'];
  switch (type) {
    case 'json':
      return { type: 'json', json: header['json'] ?? null };
    case 'text':
      return { type: 'text', text: requireString(header, 'text') };
    case 'file':
      return { type: 'file', name: requireString(header, 'name'), mimeType: requireString(header, 'mime_type'), data: payload };
    case 'link':
      return { type: 'link', name: requireString(header, 'name'), url: requireString(header, 'url') };
    case 'empty':
      return { type: 'empty' };
    case 'error': {
      const code = toInteger(header['code']);
      const message = typeof header['text'] === 'string' ? header['text'] : 'unknown error';
      return code === undefined ? { type: 'error', text: message } : { type: 'error', text: message, code };
    }
    case 'binary': {
      const headers = header['headers'];
      return { type: 'binary', headers: isObject(headers) ? headers : {}, data: payload };
    }
    case 'control': {
      const method = header['method'];
      if (method !== 'open' && method !== 'close') {
        throw new RoomrunnerError('RR_CONTENT_INVALID', `control content has method ${JSON.stringify(method)}, expected "open" or "close"`);
      }
      const statusCode = toInteger(header['status_code']) ?? (method === 'close' ? CONTROL_CLOSE_NORMAL : undefined);
      const message = typeof header['message'] === 'string' ? header['message'] : undefined;
      return {
        type: 'control',
        method,
        ...(statusCode === undefined ? {} : { statusCode }),
        ...(message === undefined ? {} : { message }),
      };
    }
    default:
      throw new RoomrunnerError('RR_CONTENT_UNKNOWN_TYPE', `unknown content type ${JSON.stringify(type)}`, { data: { type } });
  }
}

/** Pack a whole content (header + payload). */
export function packContent(content: Content): Uint8Array {
  const { header, payload } = contentToParts(content);
  return packMessage(header, payload);
}

/** Unpack a whole content; throws RoomrunnerError on any malformed input. */
export function unpackContent(bytes: Uint8Array): Content {
  const { header, payload } = unpackMessage(bytes);
  return contentFromParts(header, payload);
}

function requireString(header: JsonObject, key: string): string {
  const value = header[key];
  if (typeof value !== 'string') {
    throw new RoomrunnerError('RR_CONTENT_INVALID', `${String(header['type'])} content needs a string "${key}"`);
  }
  return value;
}

/** Integers, and numeric strings, which npm tolerates for `code` and `status_code` (§D.4). */
function toInteger(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number.parseInt(value, 10);
  return undefined;
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
