import { describe, expect, it } from 'vitest';
import { RoomrunnerError } from '../../src/errors.js';
import { errorResponse } from '../../src/http/error-response.js';

describe('errorResponse', () => {
  it('answers a catalog error with its status, code and message', () => {
    const err = new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISMATCH', 'no configured secret matches');
    expect(errorResponse(err)).toStrictEqual({ status: 401, code: 'RR_WEBHOOK_SIGNATURE_MISMATCH', message: 'no configured secret matches', expected: true });
  });

  it('answers a catalog error that has no HTTP status as an unexpected 500 that names nothing', () => {
    const err = new RoomrunnerError('RR_FRAME_TOO_SHORT', 'a frame of 3 bytes');
    expect(errorResponse(err)).toStrictEqual({ status: 500, code: 'RR_HTTP_INTERNAL', message: 'internal error', expected: false });
  });

  it('maps fastify router errors into the catalog, without echoing an over-long path', () => {
    const tooLong = Object.assign(new Error(`'${'k'.repeat(2000)}' is exceeding the max param length`), { code: 'FST_ERR_MAX_PARAM_LENGTH', statusCode: 414 });
    expect(errorResponse(tooLong)).toMatchObject({ status: 414, code: 'RR_HTTP_URI_TOO_LONG', message: 'a path parameter is longer than 1024 characters' });
    const badUrl = Object.assign(new Error("'%' is not a valid url component"), { code: 'FST_ERR_BAD_URL', statusCode: 400 });
    expect(errorResponse(badUrl)).toMatchObject({ status: 400, code: 'RR_HTTP_BAD_REQUEST' });
  });

  it('maps fastify body errors to the webhook codes with their status', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
    expect(errorResponse(tooLarge)).toStrictEqual({ status: 413, code: 'RR_WEBHOOK_BODY_TOO_LARGE', message: 'Request body is too large', expected: true });
    const media = Object.assign(new Error("Unsupported Media Type: 'text/plain'"), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 });
    expect(errorResponse(media)).toMatchObject({ status: 415, code: 'RR_WEBHOOK_UNSUPPORTED_MEDIA_TYPE' });
  });

  it("keeps the status of fastify's other client errors, and answers 404 as not found", () => {
    const aborted = Object.assign(new Error('Request aborted'), { statusCode: 400 });
    expect(errorResponse(aborted)).toStrictEqual({ status: 400, code: 'RR_HTTP_BAD_REQUEST', message: 'Request aborted', expected: true });
    expect(errorResponse(Object.assign(new Error('gone'), { statusCode: 404 }))).toMatchObject({
      status: 404,
      code: 'RR_HTTP_NOT_FOUND',
      message: 'not found',
    });
  });

  it('answers anything else as an unexpected 500, whatever its message says', () => {
    for (const err of [new Error('password=hunter2'), 'a string', undefined, Object.assign(new Error('upstream'), { statusCode: 502 })]) {
      expect(errorResponse(err)).toStrictEqual({ status: 500, code: 'RR_HTTP_INTERNAL', message: 'internal error', expected: false });
    }
  });
});
