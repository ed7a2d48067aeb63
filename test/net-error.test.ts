import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { describeNetworkError, networkHint, reasonOf } from '../src/net-error.js';
import { freePort } from './faults/support.js';

describe('describeNetworkError', () => {
  it('names the URL and ECONNREFUSED for a fetch to a closed port, not just "fetch failed"', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/webhook`;
    const error = await fetch(url, { method: 'POST' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(describeNetworkError(error, `POST ${url}`)).toBe(
      `POST ${url} failed: connect ECONNREFUSED 127.0.0.1:${port} (nothing is listening there: start the server, or check the host and port)`,
    );
    expect(describeNetworkError(error, `POST ${url}`, { setting: '--url' })).toMatch(/; the URL comes from --url\)$/);
  });

  it('says TLS, in words, when an https URL reaches a plain HTTP server', async () => {
    const server = http.createServer((_request, response) => response.end('plain'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const url = `https://127.0.0.1:${port}/webhook`;
      const error = await fetch(url, { method: 'POST' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      // OpenSSL names the symptom "wrong version number" (or, in some builds, "packet length too long").
      expect(describeNetworkError(error, `POST ${url}`)).toMatch(
        /^POST \S+ failed: ERR_SSL_[A-Z_]+: TLS [a-z ]+ \(TLS: the server does not speak TLS there, use http:\/\/ \(ws:\/\/\) for a plain server, or its TLS port\)$/,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
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

  it('says what to check for DNS, untrusted and misnamed certificates, and a TLS failure reported by ws', () => {
    const coded = (message: string, code: string) => Object.assign(new Error(message), { code });
    const wrapped = (cause: Error) => new TypeError('fetch failed', { cause });
    expect(networkHint(wrapped(coded('getaddrinfo ENOTFOUND nohost.invalid', 'ENOTFOUND')))).toBe('DNS: the host name does not resolve, check its spelling');
    expect(networkHint(wrapped(coded('getaddrinfo EAI_AGAIN api.example', 'EAI_AGAIN')))).toMatch(/^DNS: the lookup failed for now/);
    expect(networkHint(wrapped(coded('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT')))).toBe(
      "TLS: the server's certificate is not trusted here, add its CA with NODE_EXTRA_CA_CERTS=<ca.pem>",
    );
    expect(networkHint(coded("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'))).toMatch(
      /^TLS: the certificate is for another host name/,
    );
    const ws = coded('write EPROTO 80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/ssl3_record.c:350:', 'EPROTO');
    expect(reasonOf(ws)).toBe('EPROTO: TLS wrong version number');
    expect(networkHint(new Error('websocket connect failed', { cause: ws }))).toMatch(/^TLS: the server does not speak TLS there/);
    expect(networkHint(coded('handshake failure', 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE'))).toBe(
      'TLS: the handshake failed, check the scheme (https:// or wss://) and the port',
    );
  });

  it('gives no hint for a failure that is not the network', () => {
    expect(networkHint(new Error('boom'))).toBeUndefined();
    expect(describeNetworkError(new Error('boom'), 'GET x')).toBe('GET x failed: boom');
  });

  it('falls back to the message of an error without a cause, or to words for a non-error', () => {
    expect(reasonOf(new Error('boom'))).toBe('boom');
    expect(reasonOf('plain')).toBe('plain');
    expect(reasonOf(undefined)).toBe('unknown error');
  });
});
