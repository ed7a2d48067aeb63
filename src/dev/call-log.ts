/**
 * One line per call answered by roomrunner's agents in `roomrunner dev`, with its latency as the room server saw
 * it (from relaying the call to the host to the host's answer), read from the emulator's events
 * (docs/architecture.md §Style 11) rather than from roomrunner itself, so it also shows what a caller got when the
 * host never answered. Also tells when roomrunner's connection to a room closes, which a reload must never cause.
 */
import type { EmulatorEvent } from '../emulator/room-events.js';

export interface CallLogOptions {
  /** roomrunner's participant name in the rooms: only calls hosted by it are shown. */
  readonly identity: string;
  readonly say: (line: string) => void;
}

interface Pending {
  readonly at: number;
  readonly caller: string;
}

/** Builds the listener to pass to `emulator.roomServer.on('event', …)`. */
export function callLog(options: CallLogOptions): (event: EmulatorEvent) => void {
  const names = new Map<string, string>();
  const pending = new Map<string, Pending>();
  const hostedByUs = (event: EmulatorEvent): boolean => event.participantId !== undefined && names.get(event.participantId) === options.identity;
  const key = (event: EmulatorEvent): string => `${event.room}\u0000${event.toolCallId ?? ''}`;
  return (event) => {
    switch (event.kind) {
      case 'connected':
        if (event.participantId !== undefined && event.participantName !== undefined) names.set(event.participantId, event.participantName);
        return;
      case 'disconnected':
        if (hostedByUs(event)) {
          options.say(
            `roomrunner dev: roomrunner's connection to room "${event.room}" closed (${event.code ?? '?'}${event.reason ? `: ${event.reason}` : ''})`,
          );
        }
        if (event.participantId !== undefined) names.delete(event.participantId);
        return;
      case 'tool.called':
        if (!hostedByUs(event)) return;
        pending.set(key(event), { at: event.at, caller: (event.callerId !== undefined ? names.get(event.callerId) : undefined) ?? 'someone' });
        return;
      case 'tool.answered':
      case 'tool.failed': {
        const call = pending.get(key(event));
        if (call === undefined) return;
        pending.delete(key(event));
        const ms = Math.max(0, event.at - call.at);
        const what = `${event.toolkit}.${event.tool} from ${call.caller}`;
        if (event.kind === 'tool.failed') options.say(`  call ${what}: no answer after ${ms} ms (${event.reason ?? 'failed'})`);
        else if (event.ok === false) options.say(`  call ${what}: error${event.code === undefined ? '' : ` ${event.code}`} in ${ms} ms: ${event.reason ?? ''}`);
        else if (event.type === 'control') options.say(`  call ${what}: stream opened in ${ms} ms`);
        else options.say(`  call ${what}: ok in ${ms} ms`);
        return;
      }
      default:
        return;
    }
  };
}
