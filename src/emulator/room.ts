/**
 * One emulated room: its participants, toolkit registrations, tool calls in flight, and session lifecycle
 * (docs/protocol.md §E, §H.1 items 4–10).
 *
 * Lifecycle rules (the real server's are undocumented; these are the emulator's):
 * - A room exists without a session. Agents and tools (role `agent`/`tool`) may connect to it; that does not
 *   start a session, but their `room_ready` already names the id the session will have when it starts.
 * - A session starts when a participant of any other role (a user) connects, or through {@link Room.startSession}.
 * - Once a user has been in the session and no user is left, the session ends after `idleGraceMs` unless a user
 *   comes back. A session started by {@link Room.startSession} with no user yet stays until a user has come and
 *   gone, or until {@link Room.endSession}.
 * - Ending a session closes every connection of the room with 1000 (final for the npm client, §G).
 * - A disabled room has no session: disabling ends the running one and closes every connection with 1000, and
 *   the room server answers its upgrades with HTTP 423 until it is enabled again.
 */
import { RoomrunnerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { empty, json } from '../protocol/content.js';
import type { FrameMessage } from '../protocol/frame-reader.js';
import {
  InvokeToolSchema,
  ListToolkitsSchema,
  MESSAGE_TYPES,
  RegisterToolkitSchema,
  RoomCallSchema,
  SetAttributesSchema,
  UnregisterToolkitSchema,
  parseHeader,
} from '../protocol/messages.js';
import type { JsonObject } from '../protocol/packing.js';
import type { Participant, ParticipantInfo } from './participant.js';
import type { EmulatorEventInput, EmulatorEventLog } from './room-events.js';
import { requireAgents, requireApi, requireToolkitAllowed, toolkitAllowed } from './room-grants.js';
import {
  BUILTIN_TOOLKITS,
  MESSAGING_TOOLKIT,
  MESSAGING_TYPES,
  SERVER_PARTICIPANT_ID,
  announceAttributes,
  deliver,
  invokeMessaging,
  messagingParticipantLeft,
} from './room-messaging.js';
import { DEFERRED, handleFrameError, installRequestHandlers, type Reply, type RequestContext, type RequestRoom } from './room-requests.js';
import { ToolCallRouter, argumentContent } from './room-tool-calls.js';
import { ToolkitRegistry, describeToolkit, registrationFrom, toolkitInfo, type ToolkitInfo } from './room-toolkits.js';
import { errorMessage } from '../util/error-message.js';

export interface RoomInfo {
  readonly name: string;
  readonly sessionId: string | null;
  /** True while a session is running. */
  readonly active: boolean;
  /** True while the room is disabled: upgrades answer HTTP 423 and no session starts. */
  readonly disabled: boolean;
  readonly participants: ParticipantInfo[];
  readonly toolkits: ToolkitInfo[];
  readonly createdAt: number;
}

/** A `room.call` a participant asked for (§A.8); the composer delivers the webhook. */
export interface RoomCallRequest {
  readonly room: string;
  readonly roomUrl: string;
  readonly name: string;
  readonly url: string;
  readonly arguments: Record<string, unknown> | null;
  readonly api: Record<string, unknown> | null;
  readonly callerId: string;
}

export interface RoomServerHooks {
  onSessionStarted?(room: { name: string; sessionId: string; url: string }): void;
  onSessionEnded?(room: { name: string; sessionId: string }): void;
  /** A participant sent room.call (§A.8); the composer delivers the webhook. Return when delivered (or throw → error content to the caller). */
  onRoomCall?(call: RoomCallRequest): Promise<void>;
}

export interface RoomOptions {
  readonly name: string;
  /** The room's websocket URL, `<publicUrl>/rooms/<name>`. */
  readonly url: () => string;
  readonly idleGraceMs: number;
  readonly hooks: RoomServerHooks;
  readonly log: Logger;
  readonly events: EmulatorEventLog;
  readonly now: () => number;
  readonly createId: () => string;
}

/** Close reason sent to every connection when a session ends. */
export const SESSION_ENDED_REASON = 'the room session ended';
/** Close reason sent to every connection when the room is disabled; also the 423 text, as the SDKs word it. */
export const ROOM_DISABLED_REASON = 'This room is currently disabled.';

interface ListWaiter {
  readonly ctx: RequestContext;
  readonly filter: ListFilter;
  readonly timer: NodeJS.Timeout;
}

interface ListFilter {
  readonly participantId: string | null | undefined;
  readonly participantName: string | null | undefined;
}

export class Room implements RequestRoom {
  readonly name: string;
  readonly createdAt: number;
  readonly toolkits = new ToolkitRegistry();
  readonly calls: ToolCallRouter;
  readonly #options: RoomOptions;
  readonly #log: Logger;
  readonly #participants = new Map<string, Participant>();
  readonly #listWaiters = new Set<ListWaiter>();
  #sessionId: string | null = null;
  /**
   * The id the next session will have, chosen when someone connects before it starts: `room_ready` always
   * carries a `session_id` (the Python RoomClient reads `init["session_id"]` and never finishes connecting
   * without one), and the session that starts later keeps the id those early participants were told.
   */
  #upcomingSessionId: string | null = null;
  /** A user has been in the current session: from now on an empty room ends it after the grace period. */
  #userSeen = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #disabled = false;

  constructor(options: RoomOptions) {
    this.#options = options;
    this.name = options.name;
    this.createdAt = options.now();
    this.#log = options.log;
    this.calls = new ToolCallRouter(this);
  }

  get url(): string {
    return this.#options.url();
  }

  get sessionId(): string | null {
    return this.#sessionId;
  }

  get disabled(): boolean {
    return this.#disabled;
  }

  info(): RoomInfo {
    return {
      name: this.name,
      sessionId: this.#sessionId,
      active: this.#sessionId !== null,
      disabled: this.#disabled,
      participants: [...this.#participants.values()].map((p) => p.info()),
      toolkits: this.toolkits.all().map(toolkitInfo),
      createdAt: this.createdAt,
    };
  }

  participant(id: string): Participant | undefined {
    return this.#participants.get(id);
  }

  participants(): IterableIterator<Participant> {
    return this.#participants.values();
  }

  createId(): string {
    return this.#options.createId();
  }

  record(event: Omit<EmulatorEventInput, 'room'>): void {
    this.#options.events.record({ room: this.name, ...event });
  }

  // --- lifecycle -------------------------------------------------------------------------------------

  /** Start a session unless one is running. Returns true when this call started it. */
  startSession(): boolean {
    if (this.#sessionId !== null || this.#closed || this.#disabled) return false;
    const sessionId = this.#upcomingSessionId ?? this.#options.createId();
    this.#upcomingSessionId = null;
    this.#sessionId = sessionId;
    this.#userSeen = false;
    this.#log.info({ sessionId }, 'room session started');
    this.record({ kind: 'session.started', sessionId });
    try {
      this.#options.hooks.onSessionStarted?.({ name: this.name, sessionId, url: this.url });
    } catch (error) {
      this.#log.error({ err: error }, 'onSessionStarted hook failed');
    }
    return true;
  }

  /** End the running session: close every connection with 1000. Returns false when none was running. */
  endSession(reason = SESSION_ENDED_REASON): boolean {
    const sessionId = this.#sessionId;
    if (sessionId === null) return false;
    this.#sessionId = null;
    this.#userSeen = false;
    this.#clearIdleTimer();
    for (const participant of [...this.#participants.values()]) participant.close(1000, reason);
    this.#log.info({ sessionId }, 'room session ended');
    this.record({ kind: 'session.ended', sessionId, reason });
    try {
      this.#options.hooks.onSessionEnded?.({ name: this.name, sessionId });
    } catch (error) {
      this.#log.error({ err: error }, 'onSessionEnded hook failed');
    }
    return true;
  }

  /**
   * Disable the room: end its session and close every connection (agents in a room without a session too) with
   * 1000, so clients stop; new upgrades are refused with HTTP 423 by the room server. Idempotent.
   */
  disable(): void {
    if (this.#disabled) return;
    this.#disabled = true;
    this.endSession(ROOM_DISABLED_REASON);
    for (const participant of [...this.#participants.values()]) participant.close(1000, ROOM_DISABLED_REASON);
    this.#log.info('room disabled');
    this.record({ kind: 'room.disabled' });
  }

  /** Enable a disabled room again: it accepts connections, and a user starts a session as before. Idempotent. */
  enable(): void {
    if (!this.#disabled) return;
    this.#disabled = false;
    this.#log.info('room enabled');
    this.record({ kind: 'room.enabled' });
  }

  /** End the session and close every connection; resolves when they have all closed. */
  shutdown(reason: string): Promise<unknown> {
    this.#closed = true;
    this.endSession(reason);
    for (const participant of this.#participants.values()) participant.close(1000, reason);
    for (const waiter of this.#listWaiters) clearTimeout(waiter.timer);
    this.#listWaiters.clear();
    return Promise.all([...this.#participants.values()].map((p) => p.session.closed));
  }

  /** A participant whose token was accepted: start the session if it is a user, then the handshake (§E.1). */
  join(participant: Participant): void {
    this.#participants.set(participant.id, participant);
    installRequestHandlers(this, participant);
    if (!participant.isAgent) {
      this.startSession();
      this.#userSeen = true;
      this.#clearIdleTimer();
    }
    let sessionId = this.#sessionId;
    if (sessionId === null) {
      this.#upcomingSessionId ??= this.#options.createId();
      sessionId = this.#upcomingSessionId;
    }
    participant.push(MESSAGE_TYPES.ROOM_READY, { room_name: this.name, room_url: this.url, session_id: sessionId });
    participant.push(MESSAGE_TYPES.CONNECTED, { type: 'init', participantId: participant.id, attributes: { ...participant.attributes } });
    this.#log.info({ participantId: participant.id, role: participant.role }, 'participant connected');
    this.record({ kind: 'connected', participantId: participant.id, participantName: participant.name, role: participant.role, sessionId });
  }

  /** A participant's connection closed: drop its toolkits, settle its calls, tell its messaging peers. */
  leave(participant: Participant, code: number, reason: string): void {
    if (this.#participants.get(participant.id) !== participant) return;
    this.#participants.delete(participant.id);
    for (const registration of this.toolkits.removeHostedBy(participant.id)) {
      this.record({
        kind: 'toolkit.unregistered',
        participantId: participant.id,
        toolkit: registration.name,
        registrationId: registration.id,
        reason: 'the host left',
      });
    }
    this.calls.participantLeft(participant);
    for (const waiter of [...this.#listWaiters]) {
      if (waiter.ctx.participant === participant) this.#dropWaiter(waiter);
    }
    messagingParticipantLeft(this, participant);
    this.#log.info({ participantId: participant.id, code }, 'participant disconnected');
    this.record({ kind: 'disconnected', participantId: participant.id, participantName: participant.name, role: participant.role, code, reason });
    this.#armIdleTimerIfEmpty();
  }

  onFrameError(participant: Participant, error: unknown, context: { id?: number; type?: string }): void {
    handleFrameError(this, participant, error, context);
  }

  /** Push `messaging.send {type: 'dismiss'}` to a participant (§A.6, §H.1 item 10). */
  dismiss(participantId: string): boolean {
    const participant = this.#participants.get(participantId);
    if (!participant) return false;
    deliver(this, SERVER_PARTICIPANT_ID, [participant], MESSAGING_TYPES.DISMISS, {});
    this.record({ kind: 'dismissed', participantId });
    return true;
  }

  /** Push `room.status {status, message}` to one participant or to all (§E.1). */
  pushStatus(participantId: string | undefined, status: string, message = ''): void {
    const targets = participantId === undefined ? [...this.#participants.values()] : [this.#participants.get(participantId)].filter((p) => p !== undefined);
    for (const participant of targets) {
      participant.push(MESSAGE_TYPES.ROOM_STATUS, { status, message });
      this.record({ kind: 'status.pushed', participantId: participant.id, type: status, reason: message });
    }
  }

  #armIdleTimerIfEmpty(): void {
    if (this.#sessionId === null || !this.#userSeen || this.#idleTimer !== undefined) return;
    if ([...this.#participants.values()].some((p) => !p.isAgent)) return;
    const sessionId = this.#sessionId;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      // The session may have ended, or another begun, while the timer ran.
      if (this.#sessionId === sessionId && ![...this.#participants.values()].some((p) => !p.isAgent)) this.endSession();
    }, this.#options.idleGraceMs);
    this.#idleTimer.unref();
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer === undefined) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  // --- requests (§E.2–§E.6, §A.8) ----------------------------------------------------------------------

  registerToolkit({ participant, header, type }: RequestContext): Reply {
    const request = parseHeader(RegisterToolkitSchema, header, type);
    if (request.name === MESSAGING_TOOLKIT) {
      throw new RoomrunnerError('RR_EMULATOR_TOOLKIT_RESERVED', `toolkit name '${MESSAGING_TOOLKIT}' is reserved for the built-in toolkit`, {
        data: { toolkit: request.name },
      });
    }
    requireAgents(participant.api, request.public ? 'register_public_toolkit' : 'register_private_toolkit');
    const registration = registrationFrom(request, this.#options.createId(), participant.id, this.#options.now());
    this.toolkits.add(registration);
    this.#log.info({ participantId: participant.id, toolkit: registration.name, public: registration.public }, 'toolkit registered');
    this.record({
      kind: 'toolkit.registered',
      participantId: participant.id,
      toolkit: registration.name,
      registrationId: registration.id,
      public: registration.public,
    });
    this.#settleListWaiters();
    return json({ id: registration.id });
  }

  unregisterToolkit({ participant, header, type }: RequestContext): Reply {
    const { id } = parseHeader(UnregisterToolkitSchema, header, type);
    const registration = this.toolkits.get(id);
    if (!registration || registration.participantId !== participant.id) {
      throw new RoomrunnerError('RR_EMULATOR_REGISTRATION_NOT_FOUND', `toolkit registration '${id}' was not found`, { data: { id } });
    }
    this.toolkits.remove(id);
    this.record({ kind: 'toolkit.unregistered', participantId: participant.id, toolkit: registration.name, registrationId: id });
    return empty();
  }

  listToolkits(ctx: RequestContext): Reply {
    requireAgents(ctx.participant.api, 'use_tools');
    const request = parseHeader(ListToolkitsSchema, ctx.header, ctx.type);
    const filter: ListFilter = { participantId: request.participant_id, participantName: request.participant_name };
    const listed = this.#list(ctx.participant, filter);
    const timeoutSeconds = request.timeout ?? 0;
    const targeted = (filter.participantId ?? filter.participantName ?? null) !== null;
    // `timeout` (seconds): wait that long for the targeted participant's toolkits to appear (§E.3, inferred).
    if (Object.keys(listed).length > 0 || !targeted || !(timeoutSeconds > 0) || this.#closed) return json({ tools: listed });
    const waiter: ListWaiter = {
      ctx,
      filter,
      timer: setTimeout(() => this.#answerWaiter(waiter), Math.min(timeoutSeconds * 1000, 2 ** 31 - 1)),
    };
    waiter.timer.unref();
    this.#listWaiters.add(waiter);
    return DEFERRED;
  }

  invokeTool(ctx: RequestContext): Reply {
    const { participant, header, payload, type, id } = ctx;
    const request = parseHeader(InvokeToolSchema, header, type);
    if (request.toolkit === MESSAGING_TOOLKIT) {
      requireApi(participant.api, 'messaging');
      return invokeMessaging(this, participant, request.tool, argumentContent(request, payload), payload);
    }
    requireAgents(participant.api, 'use_tools');
    requireToolkitAllowed(participant.api, request.toolkit);
    if (BUILTIN_TOOLKITS.has(request.toolkit) && !this.toolkits.resolve(request.toolkit, { callerId: participant.id, participantId: request.participant_id })) {
      throw new RoomrunnerError('RR_EMULATOR_NOT_EMULATED', `the built-in toolkit '${request.toolkit}' is not emulated by the roomrunner room server`, {
        data: { toolkit: request.toolkit, tool: request.tool },
      });
    }
    this.calls.invoke(participant, id, request, payload);
    return DEFERRED;
  }

  requestChunk({ participant, header, payload }: RequestContext): Reply {
    this.calls.onRequestChunk(participant, header, payload);
    return empty();
  }

  async roomCall({ participant, header, type }: RequestContext): Promise<Reply> {
    requireAgents(participant.api, 'call');
    const request = parseHeader(RoomCallSchema, header, type);
    const hook = this.#options.hooks.onRoomCall;
    if (!hook) {
      throw new RoomrunnerError('RR_EMULATOR_ROOM_CALL_FAILED', 'room.call is not available: this room server has no webhook delivery configured');
    }
    const call: RoomCallRequest = {
      room: this.name,
      roomUrl: this.url,
      name: request.name,
      url: request.url,
      arguments: request.arguments ?? null,
      api: request.api ?? null,
      callerId: participant.id,
    };
    try {
      await hook(call);
    } catch (error) {
      this.record({ kind: 'room.called', participantId: participant.id, participantName: request.name, reason: errorMessage(error), ok: false });
      if (error instanceof RoomrunnerError) throw error;
      throw new RoomrunnerError('RR_EMULATOR_ROOM_CALL_FAILED', `room.call could not deliver the webhook: ${errorMessage(error)}`, { cause: error });
    }
    this.record({ kind: 'room.called', participantId: participant.id, participantName: request.name, ok: true });
    return empty();
  }

  setAttributes(participant: Participant, header: JsonObject): void {
    const update = parseHeader(SetAttributesSchema, header, MESSAGE_TYPES.SET_ATTRIBUTES);
    participant.mergeAttributes(update);
    this.record({ kind: 'attributes.set', participantId: participant.id });
    announceAttributes(this, participant);
  }

  toolCallResponse(participant: Participant, message: FrameMessage): void {
    this.calls.onResponse(participant, message);
  }

  toolCallResponseChunk(participant: Participant, message: FrameMessage): void {
    this.calls.onResponseChunk(participant, message);
  }

  responseUnreadable(participant: Participant, id: number, error: RoomrunnerError): void {
    this.calls.onResponseUnreadable(participant, id, error);
  }

  /** The `tools` map of a `room.list_toolkits` answer (§E.3); the newest registration of a name wins. */
  #list(caller: Participant, filter: ListFilter): Record<string, JsonObject> {
    const tools: Record<string, JsonObject> = {};
    for (const registration of this.toolkits.visible({ callerId: caller.id, participantId: filter.participantId })) {
      if (!toolkitAllowed(caller.api, registration.name)) continue;
      if (filter.participantName !== undefined && filter.participantName !== null) {
        const host = this.#participants.get(registration.participantId);
        const hostName = host?.attributes['name'] ?? host?.name;
        if (hostName !== filter.participantName) continue;
      }
      tools[registration.name] = describeToolkit(registration);
    }
    return tools;
  }

  #settleListWaiters(): void {
    for (const waiter of [...this.#listWaiters]) {
      if (Object.keys(this.#list(waiter.ctx.participant, waiter.filter)).length > 0) this.#answerWaiter(waiter);
    }
  }

  #answerWaiter(waiter: ListWaiter): void {
    if (!this.#listWaiters.has(waiter)) return;
    this.#dropWaiter(waiter);
    waiter.ctx.participant.respond(waiter.ctx.id, json({ tools: this.#list(waiter.ctx.participant, waiter.filter) }));
  }

  #dropWaiter(waiter: ListWaiter): void {
    clearTimeout(waiter.timer);
    this.#listWaiters.delete(waiter);
  }
}
