/**
 * People and agents in emulator rooms, as the end-to-end tests need them: a person joined with the OFFICIAL
 * @meshagent/meshagent client, and the moment the Adder is registered in a room.
 */
import { RoomClient, WebSocketClientProtocol } from '@meshagent/meshagent';
import { agentDefaultApiScope, mintParticipantToken } from '../../src/auth/token.js';
import type { Emulator } from '../../src/emulator/index.js';

/**
 * A person in `room`, joined with the official client on a token signed with `secret`; disposed by the
 * function pushed onto `cleanups`.
 */
export async function officialPerson(emulator: Emulator, room: string, secret: string, cleanups: Array<() => unknown>): Promise<RoomClient> {
  const token = mintParticipantToken({ name: 'person', room, role: 'user', secret, api: agentDefaultApiScope() });
  const client = new RoomClient({ protocolFactory: WebSocketClientProtocol.createFactory({ url: emulator.roomUrl(room), token }) });
  client.ready.catch(() => undefined);
  await client.start();
  cleanups.push(() => client.dispose());
  return client;
}

/** Resolves with the registration once `samples.adder` is registered in `room` (also if it already was). */
export function adderRegistered(emulator: Emulator, room: string) {
  return emulator.roomServer.waitForEvent((e) => e.kind === 'toolkit.registered' && e.room === room && e.toolkit === 'samples.adder', { includePast: true });
}
