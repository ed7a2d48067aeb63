/**
 * A room worker thread (./room-workers.ts starts it): rooms and their agents, off the thread that answers
 * webhooks. It loads the agents folder, then joins each room the orchestrator sends it with `joinRoom`, as
 * the orchestrator's own thread would, and reports back over the messages of ./room-worker-protocol.ts. The
 * orchestrator keeps the room state, the join slots, the attempt bounds and the retries.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Toolkit } from '../agents/define-agent.js';
import { discoverAgents } from '../agents/discover.js';
import { joinRoom, type JoinedRoom } from '../agents/host.js';
import { agentTokenMinter, resolveTokenSecret } from '../auth/token.js';
import { RoomrunnerError } from '../errors.js';
import { createLogger } from '../logger.js';
import { unregisterForHandOver } from './room-presence.js';
import { deserializeError, serializeError } from '../util/threads.js';
import type { FromWorker, RoomWorkerData, ToWorker } from './room-worker-protocol.js';

if (parentPort === null) throw new RoomrunnerError('RR_OPTION_INVALID', 'room-worker-thread.ts runs only as a worker thread (see room-workers.ts)');
const port = parentPort;
const data = workerData as RoomWorkerData;
const post = (message: FromWorker): void => port.postMessage(message);

interface WorkerRoom {
  readonly abort: AbortController;
  joined?: JoinedRoom;
  /** Registration turns asked of the orchestrator, by request number. */
  readonly slots: Map<number, { resolve(release: () => void): void; reject(error: unknown): void }>;
}

const rooms = new Map<number, WorkerRoom>();
let nextSlot = 0;

async function main(): Promise<void> {
  const logger = createLogger({ level: data.logLevel, name: 'roomrunner', ...(data.logPretty === undefined ? {} : { pretty: data.logPretty }) });
  const toolkits = new Map<string, Toolkit>();
  for (const found of await discoverAgents(data.agentsDir)) toolkits.set(found.toolkit.name, found.toolkit);
  const mint = agentTokenMinter(resolveTokenSecret(data.credentials), { identity: data.identity, ttlMs: data.tokenTtlMs });
  const pick = (names: readonly string[]): Toolkit[] =>
    names.map((name) => {
      const toolkit = toolkits.get(name);
      if (!toolkit) throw new RoomrunnerError('RR_CALL_AGENTS_UNKNOWN', `the room worker has no agent ${name} (it loaded ${[...toolkits.keys()].join(', ')})`);
      return toolkit;
    });

  const join = async (message: Extract<ToWorker, { op: 'join' }>): Promise<void> => {
    const room: WorkerRoom = { abort: new AbortController(), slots: new Map() };
    rooms.set(message.id, room);
    try {
      const joined = await joinRoom(
        {
          ...message.connection,
          url: message.url,
          room: message.room,
          toolkits: pick(message.agents),
          token: message.token ?? (() => mint(message.room)),
          logger,
          retryBeforeReady: false,
          registrationSlot: (signal) => askSlot(message.id, room, signal),
          onCall: (agent, tool, outcome) => post({ ev: 'call', id: message.id, agent, tool, outcome: outcome.outcome, durationMs: outcome.durationMs }),
        },
        room.abort.signal,
      );
      if (room.abort.signal.aborted) {
        await joined.leave({ reason: 'join attempt gave up' });
        return;
      }
      room.joined = joined;
      joined.connection.on('reconnecting', () => post({ ev: 'reconnecting', id: message.id }));
      joined.connection.on('dismiss', () => post({ ev: 'dismiss', id: message.id }));
      void joined.connection.closed.then((closed) => {
        rooms.delete(message.id);
        post({ ev: 'closed', id: message.id, code: closed.code, reason: closed.reason });
      });
      post({ ev: 'joined', id: message.id, participantId: joined.connection.participantId });
    } catch (error) {
      rooms.delete(message.id);
      post({ ev: 'join-failed', id: message.id, error: serializeError(error) });
    }
  };

  const reply = async (req: number, work: () => Promise<unknown>): Promise<void> => {
    try {
      const value = await work();
      post({ ev: 'reply', req, ok: true, value });
    } catch (error) {
      post({ ev: 'reply', req, ok: false, error: serializeError(error) });
    }
  };

  const joinedRoom = (id: number): JoinedRoom => {
    const joined = rooms.get(id)?.joined;
    if (!joined) throw new RoomrunnerError('RR_ROOM_CLOSED', 'the room is not joined on this worker (it closed)');
    return joined;
  };

  port.on('message', (message: ToWorker) => {
    switch (message.op) {
      case 'join':
        void join(message);
        return;
      case 'abort':
        rooms.get(message.id)?.abort.abort(deserializeError(message.reason));
        return;
      case 'slot': {
        const waiting = rooms.get(message.id)?.slots.get(message.slot);
        if (waiting) waiting.resolve(() => post({ ev: 'slot-release', id: message.id, slot: message.slot }));
        else post({ ev: 'slot-release', id: message.id, slot: message.slot }); // nobody waits any more: give it back
        return;
      }
      case 'leave':
        void reply(message.req, async () => {
          const joined = rooms.get(message.id)?.joined;
          await joined?.leave({ reason: message.reason, graceMs: message.graceMs });
        });
        return;
      case 'unregister':
        // A drain's hand-over, first half (the second is `leave`, once the orchestrator has told the store): no
        // calls taken, agents unregistered (room-presence.ts `unregisterForHandOver`; its reconnect guard stays
        // until the room is left). Replies whether the room was left at once instead.
        void reply(message.req, async () => {
          const joined = rooms.get(message.id)?.joined;
          return joined === undefined || (await unregisterForHandOver(joined, message.reason)) === 'left';
        });
        return;
      case 'replace':
        void reply(message.req, async () => joinedRoom(message.id).host.replaceToolkits(pick(message.agents)));
        return;
    }
  });
  post({ ev: 'ready', agents: [...toolkits.keys()] });
}

/** A registration turn from the orchestrator's join slots; released by a message when the registration is done. */
function askSlot(id: number, room: WorkerRoom, signal: AbortSignal): Promise<() => void> {
  const slot = nextSlot++;
  return new Promise<() => void>((resolve, reject) => {
    const onAbort = (): void => {
      room.slots.delete(slot);
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    room.slots.set(slot, {
      resolve: (release) => {
        signal.removeEventListener('abort', onAbort);
        room.slots.delete(slot);
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          release();
        });
      },
      reject,
    });
    post({ ev: 'slot', id, slot });
  });
}

main().catch((error: unknown) => post({ ev: 'start-failed', error: serializeError(error) }));
