/**
 * Webhook signatures: one entry for the sender (the emulator) and the receiver (the webhook server), so
 * both sides run the same code for each scheme.
 */
import { RoomrunnerError } from '../../errors.js';
import { DEFAULT_HMAC_HEADER, signHmacHex, verifyHmacHex } from './hmac-hex.js';
import { MESHAGENT_SIGNATURE_HEADER, signMeshagent, verifyMeshagent } from './meshagent.js';
import { STANDARD_WEBHOOK_HEADERS, readSingleHeader, signStandardWebhook, verifyStandardWebhook, type HeaderRecord } from './standard-webhooks.js';

export { DEFAULT_HMAC_HEADER, signHmacHex, verifyHmacHex } from './hmac-hex.js';
export type { VerifiedHmacHex, VerifyHmacHexInput } from './hmac-hex.js';
export {
  MESHAGENT_SIGNATURE_HEADER,
  buildMeshagentDelivery,
  sha256Hex,
  signMeshagent,
  verifyMeshagent,
} from './meshagent.js';
export type { MeshagentDelivery, VerifiedMeshagent, VerifyMeshagentInput } from './meshagent.js';
export {
  MAX_NESTING_DEPTH,
  pythonDumps,
  pythonDumpsFromJsonText,
  pythonJsonFloat,
  pythonJsonString,
} from './python-json.js';
export {
  DEFAULT_TOLERANCE_SECONDS,
  STANDARD_WEBHOOK_HEADERS,
  decodeStandardWebhookSecret,
  readSingleHeader,
  signStandardWebhook,
  verifyStandardWebhook,
} from './standard-webhooks.js';
export type { HeaderRecord, VerifiedStandardWebhook, VerifyStandardWebhookInput } from './standard-webhooks.js';

/** Every signature scheme a webhook endpoint can use (the one list: config, CLI and emulator take it from here). */
export const SIGNATURE_SCHEMES = ['meshagent', 'standard-webhooks', 'hmac-sha256'] as const;

/** The signature schemes a webhook endpoint can use. */
export type SignatureScheme = (typeof SIGNATURE_SCHEMES)[number];

export interface SignWebhookInput {
  /** The exact bytes that will be sent (for `meshagent`, build them with `pythonDumps`). */
  readonly body: string | Uint8Array;
  readonly secret: string;
  /** `standard-webhooks` only: the message id, the same on every retry. */
  readonly id?: string;
  /** `standard-webhooks` only: seconds since the epoch of this attempt. */
  readonly timestamp?: number;
  /** `hmac-sha256` only: the header name, default {@link DEFAULT_HMAC_HEADER}. */
  readonly header?: string;
}

/**
 * The signature headers to send with `body` (header names in lower case).
 * @throws RoomrunnerError `RR_WEBHOOK_SECRET_INVALID` for a bad secret; `RR_WEBHOOK_SIGNATURE_MALFORMED`
 *   when `standard-webhooks` is asked to sign without `id` and `timestamp`.
 */
export function signWebhook(scheme: 'standard-webhooks', input: SignWebhookInput & { readonly id: string; readonly timestamp: number }): Record<string, string>;
export function signWebhook(scheme: SignatureScheme, input: SignWebhookInput): Record<string, string>;
export function signWebhook(scheme: SignatureScheme, input: SignWebhookInput): Record<string, string> {
  switch (scheme) {
    case 'meshagent':
      return { [MESHAGENT_SIGNATURE_HEADER]: signMeshagent(input.body, input.secret) };
    case 'standard-webhooks': {
      const { id, timestamp } = input;
      if (id === undefined || id === '' || timestamp === undefined) {
        throw new RoomrunnerError('RR_WEBHOOK_SIGNATURE_MALFORMED', 'standard-webhooks signing needs `id` and `timestamp`');
      }
      return {
        [STANDARD_WEBHOOK_HEADERS.id]: id,
        [STANDARD_WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [STANDARD_WEBHOOK_HEADERS.signature]: signStandardWebhook(id, timestamp, input.body, input.secret),
      };
    }
    case 'hmac-sha256':
      return { [(input.header ?? DEFAULT_HMAC_HEADER).toLowerCase()]: signHmacHex(input.body, input.secret) };
  }
}

export interface VerifyWebhookInput {
  /** The body exactly as received. */
  readonly rawBody: Uint8Array | string;
  readonly headers: HeaderRecord;
  /** Accepted secrets; several during rotation. */
  readonly secrets: readonly string[];
  /** Seconds since the epoch (Standard Webhooks tolerance, MeshAgent JWT `exp`). Defaults to the wall clock. */
  readonly now?: number;
  /** `standard-webhooks` only. */
  readonly toleranceSeconds?: number;
  /** `hmac-sha256` only: the header name, default {@link DEFAULT_HMAC_HEADER}. */
  readonly header?: string;
}

export interface VerifiedWebhook {
  /**
   * What identifies the delivered message across retries: `sha256:<digest>` for MeshAgent (the signed
   * digest; deliveries have no id, §A.4), the `webhook-id` for Standard Webhooks, and
   * `sha256:<hex of the raw body>` for hex HMAC. Record it only after verification (docs/references.md §receiver-pitfalls).
   */
  readonly dedupeKey: string;
}

/**
 * Verifies a delivery with `scheme`.
 * @throws RoomrunnerError with an `RR_WEBHOOK_*` code whose `httpStatus` is the answer to send.
 */
export function verifyWebhook(scheme: SignatureScheme, input: VerifyWebhookInput): VerifiedWebhook {
  const { rawBody, headers, secrets } = input;
  switch (scheme) {
    case 'meshagent': {
      const header = readSingleHeader(headers, MESHAGENT_SIGNATURE_HEADER);
      const { digest } = verifyMeshagent({ rawBody, header, secrets, now: input.now });
      return { dedupeKey: `sha256:${digest}` };
    }
    case 'standard-webhooks': {
      const { now, toleranceSeconds } = input;
      const { id } = verifyStandardWebhook({ rawBody, headers, secrets, now, toleranceSeconds });
      return { dedupeKey: id };
    }
    case 'hmac-sha256': {
      const { bodySha256 } = verifyHmacHex({ rawBody, headers, secrets, headerName: input.header });
      return { dedupeKey: `sha256:${bodySha256}` };
    }
  }
}
