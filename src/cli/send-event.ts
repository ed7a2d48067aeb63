/**
 * `roomrunner send-event <event> --room <r> --url <webhook url>`: POST an event signed exactly as the platform
 * signs it (MeshAgent scheme by default: Python-compatible JSON, `Meshagent-Signature: Bearer <jwt>`), to test a
 * webhook endpoint by hand. Prints the status and the answer; exit 0 on 2xx.
 */
import { randomUUID } from 'node:crypto';
import { pythonDumps, signWebhook, SIGNATURE_SCHEMES, type SignatureScheme } from '../webhooks/signatures/index.js';
import { describeNetworkError } from '../net-error.js';
import { roomUrl } from '../room/url.js';
import { choiceFlag, formatHelp, parseFlags, urlFlag, UsageError, USAGE_EXIT_CODE, type FlagSpecs } from './args.js';
import type { Command } from './main.js';
import { errorMessage } from '../util/error-message.js';

const EVENTS = ['room.started', 'room.ended', 'room.call', 'webhook.ping'] as const;

const FLAGS = {
  room: { type: 'string', placeholder: '<name>', description: 'Room name (room events).' },
  url: { type: 'string', placeholder: '<url>', description: 'Webhook URL to POST to (required), e.g. http://127.0.0.1:8080/webhook.' },
  'room-url': { type: 'string', placeholder: '<ws url>', description: 'room_url to send; default <api-url>/rooms/<room>.' },
  'api-url': {
    type: 'string',
    placeholder: '<url>',
    env: 'MESHAGENT_API_URL',
    description: 'Base for the default room_url.',
    defaultText: 'https://api.meshagent.com',
  },
  secret: { type: 'string', placeholder: '<secret>', env: 'MESHAGENT_WEBHOOK_SECRET', description: 'Webhook secret; unsigned without one.' },
  scheme: { type: 'string', placeholder: '<scheme>', description: `Signature scheme: ${SIGNATURE_SCHEMES.join(', ')}.`, defaultText: 'meshagent' },
  header: { type: 'string', placeholder: '<name>', description: 'Header for hmac-sha256.', defaultText: 'x-meshia-signature' },
  'session-id': { type: 'string', placeholder: '<id>', description: 'session_id to include (roomrunner uses it for tombstones).' },
  token: { type: 'string', placeholder: '<jwt>', description: 'Participant token for room.call.' },
} as const satisfies FlagSpecs;

export const command: Command = {
  summary: 'POST a signed webhook event (room.started, room.ended, room.call) to a URL',
  async run(argv) {
    try {
      const [first, ...rest] = argv;
      const event = first && !first.startsWith('-') ? first : undefined;
      const parsed = parseFlags(event ? rest : argv, FLAGS, { env: process.env });
      if (parsed.help) {
        console.log(formatHelp('send-event <event>', `Send ${EVENTS.join(', ')} signed like the platform.`, FLAGS));
        return 0;
      }
      const v = parsed.values;
      if (!event) throw new UsageError(`name the event first, e.g. roomrunner send-event room.started --room demo --url http://127.0.0.1:8080/webhook`);
      if (!v.url) throw new UsageError('--url <webhook url> is required');
      const url = urlFlag('url', v.url);
      const scheme = choiceFlag('scheme', v.scheme, SIGNATURE_SCHEMES, 'meshagent' as SignatureScheme);
      const data: Record<string, unknown> = {};
      if (event.startsWith('room.')) {
        if (!v.room) throw new UsageError(`--room <name> is required for ${event}`);
        data['room_name'] = v.room;
        if (event !== 'room.ended') data['room_url'] = v['room-url'] ?? roomUrl(v['api-url'] ?? 'https://api.meshagent.com', v.room);
        if (event === 'room.call') {
          if (!v.token) throw new UsageError('--token <participant jwt> is required for room.call');
          data['token'] = v.token;
          data['arguments'] = null;
        }
      }
      if (v['session-id']) data['session_id'] = v['session-id'];
      const body = pythonDumps({ event, data });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (v.secret) {
        Object.assign(
          headers,
          signWebhook(scheme, {
            body,
            secret: v.secret,
            id: `msg_${randomUUID()}`,
            timestamp: Math.floor(Date.now() / 1000),
            ...(v.header ? { header: v.header } : {}),
          }),
        );
      }
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, { method: 'POST', headers, body });
        text = await response.text();
      } catch (error) {
        console.error(`roomrunner send-event: ${describeNetworkError(error, `POST ${url}`, { setting: '--url' })}`);
        return 1;
      }
      console.log(`${response.status} ${text}`);
      if (response.status === 401) console.error(`roomrunner send-event: ${refusedHint(v.secret !== undefined)}`);
      return response.ok ? 0 : 1;
    } catch (error) {
      if (error instanceof UsageError) {
        console.error(`roomrunner send-event: ${error.message}`);
        return USAGE_EXIT_CODE;
      }
      console.error(`roomrunner send-event: ${errorMessage(error)}`);
      return 1;
    }
  },
};

/** What to check when the receiver refuses the signature (401). */
function refusedHint(signed: boolean): string {
  return signed
    ? 'the receiver refused the signature: sign with the secret it checks (its MESHAGENT_WEBHOOK_SECRET or --webhook-secret) through --secret or MESHAGENT_WEBHOOK_SECRET here, with a --scheme it accepts'
    : 'sent unsigned and refused: pass --secret (or set MESHAGENT_WEBHOOK_SECRET) to the secret the receiver checks';
}
