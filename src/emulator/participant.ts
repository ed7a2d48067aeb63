/**
 * One participant connection in an emulated room: who it is (from its token), its attributes and messaging
 * state, and the {@link Session} that carries its messages. Sends never throw: a participant that has gone
 * away simply misses what was sent to it, the way a real room server drops writes to a dead socket.
 */
import type { Logger } from '../logger.js';
import { empty, type Content } from '../protocol/content.js';
import type { JsonObject } from '../protocol/packing.js';
import type { Session } from '../room/session.js';
import type { WebSocketTransport } from '../room/transport.js';
import type { ApiScope } from '../auth/token.js';

export interface ParticipantInfo {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly messagingEnabled: boolean;
  readonly connectedAt: number;
}

export interface ParticipantInit {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly api: ApiScope | undefined;
  readonly session: Session;
  readonly transport: WebSocketTransport;
  readonly connectedAt: number;
  readonly log: Logger;
}

export class Participant {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly api: ApiScope | undefined;
  readonly session: Session;
  readonly connectedAt: number;
  readonly log: Logger;
  readonly #transport: WebSocketTransport;
  #attributes: Record<string, unknown>;
  messagingEnabled = false;
  /** Pings sent since the last pong (§G keepalive). */
  missedPongs = 0;

  constructor(init: ParticipantInit) {
    this.id = init.id;
    this.name = init.name;
    this.role = init.role;
    this.api = init.api;
    this.session = init.session;
    this.#transport = init.transport;
    this.connectedAt = init.connectedAt;
    this.log = init.log;
    this.#attributes = { name: init.name };
  }

  /** Agents and tools do not hold a room session open (§H.1 item 10, the lifecycle rule). */
  get isAgent(): boolean {
    return this.role === 'agent' || this.role === 'tool';
  }

  get attributes(): Readonly<Record<string, unknown>> {
    return this.#attributes;
  }

  get isOpen(): boolean {
    return this.session.isOpen;
  }

  get socket(): WebSocketTransport['socket'] {
    return this.#transport.socket;
  }

  /** Merge `set_attributes` (§E.1). Returns the merged attributes. */
  mergeAttributes(update: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
    this.#attributes = { ...this.#attributes, ...update };
    return this.#attributes;
  }

  /** `{id, role, attributes}` as messaging events carry it (§E.6). */
  describe(): JsonObject {
    return { id: this.id, role: this.role, attributes: { ...this.#attributes } };
  }

  info(): ParticipantInfo {
    return {
      id: this.id,
      name: this.name,
      role: this.role,
      attributes: { ...this.#attributes },
      messagingEnabled: this.messagingEnabled,
      connectedAt: this.connectedAt,
    };
  }

  /** Push an event (a fresh server id, §D.2). */
  push(type: string, header: JsonObject, payload?: Uint8Array): void {
    if (!this.isOpen) return;
    this.session.sendPacked(type, header, payload).catch((error: unknown) => this.#sendFailed(type, error));
  }

  /** Answer request `id` with a content. */
  respond(id: number, content: Content = empty()): void {
    if (!this.isOpen) return;
    this.session.respond(id, content).catch((error: unknown) => this.#sendFailed('__response__', error));
  }

  /** Answer request `id` with bytes already packed as a content, unchanged (§E.5 step 5). */
  respondRaw(id: number, packedContent: Uint8Array): void {
    if (!this.isOpen) return;
    this.session.respondRaw(id, packedContent).catch((error: unknown) => this.#sendFailed('__response__', error));
  }

  close(code: number, reason = ''): void {
    this.session.close(code, reason);
  }

  /** Drop the TCP socket with no close frame, as a crash or network loss would. */
  terminate(): void {
    this.#transport.terminate();
  }

  #sendFailed(type: string, error: unknown): void {
    this.log.debug({ participantId: this.id, type, err: error }, 'send to participant failed');
  }
}
