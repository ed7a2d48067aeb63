/**
 * Runs one call of one tool: the only place that validates input before the handler and output after it,
 * enforces the deadline and the per-room concurrency limit, and turns every failure into an `error` content
 * for the caller (anchors.md §3.5). It never throws and needs no socket: the room is reached through
 * {@link RoomApi}, which the host backs with a live connection and the test harness with other agents.
 */
import { z } from 'zod';
import { CONTENT_CODES, RoomrunnerError, isRoomrunnerError } from '../errors.js';
import type { Content } from '../protocol/content.js';
import { describeIssues } from '../protocol/messages.js';
import type { Logger } from '../logger.js';
import type { AgentContext, Toolkit, Tool } from './define-agent.js';

/** What a handler's context needs from the room. */
export interface RoomApi {
  invokeTool(request: { toolkit: string; tool: string; arguments: Content; signal?: AbortSignal }): Promise<Content>;
  listToolkits(): Promise<Record<string, { participantId?: string | null; title?: string | null; tools: string[] }>>;
}

/**
 * Runs at most `limit` calls at once per key (agent + tool, within one room); up to `maxQueue` more wait in
 * FIFO order for a free slot. Past both, a call is refused at once ("busy").
 */
export class CallLimiter {
  readonly #slots = new Map<string, { running: number; waiting: Array<() => void> }>();

  /**
   * Take a slot. Resolves true when the call may run, false when it must be refused (limit and queue full) or
   * `signal` aborted while it waited. Every true must be paired with one {@link release}.
   */
  acquire(key: string, limit: number, maxQueue: number, signal?: AbortSignal): Promise<boolean> {
    let slot = this.#slots.get(key);
    if (!slot) this.#slots.set(key, (slot = { running: 0, waiting: [] }));
    if (slot.running < limit) {
      slot.running += 1;
      return Promise.resolve(true);
    }
    if (slot.waiting.length >= maxQueue || signal?.aborted) return Promise.resolve(false);
    const entry = slot;
    return new Promise<boolean>((resolve) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      };
      const onAbort = (): void => {
        const i = entry.waiting.indexOf(grant);
        if (i >= 0) entry.waiting.splice(i, 1);
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiting.push(grant);
    });
  }

  /** Give a slot back; the longest waiter, if any, takes it over. */
  release(key: string): void {
    const slot = this.#slots.get(key);
    if (!slot) return;
    const next = slot.waiting.shift();
    if (next) {
      next();
      return;
    }
    slot.running -= 1;
    if (slot.running <= 0) this.#slots.delete(key);
  }

  inFlight(key: string): number {
    return this.#slots.get(key)?.running ?? 0;
  }

  queued(key: string): number {
    return this.#slots.get(key)?.waiting.length ?? 0;
  }
}

export interface CallRequest {
  toolkit: Toolkit;
  tool: string;
  arguments: Content;
  room: string;
  callerId?: string | null;
  toolCallId?: string | null;
  logger: Logger;
  roomApi: RoomApi;
  limiter: CallLimiter;
  /** Aborts the call from outside: room ended, caller gone, shutdown. Its reason is told to the caller. */
  signal?: AbortSignal;
  /** The calls of one owner (a host) that it may abort together; the call joins it while it runs. */
  group?: CallGroup;
}

/**
 * Calls in flight that an owner aborts together (room ended, shutdown). {@link runCall} joins with the one
 * AbortController of a call and leaves once the call settles; `join` may abort it at once (owner already
 * aborting).
 */
export interface CallGroup {
  join(controller: AbortController): void;
  leave(controller: AbortController): void;
}

export interface CallOutcome {
  readonly content: Content;
  /** For metrics and logs: ok, invalid_input, invalid_output, failed, timeout, busy, aborted, not_found. */
  readonly outcome: 'ok' | 'invalid_input' | 'invalid_output' | 'failed' | 'timeout' | 'busy' | 'aborted' | 'not_found';
  readonly durationMs: number;
}

/** Run one call to completion. Resolves with the content to answer; never rejects. */
export async function runCall(request: CallRequest): Promise<CallOutcome> {
  const started = performance.now();
  const done = (content: Content, outcome: CallOutcome['outcome']): CallOutcome => ({ content, outcome, durationMs: performance.now() - started });
  const { toolkit } = request;
  const tool: Tool | undefined = Object.hasOwn(toolkit.tools, request.tool) ? toolkit.tools[request.tool] : undefined;
  if (!tool) {
    const known = Object.keys(toolkit.tools).join(', ');
    return done(error('RR_AGENT_TOOL_NOT_FOUND', `toolkit ${toolkit.name} has no tool "${request.tool}" (it has: ${known})`), 'not_found');
  }

  const raw = argumentsValue(request.arguments);
  if (raw instanceof RoomrunnerError) return done(toContent(raw), 'invalid_input');
  const parsed = tool.input.safeParse(tool.normalizeInput(raw));
  if (!parsed.success) {
    return done(error('RR_AGENT_INVALID_INPUT', `Invalid arguments for agent ${toolkit.name}: ${describeIssues(parsed.error)}`), 'invalid_input');
  }

  const key = `${toolkit.name}\u0000${request.tool}`;
  const logger = request.logger.child({ agent: toolkit.name, tool: request.tool, call: request.toolCallId ?? undefined });
  // One controller per call, aborted by the deadline, by request.signal and by the owner's group; the listeners
  // are removed when the call settles (cheaper than AbortSignal.any, which is tracked with WeakRefs).
  const controller = new AbortController();
  const signal = controller.signal;
  // The deadline covers waiting for a slot too: a caller waits at most timeoutMs in all.
  const timer = setTimeout(() => {
    controller.abort(new RoomrunnerError('RR_AGENT_TIMEOUT', `agent ${toolkit.name} did not answer within ${tool.timeoutMs} ms`));
  }, tool.timeoutMs);
  const outer = request.signal;
  const onOuterAbort = outer ? (): void => controller.abort(outer.reason) : undefined;
  if (outer && onOuterAbort) {
    if (outer.aborted) onOuterAbort();
    else outer.addEventListener('abort', onOuterAbort, { once: true });
  }
  const group = request.group;
  group?.join(controller);
  let acquired = false;
  try {
    acquired = await request.limiter.acquire(key, tool.concurrency, tool.maxQueue, signal);
    if (!acquired && !signal.aborted) {
      return done(
        error(
          'RR_AGENT_BUSY',
          `agent ${toolkit.name} is busy: ${tool.concurrency} calls running and ${tool.maxQueue} waiting in room ${request.room}; retry later`,
        ),
        'busy',
      );
    }
    if (!acquired) throw signal.reason;
    const ctx = makeContext(request, logger, signal);
    const output = await untilAborted(Promise.resolve().then(() => tool.run(parsed.data, ctx)), signal);
    const checked = tool.output.safeParse(output);
    if (!checked.success) {
      logger.error({ issues: checked.error.issues }, 'agent returned output that does not match its output schema');
      return done(
        error('RR_AGENT_INVALID_OUTPUT', `agent ${toolkit.name} returned output that does not match its output schema: ${describeIssues(checked.error)}`),
        'invalid_output',
      );
    }
    return done({ type: 'json', json: tool.normalizeOutput(checked.data) }, 'ok');
  } catch (thrown) {
    if (signal.aborted && thrown === signal.reason) {
      if (isRoomrunnerError(thrown, 'RR_AGENT_TIMEOUT')) {
        logger.warn({ timeoutMs: tool.timeoutMs }, 'agent call timed out');
        return done(toContent(thrown), 'timeout');
      }
      const why = thrown instanceof Error ? thrown.message : String(thrown);
      return done(error('RR_AGENT_ABORTED', `call to agent ${toolkit.name} was aborted: ${why}`), 'aborted');
    }
    logger.warn({ err: thrown instanceof Error ? thrown.message : String(thrown) }, 'agent threw');
    return done(thrownToContent(thrown), 'failed');
  } finally {
    clearTimeout(timer);
    if (outer && onOuterAbort) outer.removeEventListener('abort', onOuterAbort);
    group?.leave(controller);
    if (acquired) request.limiter.release(key);
  }
}

/** A json object argument, or `{}` for `empty` (as npm hosts do, §E.5 step 3). */
function argumentsValue(content: Content): unknown {
  if (content.type === 'json') return content.json;
  if (content.type === 'empty') return {};
  return new RoomrunnerError('RR_AGENT_UNSUPPORTED_INPUT', `this tool requires JSON object input, got a ${content.type} content`);
}

function makeContext(request: CallRequest, logger: Logger, signal: AbortSignal): AgentContext {
  const invoke = (toolkit: string, tool: string, args: Content = { type: 'empty' }): Promise<Content> =>
    request.roomApi.invokeTool({ toolkit, tool, arguments: args, signal });
  return {
    room: request.room,
    callerId: request.callerId ?? '',
    toolCallId: request.toolCallId ?? '',
    logger,
    signal,
    invoke,
    async call(toolkit, tool, args = {}) {
      const content = await invoke(toolkit, tool, { type: 'json', json: args });
      if (content.type === 'json') return content.json;
      if (content.type === 'text') return content.text;
      if (content.type === 'empty') return null;
      throw new RoomrunnerError('RR_AGENT_FAILED', `${toolkit}.${tool} answered with a ${content.type} content; use ctx.invoke for non-JSON results`);
    },
    listToolkits: () => request.roomApi.listToolkits(),
  };
}

/** Settle with the handler, or reject with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      // The handler may still settle later; its late rejection must not become an unhandled one.
      work.catch(() => undefined);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (reason: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(reason);
      },
    );
  });
}

function thrownToContent(thrown: unknown): Content {
  if (thrown instanceof RoomrunnerError) return toContent(thrown);
  if (thrown instanceof z.ZodError) return { type: 'error', text: describeIssues(thrown), code: CONTENT_CODES.OPERATION_FAILED };
  const message = thrown instanceof Error ? thrown.message : typeof thrown === 'string' ? thrown : 'the agent failed';
  return { type: 'error', text: message || 'the agent failed', code: CONTENT_CODES.OPERATION_FAILED };
}

function error(code: ConstructorParameters<typeof RoomrunnerError>[0], message: string): Content {
  return toContent(new RoomrunnerError(code, message));
}

function toContent(err: RoomrunnerError): Content {
  return { type: 'error', text: err.message, code: err.contentCode };
}
