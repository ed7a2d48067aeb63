/**
 * The one mapping of errors to HTTP answers (docs/architecture.md §Style 4): a catalog error answers its `http`
 * status with its code and message, fastify's own errors are mapped into the catalog, and anything else is a
 * 500 that names nothing. The app's error handler, the webhook plugin and the websocket handoff all answer
 * through it, each in the envelope `{ok:false, error:{code, message}}`.
 */
import { ERROR_CATALOG, RoomrunnerError, type ErrorCode, type ErrorSpec } from '../errors.js';
import { MAX_PARAM_LENGTH } from './server-limits.js';

/** What an error answers at the HTTP edge: `{ok:false, error:{code, message}}` with the catalog's status. */
export interface ErrorResponse {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  /** False for 5xx we did not mean to send: log them as bugs. */
  readonly expected: boolean;
}

const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'RR_WEBHOOK_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'RR_WEBHOOK_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_MAX_PARAM_LENGTH: 'RR_HTTP_URI_TOO_LONG',
  FST_ERR_BAD_URL: 'RR_HTTP_BAD_REQUEST',
};

/** Maps any error to its HTTP answer: catalog errors by their code, fastify's own by status, the rest to 500. */
export function errorResponse(err: unknown): ErrorResponse {
  if (err instanceof RoomrunnerError) {
    const spec: ErrorSpec = ERROR_CATALOG[err.code];
    if (spec.http !== undefined) return { status: spec.http, code: err.code, message: err.message, expected: true };
    return internal();
  }
  const fastifyCode = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
  const mapped = fastifyCode === undefined ? undefined : FASTIFY_CODES[fastifyCode];
  // fastify's message would echo the whole over-long path.
  if (mapped === 'RR_HTTP_URI_TOO_LONG') return fromCatalog(mapped, `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`);
  if (mapped !== undefined) return fromCatalog(mapped, (err as Error).message);
  const status = (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status === 404) return fromCatalog('RR_HTTP_NOT_FOUND', 'not found');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // fastify's client errors (bad Content-Length, aborted body...): their messages name no secrets.
    return { status, code: 'RR_HTTP_BAD_REQUEST', message: (err as Error).message ?? 'bad request', expected: true };
  }
  return internal();
}

function fromCatalog(code: ErrorCode, message: string): ErrorResponse {
  const spec: ErrorSpec = ERROR_CATALOG[code];
  return { status: spec.http ?? 500, code, message, expected: true };
}

function internal(): ErrorResponse {
  return { status: 500, code: 'RR_HTTP_INTERNAL', message: 'internal error', expected: false };
}
