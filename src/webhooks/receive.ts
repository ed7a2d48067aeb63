/**
 * The framework-free half of receiving a webhook: pick the signature scheme, verify the raw bytes, parse the
 * envelope. The fastify plugin (plugin.ts) only moves bytes and calls these; a failure's HTTP answer comes from
 * the one edge mapping, src/http/error-response.ts (docs/architecture.md §Style 4).
 */
import { createHash } from 'node:crypto';
import { RoomrunnerError } from '../errors.js';
import {
  DEFAULT_HMAC_HEADER,
  MESHAGENT_SIGNATURE_HEADER,
  STANDARD_WEBHOOK_HEADERS,
  decodeStandardWebhookSecret,
  verifyWebhook,
  type HeaderRecord,
  type SignatureScheme,
} from './signatures/index.js';
import { pythonJsonLoads } from './signatures/python-json.js';
import { parseEvent, type WebhookEvent } from './events.js';

/** The scheme a delivery was accepted under; `none` only with `--insecure`. */
export type ReceivedScheme = SignatureScheme | 'none';

export interface VerifierOptions {
  /** Accepted secrets (several during a rotation). */
  readonly secrets: readonly string[];
  /** Schemes to accept; a header of any other scheme is ignored. */
  readonly schemes: readonly SignatureScheme[];
  /** Header of the `hmac-sha256` scheme. Default `x-meshia-signature`. */
  readonly hmacHeader?: string;
  /** Accept unsigned deliveries (local work only). A signature that is present is still checked. */
  readonly insecure?: boolean;
  /** Standard Webhooks tolerance, default ±300 s. */
  readonly toleranceSeconds?: number;
}

export interface Authenticated {
  readonly scheme: ReceivedScheme;
  /** Identifies the delivered message across retries (see `VerifiedWebhook.dedupeKey`). */
  readonly dedupeKey: string;
}

/** Verifies deliveries against the configured schemes and secrets. */
export class WebhookVerifier {
  readonly #schemes: readonly SignatureScheme[];
  readonly #secrets: readonly string[];
  /** Only secrets that decode as `whsec_<base64>` (or bare base64) can key Standard Webhooks. */
  readonly #standardSecrets: readonly string[];
  readonly #hmacHeader: string;
  readonly #insecure: boolean;
  readonly #toleranceSeconds: number | undefined;

  constructor(options: VerifierOptions) {
    this.#schemes = [...options.schemes];
    this.#secrets = options.secrets.filter((secret) => typeof secret === 'string' && secret !== '');
    this.#standardSecrets = this.#secrets.filter(isStandardSecret);
    this.#hmacHeader = (options.hmacHeader ?? DEFAULT_HMAC_HEADER).toLowerCase();
    this.#insecure = options.insecure === true;
    this.#toleranceSeconds = options.toleranceSeconds;
  }

  /** The header names a sender may sign with, one per configured scheme. */
  get signatureHeaders(): string[] {
    return this.#schemes.map((scheme) => this.#headerOf(scheme));
  }

  /**
   * The configured scheme whose signature header is present (MeshAgent first, then Standard Webhooks, then
   * hex HMAC), or undefined.
   */
  detect(headers: HeaderRecord): SignatureScheme | undefined {
    for (const scheme of ['meshagent', 'standard-webhooks', 'hmac-sha256'] as const) {
      if (this.#schemes.includes(scheme) && hasHeader(headers, this.#headerOf(scheme))) return scheme;
    }
    return undefined;
  }

  /**
   * Verifies `rawBody` with the scheme whose header is present, against every secret.
   * @param nowSeconds seconds since the epoch (Standard Webhooks tolerance).
   * @throws RoomrunnerError with an HTTP 401 code (`RR_WEBHOOK_SIGNATURE_*`, `RR_WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE`).
   */
  authenticate(rawBody: Uint8Array, headers: HeaderRecord, nowSeconds: number): Authenticated {
    const scheme = this.detect(headers);
    if (scheme === undefined || (this.#insecure && this.#secrets.length === 0)) {
      if (this.#insecure) return { scheme: 'none', dedupeKey: `sha256:${createHash('sha256').update(rawBody).digest('hex')}` };
      throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISSING', `missing signature: send one of ${this.signatureHeaders.join(', ')}`, {
        data: { headers: this.signatureHeaders },
      });
    }
    const secrets = scheme === 'standard-webhooks' ? this.#standardSecrets : this.#secrets;
    if (secrets.length === 0) {
      throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MISMATCH', 'no configured secret can verify a Standard Webhooks signature (they need whsec_<base64>)');
    }
    try {
      const { dedupeKey } = verifyWebhook(scheme, {
        rawBody,
        headers,
        secrets,
        now: nowSeconds,
        header: this.#hmacHeader,
        ...(this.#toleranceSeconds === undefined ? {} : { toleranceSeconds: this.#toleranceSeconds }),
      });
      return { scheme, dedupeKey };
    } catch (err) {
      // Anything but a 401 here means the input hit a path the verifier did not classify: still a bad signature.
      if (err instanceof RoomrunnerError && err.httpStatus === 401) throw err;
      throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MALFORMED', 'the webhook signature could not be checked', { cause: err });
    }
  }

  #headerOf(scheme: SignatureScheme): string {
    switch (scheme) {
      case 'meshagent':
        return MESHAGENT_SIGNATURE_HEADER;
      case 'standard-webhooks':
        return STANDARD_WEBHOOK_HEADERS.signature;
      case 'hmac-sha256':
        return this.#hmacHeader;
    }
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses a verified body into an event. The body is read as Python's `json.loads` reads it, since MeshAgent's
 * sender writes it with Python's `json.dumps`: a float that is not finite arrives as `NaN` or `Infinity`, which
 * `JSON.parse` refuses (docs/protocol.md §A.4). `JSON.parse` reads everything else, faster.
 * @throws RoomrunnerError `RR_WEBHOOK_BODY_NOT_JSON` (not UTF-8, or not JSON Python accepts),
 *   `RR_WEBHOOK_ENVELOPE_INVALID` or `RR_WEBHOOK_NAME_INVALID`.
 */
export function parseWebhookBody(rawBody: Uint8Array): WebhookEvent {
  let text: string;
  try {
    text = STRICT_UTF8.decode(rawBody);
  } catch (cause) {
    throw new RoomrunnerError('RR_WEBHOOK_BODY_NOT_JSON', 'the webhook body is not UTF-8', { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = pythonJsonLoads(text);
  }
  return parseEvent(parsed);
}

function hasHeader(headers: HeaderRecord, name: string): boolean {
  const value = headers[name];
  if (value === undefined) return false;
  return typeof value === 'string' ? value !== '' : value.length > 0;
}

function isStandardSecret(secret: string): boolean {
  try {
    decodeStandardWebhookSecret(secret);
    return true;
  } catch {
    return false;
  }
}
