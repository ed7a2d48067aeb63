/**
 * Permission checks from a participant's `api` grant (docs/protocol.md §B, §E.2, §E.5, §A.8).
 *
 * An absent ApiScope key denies that surface; `{}` allows it with every default (all `agents` booleans default
 * to true). A token with no `api` grant at all is allowed everything: old SDKs mint such tokens and the real
 * server only warns about them (§B, "without an api grant … the SDK only warns").
 */
import { RoomrunnerError } from '../errors.js';
import type { AgentsGrant, ApiScope, ApiScopeKey } from '../auth/token.js';

export type AgentsPermission = 'register_public_toolkit' | 'register_private_toolkit' | 'use_tools' | 'call';

/** Throws RR_EMULATOR_PERMISSION_DENIED (1001) unless `api` grants `agents.<permission>`. */
export function requireAgents(api: ApiScope | undefined, permission: AgentsPermission): void {
  if (api === undefined) return;
  const agents = api.agents as AgentsGrant | undefined;
  if (agents === undefined) throw denied(`the participant token has no agents grant (needed for agents.${permission})`);
  if (agents[permission] === false) throw denied(`the participant token does not grant agents.${permission}`);
}

/** Throws RR_EMULATOR_PERMISSION_DENIED (1001) unless `api` grants the `key` surface. */
export function requireApi(api: ApiScope | undefined, key: ApiScopeKey): void {
  if (api === undefined) return;
  if (api[key] === undefined) throw denied(`the participant token has no ${key} grant`);
}

/** False when the `agents.allowed_toolkits` list exists and does not name `toolkit`. */
export function toolkitAllowed(api: ApiScope | undefined, toolkit: string): boolean {
  const allowed = (api?.agents as AgentsGrant | undefined)?.allowed_toolkits;
  return !Array.isArray(allowed) || allowed.includes(toolkit);
}

/** Throws RR_EMULATOR_PERMISSION_DENIED (1001) when `agents.allowed_toolkits` excludes `toolkit`. */
export function requireToolkitAllowed(api: ApiScope | undefined, toolkit: string): void {
  if (!toolkitAllowed(api, toolkit)) throw denied(`the participant token does not allow toolkit '${toolkit}' (agents.allowed_toolkits)`);
}

function denied(message: string): RoomrunnerError {
  return new RoomrunnerError('RR_EMULATOR_PERMISSION_DENIED', message);
}
