/**
 * Network failures in words a person can act on. `fetch` reports every failure as `TypeError: fetch failed` and
 * hides the reason in `cause` (an `ECONNREFUSED`, `ENOTFOUND` or timeout error, or, when a host name resolves to
 * several addresses, an AggregateError of one error per address); `ws` and `RoomConnection` wrap theirs the same
 * way. Every CLI command that calls out uses this: the message names the URL, the cause, and what to check.
 */

/** The cause chain is short in practice; the bound only guards against a cycle. */
const MAX_CAUSE_DEPTH = 8;

/**
 * `<what> failed: <reason>`, e.g. `POST http://127.0.0.1:9/webhook failed: connect ECONNREFUSED 127.0.0.1:9`.
 * @param what the call that failed, e.g. `POST <url>`; it must carry no secret (no token in a query string).
 */
export function describeNetworkError(err: unknown, what: string, options: { setting?: string } = {}): string {
  const hint = networkHint(err);
  if (hint === undefined) return `${what} failed: ${reasonOf(err)}`;
  return `${what} failed: ${reasonOf(err)} (${hint}${options.setting === undefined ? '' : `; the URL comes from ${options.setting}`})`;
}

/** What each cause means and what to check, by the code Node gives it. */
const HINTS: ReadonlyArray<{ codes: readonly string[]; hint: string }> = [
  { codes: ['ECONNREFUSED'], hint: 'nothing is listening there: start the server, or check the host and port' },
  { codes: ['ENOTFOUND'], hint: 'DNS: the host name does not resolve, check its spelling' },
  { codes: ['EAI_AGAIN'], hint: 'DNS: the lookup failed for now, check the network and the DNS server, then retry' },
  { codes: ['EHOSTUNREACH', 'ENETUNREACH'], hint: 'no route to the host: check the address and the network' },
  { codes: ['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'TimeoutError'], hint: 'no answer in time: check the host, the port and any firewall in between' },
  { codes: ['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'], hint: 'the server closed the connection: check that it speaks HTTP on that port' },
  {
    codes: [
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_GET_ISSUER_CERT',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    ],
    hint: "TLS: the server's certificate is not trusted here, add its CA with NODE_EXTRA_CA_CERTS=<ca.pem>",
  },
  { codes: ['CERT_HAS_EXPIRED'], hint: "TLS: the server's certificate has expired" },
  { codes: ['ERR_TLS_CERT_ALTNAME_INVALID'], hint: 'TLS: the certificate is for another host name, use a name it was issued for' },
  {
    codes: ['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST'],
    hint: 'TLS: the server does not speak TLS there, use http:// (ws://) for a plain server, or its TLS port',
  },
];

/**
 * What to check for a network failure (`nothing is listening there: …`, `DNS: …`, `TLS: …`), from the codes in
 * its cause chain; undefined when no cause is a known network failure.
 */
export function networkHint(err: unknown): string | undefined {
  const codes = new Set<string>();
  collectCodes(err, codes, 0);
  for (const { codes: known, hint } of HINTS) if (known.some((code) => codes.has(code))) return hint;
  if ([...codes].some((code) => code === 'EPROTO' || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'))) {
    return 'TLS: the handshake failed, check the scheme (https:// or wss://) and the port';
  }
  return undefined;
}

function collectCodes(err: unknown, codes: Set<string>, depth: number): void {
  if (!(err instanceof Error) || depth >= MAX_CAUSE_DEPTH) return;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') codes.add(code);
  if (err.name === 'TimeoutError') codes.add('TimeoutError');
  // ws reports TLS failures as EPROTO with OpenSSL's reason only in the message.
  if (/wrong version number|packet length too long/i.test(err.message)) codes.add('ERR_SSL_WRONG_VERSION_NUMBER');
  if (err instanceof AggregateError) for (const inner of err.errors) collectCodes(inner, codes, depth + 1);
  collectCodes(err.cause, codes, depth + 1);
}

/** The innermost useful reason in an error's cause chain. */
export function reasonOf(err: unknown): string {
  let current: unknown = err;
  let reason = describeOne(err);
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    if (current instanceof AggregateError && current.errors.length > 0) {
      return unique(current.errors.map((inner: unknown) => reasonOf(inner))).join('; ');
    }
    const own = describeOne(current);
    if (own !== '' && !isWrapper(current)) reason = own;
    current = current.cause;
  }
  return reason === '' ? 'unknown error' : reason;
}

/** `fetch failed` and the like say nothing beyond "see the cause". */
function isWrapper(err: Error): boolean {
  return err instanceof TypeError && /^fetch failed$/i.test(err.message) && err.cause !== undefined;
}

function describeOne(err: unknown): string {
  if (!(err instanceof Error)) return err === undefined ? '' : String(err);
  const code = (err as { code?: unknown }).code;
  if (err.name === 'TimeoutError') return `no answer in time (${err.message})`;
  const message = opensslReason(err.message);
  if (typeof code === 'string' && !message.includes(code)) return message === '' ? code : `${code}: ${message}`;
  return message;
}

/**
 * OpenSSL's `…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/…` as `TLS wrong version
 * number`; any other message as it is.
 */
function opensslReason(message: string): string {
  const reason = /SSL routines:[^:]*:([^:]+)/.exec(message)?.[1];
  return reason === undefined ? message : `TLS ${reason.trim()}`;
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
