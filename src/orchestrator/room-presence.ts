/**
 * A room joined with agents, wherever the room work runs (docs/architecture.md §Composition): in this thread
 * ({@link joinInProcess}, a `RoomConnection` and an `AgentHost` here) or on a room worker thread
 * (./room-workers.ts). The attachments (./attachments.ts) see only this interface, so where rooms run is the
 * composition's choice.
 */
import type { Toolkit } from '../agents/define-agent.js';
import { joinRoom, type JoinedRoom, type ToolkitsReplaced } from '../agents/host.js';
import type { CallOutcome } from '../agents/run-call.js';
import type { Logger } from '../logger.js';
import type { ClosedEvent, Dialer, RoomConnectionOptions } from '../room/connection.js';
import type { RoomClient } from '../room/room-client.js';
import type { Clock } from '../util/clock.js';

/** Events of a joined room that the attachments act on. */
export type PresenceEvent = 'reconnecting' | 'dismiss';

export interface RoomPresence {
  /** The participant id the room gave the agents. */
  readonly participantId: string | undefined;
  /** The agents hosted in the room now. */
  readonly toolkits: readonly Toolkit[];
  /** The room client, when the room runs in this thread (a handoff's `onCallAnswered` needs it). */
  readonly client: RoomClient | undefined;
  /** Resolves when the room's connection has closed for good (a close we asked for, or one the room sent). */
  readonly closed: Promise<ClosedEvent>;
  /** Listen to a room event; returns a function that stops listening. */
  on(event: PresenceEvent, listener: () => void): () => void;
  /** Host `toolkits` instead, over the same connection. */
  replaceToolkits(toolkits: readonly Toolkit[]): Promise<ToolkitsReplaced>;
  /** Stop taking calls, let calls in flight finish for `graceMs` (default 0), unregister, close 1000. Idempotent. */
  leave(options?: { reason?: string; graceMs?: number }): Promise<void>;
  /**
   * Leave with the agents unregistered first (a drain handing the room to a peer): stop taking calls,
   * unregister, call `onUnregistered`, then let calls in flight finish within `graceMs` and close.
   */
  handOver(reason: string, graceMs: number, onUnregistered: () => unknown): Promise<void>;
}

/** One join: the room, the agents, and how the connection is made. */
export interface JoinRequest {
  readonly room: string;
  readonly url: string;
  readonly toolkits: readonly Toolkit[];
  /** The token of a `room.call`; undefined: `mintToken` makes one per connection attempt. */
  readonly token: string | undefined;
  readonly mintToken: (room: string) => string;
  /** The platform's socket of a websocket handoff (always joined in this thread: a socket cannot move). */
  readonly dial: Dialer | undefined;
  readonly connection: Partial<Omit<RoomConnectionOptions, 'url' | 'token' | 'onReady'>> | undefined;
  /** The join slot (the orchestrator's bound on registrations at once). */
  readonly registrationSlot: (signal: AbortSignal) => Promise<() => void>;
  readonly logger: Logger;
  readonly clock: Clock;
  /** After each agent call: how it ended and how long it took (what crosses a thread; not the answer itself). */
  readonly onCall: (agent: string, tool: string, outcome: Pick<CallOutcome, 'outcome' | 'durationMs'>) => void;
}

/** Joins a room, resolving once the agents are registered; rejects with why the join failed. */
export type JoinRoomWork = (request: JoinRequest, signal: AbortSignal) => Promise<RoomPresence>;

/** The room in this thread: a `RoomConnection` and an `AgentHost` (agents/host.ts `joinRoom`). */
export const joinInProcess: JoinRoomWork = async (request, signal) => {
  const joined = await joinRoom(
    {
      ...request.connection,
      // A handoff socket is used once: no reconnect on it (the platform dials again for a new session).
      ...(request.dial ? { dial: request.dial, reconnect: false } : {}),
      url: request.url,
      room: request.room,
      toolkits: request.toolkits,
      token: request.token ?? (() => request.mintToken(request.room)),
      logger: request.logger,
      // One retry layer: the orchestrator's retry with its bound. The connection still reconnects after the first ready.
      retryBeforeReady: false,
      registrationSlot: request.registrationSlot,
      clock: request.clock,
      onCall: request.onCall,
    },
    signal,
  );
  return inProcessPresence(joined);
};

function inProcessPresence(joined: JoinedRoom): RoomPresence {
  const { connection, host } = joined;
  return {
    get participantId() {
      return connection.participantId;
    },
    get toolkits() {
      return host.toolkits;
    },
    client: joined.client,
    closed: connection.closed,
    on: (event, listener) => connection.on(event, listener),
    replaceToolkits: (toolkits) => host.replaceToolkits(toolkits),
    leave: (options) => joined.leave(options),
    handOver: (reason, graceMs, onUnregistered) => handOver(joined, reason, graceMs, onUnregistered),
  };
}

/**
 * Leave with the agents unregistered first: stop taking calls, unregister, tell `onUnregistered`, then let calls
 * in flight finish within `graceMs` and close. A reconnect during the grace period would register the agents
 * again (the host registers on every ready socket), so a connection that drops meanwhile is closed instead.
 */
export async function handOver(joined: JoinedRoom, reason: string, graceMs: number, onUnregistered: () => unknown): Promise<void> {
  const unregistered = await unregisterForHandOver(joined, reason);
  try {
    await onUnregistered();
    if (unregistered !== 'left') await joined.leave({ reason, graceMs });
  } finally {
    if (unregistered !== 'left') unregistered.stopGuard();
  }
}

/**
 * The first half of a hand-over: no calls taken, the agents unregistered, and a guard that closes the
 * connection instead of letting a reconnect register them again. A room not registered right now (and so
 * about to register again on its next ready socket) is left at once instead: `left`.
 */
export async function unregisterForHandOver(joined: JoinedRoom, reason: string): Promise<'left' | { readonly stopGuard: () => void }> {
  const { connection, host } = joined;
  if (connection.state !== 'ready') {
    await joined.leave({ reason, graceMs: 0 });
    return 'left';
  }
  host.stopAccepting(reason);
  const stopGuard = connection.on('reconnecting', () => void connection.close(1000, reason));
  try {
    await host.unregister();
  } catch (error) {
    stopGuard();
    throw error;
  }
  return { stopGuard };
}
