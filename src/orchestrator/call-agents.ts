/**
 * Which agents a `room.call` asks for. Its `arguments.agents`, when present, is a list of agent (toolkit) names
 * and only those are attached; absent or null means every agent. A name roomrunner does not host, or a value
 * that is not a list of names, is refused with a clear error (the delivery is recorded `failed`) rather than
 * silently attaching everything or nothing.
 */
import type { Toolkit } from '../agents/define-agent.js';
import { RoomrunnerError } from '../errors.js';

/**
 * The agents to host for a call with these arguments, in the order named (each once).
 * @throws RoomrunnerError `RR_CALL_AGENTS_UNKNOWN` naming the unknown names and the known ones.
 */
export function agentsForCall(all: readonly Toolkit[], args: Readonly<Record<string, unknown>> | null | undefined): readonly Toolkit[] {
  const named = args?.['agents'];
  if (named === undefined || named === null) return all;
  const known = all.map((toolkit) => toolkit.name);
  if (!Array.isArray(named) || !named.every((name): name is string => typeof name === 'string')) {
    throw new RoomrunnerError('RR_CALL_AGENTS_UNKNOWN', `room.call arguments.agents must be a list of agent names (known: ${known.join(', ')})`, {
      data: { known },
    });
  }
  const byName = new Map(all.map((toolkit) => [toolkit.name, toolkit]));
  const unknown = named.filter((name) => !byName.has(name));
  if (unknown.length > 0) {
    throw new RoomrunnerError('RR_CALL_AGENTS_UNKNOWN', `room.call names agents roomrunner does not host: ${unknown.join(', ')} (known: ${known.join(', ')})`, {
      data: { unknown, known },
    });
  }
  return [...new Set(named)].map((name) => byName.get(name)!);
}
