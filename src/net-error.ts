/**
 * Network failures in words a person can act on. `fetch` reports every failure as `TypeError: fetch failed` and
 * hides the reason in `cause` (an `ECONNREFUSED`, `ENOTFOUND` or timeout error, or, when a host name resolves to
 * several addresses, an AggregateError of one error per address). Every CLI command that calls out uses this.
 */

/** The cause chain is short in practice; the bound only guards against a cycle. */
const MAX_CAUSE_DEPTH = 8;

/**
 * `<what> failed: <reason>`, e.g. `POST http://127.0.0.1:9/webhook failed: connect ECONNREFUSED 127.0.0.1:9`.
 * @param what the call that failed, e.g. `POST <url>`; it must carry no secret (no token in a query string).
 */
export function describeNetworkError(err: unknown, what: string): string {
  return `${what} failed: ${reasonOf(err)}`;
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
  if (typeof code === 'string' && !err.message.includes(code)) return err.message === '' ? code : `${code}: ${err.message}`;
  return err.message;
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
