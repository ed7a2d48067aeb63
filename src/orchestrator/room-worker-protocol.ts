/**
 * The messages between the orchestrator and a room worker thread (./room-workers.ts, ./room-worker-thread.ts):
 * the narrow, typed interface of room work placed off the thread that answers webhooks. Everything in them is
 * structured-clone data: no functions, no sockets, errors as their code, message and data.
 */
import type { TokenCredentials } from '../auth/token.js';
import type { CallOutcome } from '../agents/run-call.js';
import type { BackoffOptions } from '../util/backoff.js';
import type { SerializedError } from '../util/threads.js';

/** What a worker needs to start: where the agents are, and how to sign its participant tokens. */
export interface RoomWorkerData {
  /** The agents folder; the worker loads the same agents the orchestrator hosts. */
  readonly agentsDir: string;
  readonly credentials: TokenCredentials;
  readonly identity: string;
  readonly tokenTtlMs: number;
  readonly logLevel: string;
  readonly logPretty: boolean | undefined;
}

/** The room connection options that can cross a thread (numbers and backoff). */
export interface WorkerConnectionOptions {
  readonly requestTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  readonly pingIntervalMs?: number;
  readonly maxMessageBytes?: number;
  readonly backoff?: BackoffOptions;
}

/** The orchestrator to a worker. `id` names a room's join; `req` a request that gets a `reply`. */
export type ToWorker =
  | {
      readonly op: 'join';
      readonly id: number;
      readonly room: string;
      readonly url: string;
      readonly agents: readonly string[];
      /** A room.call's token; absent: the worker mints one per connection attempt. */
      readonly token?: string;
      readonly connection: WorkerConnectionOptions;
    }
  | { readonly op: 'abort'; readonly id: number; readonly reason: SerializedError }
  | { readonly op: 'slot'; readonly id: number; readonly slot: number }
  | { readonly op: 'leave'; readonly id: number; readonly req: number; readonly reason: string; readonly graceMs: number }
  | { readonly op: 'unregister'; readonly id: number; readonly req: number; readonly reason: string }
  | { readonly op: 'replace'; readonly id: number; readonly req: number; readonly agents: readonly string[] };

/** A worker to the orchestrator. */
export type FromWorker =
  | { readonly ev: 'ready'; readonly agents: readonly string[] }
  | { readonly ev: 'start-failed'; readonly error: SerializedError }
  | { readonly ev: 'joined'; readonly id: number; readonly participantId: string | undefined }
  | { readonly ev: 'join-failed'; readonly id: number; readonly error: SerializedError }
  /** The join asks for a registration turn; `slot` names the request, answered by a `slot` op. */
  | { readonly ev: 'slot'; readonly id: number; readonly slot: number }
  | { readonly ev: 'slot-release'; readonly id: number; readonly slot: number }
  | { readonly ev: 'reconnecting' | 'dismiss'; readonly id: number }
  | { readonly ev: 'closed'; readonly id: number; readonly code: number; readonly reason: string }
  | { readonly ev: 'reply'; readonly req: number; readonly ok: true; readonly value?: unknown }
  | { readonly ev: 'reply'; readonly req: number; readonly ok: false; readonly error: SerializedError }
  | {
      readonly ev: 'call';
      readonly id: number;
      readonly agent: string;
      readonly tool: string;
      readonly outcome: CallOutcome['outcome'];
      readonly durationMs: number;
    };
