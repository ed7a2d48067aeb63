import { describe, expect, it } from 'vitest';
import { describeNetworkError, reasonOf } from '../src/net-error.js';
import { freePort } from './faults/support.js';

describe('describeNetworkError', () => {
  it('names the URL and ECONNREFUSED for a fetch to a closed port, not just "fetch failed"', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/webhook`;
    const error = await fetch(url, { method: 'POST' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(describeNetworkError(error, `POST ${url}`)).toBe(`POST ${url} failed: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('lists each address of an AggregateError once', () => {
    const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
    const error = new TypeError('fetch failed', { cause: new AggregateError([refused('::1:8080'), refused('127.0.0.1:8080'), refused('::1:8080')]) });
    expect(reasonOf(error)).toBe('connect ECONNREFUSED ::1:8080; connect ECONNREFUSED 127.0.0.1:8080');
  });

  it('adds the code when the message lacks it, and says what a timeout is', () => {
    const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    expect(reasonOf(new TypeError('fetch failed', { cause: reset }))).toBe('UND_ERR_SOCKET: other side closed');
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(reasonOf(timeout)).toBe('no answer in time (The operation was aborted due to timeout)');
  });

  it('falls back to the message of an error without a cause, or to words for a non-error', () => {
    expect(reasonOf(new Error('boom'))).toBe('boom');
    expect(reasonOf('plain')).toBe('plain');
    expect(reasonOf(undefined)).toBe('unknown error');
  });
});
