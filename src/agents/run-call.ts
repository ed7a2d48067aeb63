/**
 * Runs one call of one tool: the only place that validates input before the handler and output after it,
 * enforces the deadline and the per-room concurrency limit, and turns every failure into an `error` content
 * for the caller (docs/references.md §typed-agents). It never throws and needs no socket: the room is reached through
 * {@link RoomApi}, which the host backs with a live connection and the test harness with other agents.
 */
import { z } from 'zod';
import { CONTENT_CODES, RoomrunnerError, isRoomrunnerError } from '../errors.js';
import { CONTROL_CLOSE_INVALID_DATA, CONTROL_CLOSE_NORMAL, type Content } from '../protocol/content.js';
import { describeIssues } from '../protocol/messages.js';
import type { Logger } from '../logger.js';
import { isAsyncIterable } from '../room/chunk-queue.js';
import { serverError } from '../room/session.js';
import { SYSTEM_CLOCK, type Clock } from '../util/clock.js';
import { errorMessage } from '../util/error-message.js';
import type { KeyedSemaphore, Release } from '../util/semaphore.js';
import type { AgentContext, Toolkit, Tool } from './define-agent.js';

/** One call a handler makes into the room: single or streamed arguments. */
export interface RoomApiRequest {
  toolkit: string;
  tool: string;
  arguments: Content | AsyncIterable<Content>;
  signal?: AbortSignal;
}

/** What a handler's context needs from the room. */
export interface RoomApi {
  /** The answer content; for a streamed answer its final value (last chunk). Rejects on `error`. */
  invokeTool(request: RoomApiRequest): Promise<Content>;
  /** The answer as it arrives (see RoomClient.invoke). */
  invokeStream(request: RoomApiRequest): AsyncIterable<Content>;
  listToolkits(): Promise<Record<string, { participantId?: string | null; title?: string | null; tools: string[] }>>;
}

/** Where a streaming tool's answer goes: `open` once, then each chunk in order (backed by the socket). */
export interface ResponseSink {
  open(): Promise<void>;
  chunk(content: Content): Promise<void>;
}

/**
 * The per-room call limit: a {@link KeyedSemaphore} keyed by agent and tool, with the tool's `concurrency` as
 * the limit and its `maxQueue` as the bound on calls waiting in FIFO order; past both, a call is refused at
 * once ("busy"). The name stays for the host, the test harness and the MCP route that create one.
 */
export { KeyedSemaphore as CallLimiter } from '../util/semaphore.js';

export interface CallRequest {
  toolkit: Toolkit;
  tool: string;
  arguments: Content;
  room: string;
  callerId?: string | null;
  toolCallId?: string | null;
  logger: Logger;
  roomApi: RoomApi;
  limiter: KeyedSemaphore;
  /** Aborts the call from outside: room ended, caller gone, shutdown. Its reason is told to the caller. */
  signal?: AbortSignal;
  /** The calls of one owner (a host) that it may abort together; the call joins it while it runs. */
  group?: CallGroup;
  /** Time for the deadline (default {@link SYSTEM_CLOCK}). */
  clock?: Clock;
  /** The request chunks when the caller streams its input (`arguments` is then `control open`). */
  input?: AsyncIterable<Content> | null;
  /**
   * Where a streaming tool's chunks go. The outcome's content is then the stream's end (a `control close`, or
   * an `error` that goes out as a chunk before a normal close). Without it a streaming tool answers with its
   * final value as one content.
   */
  stream?: ResponseSink;
}

/** What a {@link CallGroup} aborts: one call in flight. */
export interface AbortableCall {
  abort(reason: unknown): void;
}

/**
 * Calls in flight that an owner aborts together (room ended, socket closed, shutdown). {@link runCall} joins
 * with the call and leaves once it settles; `join` may abort it at once (owner already aborting).
 */
export interface CallGroup {
  join(call: AbortableCall): void;
  leave(call: AbortableCall): void;
}

/**
 * One call's abort state. The deadline, the owner's group and the caller's signal abort it; an AbortController
 * (and its EventTarget) is made only when something needs a real signal: the agent reads `ctx.signal` or makes
 * a call of its own, or the call has to wait for a slot. Most calls never do, and skip that cost.
 */
export class CallAbort implements AbortableCall {
  #aborted = false;
  #reason: unknown;
  #controller: AbortController | undefined;
  /** The one pending {@link race}'s reject (runCall awaits one thing at a time). */
  #onAbort: ((reason: unknown) => void) | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** A signal that aborts with this call (made on first use). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Abort with `reason`; only the first abort counts. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const onAbort = this.#onAbort;
    this.#onAbort = undefined;
    onAbort?.(reason);
  }

  /** Settle with `work`, or reject with the reason as soon as the call aborts. */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.#aborted) {
      work.catch(() => undefined);
      return Promise.reject(this.#reason);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (reason: unknown): void => {
        // The work may still settle later; its late rejection must not become an unhandled one.
        work.catch(() => undefined);
        reject(reason);
      };
      this.#onAbort = onAbort;
      work.then(
        (value) => {
          if (this.#onAbort === onAbort) this.#onAbort = undefined;
          resolve(value);
        },
        (reason: unknown) => {
          if (this.#onAbort === onAbort) this.#onAbort = undefined;
          reject(reason);
        },
      );
    });
  }
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

  const streamedIn = request.input != null;
  if (tool.streamInput !== streamedIn) {
    const why = tool.streamInput ? 'takes streamed input: send its arguments as a stream of json chunks' : 'does not take streamed input: send one json object';
    return done(error('RR_AGENT_UNSUPPORTED_INPUT', `tool "${request.tool}" of toolkit ${toolkit.name} ${why}`), 'invalid_input');
  }
  // Set by the input stream when a chunk fails its schema: the call then fails as invalid input, whatever the
  // handler did with the error.
  const inputFailure: { error?: RoomrunnerError } = {};
  let args: unknown;
  if (request.input != null) {
    args = validatedInput(request.input, tool, toolkit.name, inputFailure);
  } else {
    const raw = argumentsValue(request.arguments);
    if (raw instanceof RoomrunnerError) return done(toContent(raw), 'invalid_input');
    const parsed = tool.input.safeParse(tool.normalizeInput(raw));
    if (!parsed.success) {
      return done(error('RR_AGENT_INVALID_INPUT', `Invalid arguments for agent ${toolkit.name}: ${describeIssues(parsed.error)}`), 'invalid_input');
    }
    args = parsed.data;
  }

  const key = `${toolkit.name}\u0000${request.tool}`;
  // The call's own logger is made when something logs (a failure, or the agent reading ctx.logger).
  let callLogger: Logger | undefined;
  const logger = (): Logger => (callLogger ??= request.logger.child({ agent: toolkit.name, tool: request.tool, call: request.toolCallId ?? undefined }));
  const abort = new CallAbort();
  // The deadline covers waiting for a slot too: a caller waits at most timeoutMs in all.
  const clock = request.clock ?? SYSTEM_CLOCK;
  const timer = clock.setTimeout(() => {
    abort.abort(new RoomrunnerError('RR_AGENT_TIMEOUT', `agent ${toolkit.name} did not answer within ${tool.timeoutMs} ms`));
  }, tool.timeoutMs);
  const outer = request.signal;
  const onOuterAbort = outer ? (): void => abort.abort(outer.reason) : undefined;
  if (outer && onOuterAbort) {
    if (outer.aborted) onOuterAbort();
    else outer.addEventListener('abort', onOuterAbort, { once: true });
  }
  const group = request.group;
  group?.join(abort);
  let release: Release | undefined;
  try {
    if (abort.aborted) throw abort.reason;
    // A free slot is taken at once; waiting for one needs a signal (timeout, room gone), which rejects the wait.
    release =
      request.limiter.tryAcquire(key, tool.concurrency) ??
      (await request.limiter.acquire(key, tool.concurrency, { maxQueue: tool.maxQueue, signal: abort.signal }));
    if (release === undefined) {
      return done(
        error(
          'RR_AGENT_BUSY',
          `agent ${toolkit.name} is busy: ${tool.concurrency} calls running and ${tool.maxQueue} waiting in room ${request.room}; retry later`,
        ),
        'busy',
      );
    }
    const ctx = makeContext(request, logger, abort);
    if (tool.chunk !== undefined)
      return await streamOutput({ tool, chunk: tool.chunk, agent: toolkit.name, args, ctx, abort, sink: request.stream, logger, inputFailure, done });
    // A handler that answers synchronously is not raced against the deadline: nothing can abort it meanwhile.
    const returned: unknown = tool.run(args, ctx);
    const output = isPromiseLike(returned) ? await abort.race(Promise.resolve(returned)) : returned;
    if (inputFailure.error) return done(toContent(inputFailure.error), 'invalid_input');
    const checked = tool.output.safeParse(output);
    if (!checked.success) {
      logger().error({ issues: checked.error.issues }, 'agent returned output that does not match its output schema');
      return done(
        error('RR_AGENT_INVALID_OUTPUT', `agent ${toolkit.name} returned output that does not match its output schema: ${describeIssues(checked.error)}`),
        'invalid_output',
      );
    }
    return done({ type: 'json', json: tool.normalizeOutput(checked.data) }, 'ok');
  } catch (thrown) {
    if (abort.aborted && thrown === abort.reason) {
      if (isRoomrunnerError(thrown, 'RR_AGENT_TIMEOUT')) {
        logger().warn({ timeoutMs: tool.timeoutMs }, 'agent call timed out');
        return done(toContent(thrown), 'timeout');
      }
      const why = errorMessage(thrown);
      return done(error('RR_AGENT_ABORTED', `call to agent ${toolkit.name} was aborted: ${why}`), 'aborted');
    }
    if (inputFailure.error) return done(streamEnd(inputFailure.error, request.stream !== undefined && tool.chunk !== undefined), 'invalid_input');
    logger().warn({ err: thrown }, 'agent threw');
    return done(thrownToContent(thrown), 'failed');
  } finally {
    clock.clearTimeout(timer);
    if (outer && onOuterAbort) outer.removeEventListener('abort', onOuterAbort);
    group?.leave(abort);
    release?.();
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

interface StreamRun {
  tool: Tool;
  chunk: z.ZodType;
  agent: string;
  args: unknown;
  ctx: AgentContext;
  abort: CallAbort;
  sink: ResponseSink | undefined;
  logger: () => Logger;
  inputFailure: { error?: RoomrunnerError };
  done(content: Content, outcome: CallOutcome['outcome']): CallOutcome;
}

/**
 * Run a streaming tool (docs/protocol.md §E.5): open the answer, send each yielded chunk once it matches the
 * chunk schema, then the final value, then `close`. A chunk or final value that does not match ends the stream
 * with close 1007 and the reason; a throw is left to the caller of this function (an `error` chunk, then close).
 */
async function streamOutput(run: StreamRun): Promise<CallOutcome> {
  const { tool, chunk, agent, abort, sink, done } = run;
  let last: Content | undefined;
  const emit = async (content: Content): Promise<void> => {
    if (sink) await abort.race(sink.chunk(content));
    else last = content;
  };
  if (sink) await abort.race(sink.open());
  const produced = tool.run(run.args, run.ctx) as unknown;
  if (!isAsyncIterable(produced)) {
    const err = new RoomrunnerError('RR_AGENT_INVALID_CHUNK', `agent ${agent} streams its output but run did not return an async generator`);
    run.logger().error({ err }, 'streaming agent returned no async generator');
    return done(streamEnd(err, sink !== undefined), 'invalid_output');
  }
  const iterator = produced[Symbol.asyncIterator]();
  // Stop the generator (its finally blocks run) without waiting: it may be stuck in an await of its own.
  const stop = (): void =>
    void Promise.resolve()
      .then(() => iterator.return?.())
      .catch(() => undefined);
  let final: unknown;
  try {
    for (let index = 0; ; index += 1) {
      const step = await abort.race(Promise.resolve().then(() => iterator.next()));
      if (run.inputFailure.error) {
        stop();
        return done(streamEnd(run.inputFailure.error, sink !== undefined), 'invalid_input');
      }
      if (step.done) {
        final = step.value;
        break;
      }
      const parsed = chunk.safeParse(step.value);
      if (!parsed.success) {
        stop();
        const err = new RoomrunnerError(
          'RR_AGENT_INVALID_CHUNK',
          `agent ${agent} yielded chunk ${index} that does not match its chunk schema: ${describeIssues(parsed.error)}`,
        );
        run.logger().error({ issues: parsed.error.issues, index }, 'agent yielded a chunk that does not match its chunk schema');
        return done(streamEnd(err, sink !== undefined), 'invalid_output');
      }
      await emit({ type: 'json', json: parsed.data });
    }
  } catch (thrown) {
    stop();
    throw thrown;
  }
  const checked = tool.output.safeParse(final);
  if (!checked.success) {
    const err = new RoomrunnerError(
      'RR_AGENT_INVALID_CHUNK',
      `agent ${agent} returned a final value that does not match its output schema: ${describeIssues(checked.error)}`,
    );
    run.logger().error({ issues: checked.error.issues }, 'agent returned a final value that does not match its output schema');
    return done(streamEnd(err, sink !== undefined), 'invalid_output');
  }
  if (checked.data !== undefined) await emit({ type: 'json', json: checked.data });
  return done(sink ? { type: 'control', method: 'close', statusCode: CONTROL_CLOSE_NORMAL } : (last ?? { type: 'empty' }), 'ok');
}

/** How a validation failure ends a call: close 1007 with the reason on an open stream, else an `error` answer. */
function streamEnd(err: RoomrunnerError, streaming: boolean): Content {
  return streaming ? { type: 'control', method: 'close', statusCode: CONTROL_CLOSE_INVALID_DATA, message: err.message } : toContent(err);
}

/**
 * The input stream a streamed-input tool reads: each request chunk's json value, checked against the input
 * schema. The first that fails is recorded in `failure` and thrown into the reader.
 */
function validatedInput(source: AsyncIterable<Content>, tool: Tool, agent: string, failure: { error?: RoomrunnerError }): AsyncIterable<unknown> {
  return {
    async *[Symbol.asyncIterator]() {
      let index = 0;
      for await (const content of source) {
        if (content.type !== 'json') {
          failure.error = new RoomrunnerError(
            'RR_AGENT_INVALID_CHUNK',
            `input chunk ${index} of agent ${agent} is a ${content.type} content; this tool reads json chunks`,
          );
          throw failure.error;
        }
        const parsed = tool.input.safeParse(content.json);
        if (!parsed.success) {
          failure.error = new RoomrunnerError(
            'RR_AGENT_INVALID_CHUNK',
            `input chunk ${index} of agent ${agent} does not match its input schema: ${describeIssues(parsed.error)}`,
          );
          throw failure.error;
        }
        yield parsed.data;
        index += 1;
      }
    },
  };
}

/** A json object argument, or `{}` for `empty` (as npm hosts do, §E.5 step 3). */
function argumentsValue(content: Content): unknown {
  if (content.type === 'json') return content.json;
  if (content.type === 'empty') return {};
  return new RoomrunnerError('RR_AGENT_UNSUPPORTED_INPUT', `this tool requires JSON object input, got a ${content.type} content`);
}

function makeContext(request: CallRequest, logger: () => Logger, abort: CallAbort): AgentContext {
  const { roomApi } = request;
  const invoke = (toolkit: string, tool: string, args: Content | AsyncIterable<Content> = { type: 'empty' }): Promise<Content> =>
    roomApi.invokeTool({ toolkit, tool, arguments: args, signal: abort.signal });
  const invokeStream = (toolkit: string, tool: string, args: Content | AsyncIterable<Content> = { type: 'empty' }): AsyncIterable<Content> =>
    roomApi.invokeStream({ toolkit, tool, arguments: args, signal: abort.signal });
  return {
    room: request.room,
    callerId: request.callerId ?? '',
    toolCallId: request.toolCallId ?? '',
    get logger() {
      return logger();
    },
    get signal() {
      return abort.signal;
    },
    invoke,
    invokeStream,
    async call(toolkit, tool, args = {}) {
      return resultValue(toolkit, tool, await invoke(toolkit, tool, jsonArguments(args)));
    },
    async *callStream(toolkit, tool, args = {}) {
      for await (const content of invokeStream(toolkit, tool, jsonArguments(args))) {
        if (content.type === 'error') throw serverError(content);
        yield resultValue(toolkit, tool, content);
      }
    },
    listToolkits: () => roomApi.listToolkits(),
  };
}

function resultValue(toolkit: string, tool: string, content: Content): unknown {
  if (content.type === 'json') return content.json;
  if (content.type === 'text') return content.text;
  if (content.type === 'empty') return null;
  throw new RoomrunnerError('RR_AGENT_FAILED', `${toolkit}.${tool} answered with a ${content.type} content; use ctx.invoke for non-JSON results`);
}

/** One json content, or each object of a streamed input as a json chunk. */
export function jsonArguments(args: Record<string, unknown> | AsyncIterable<Record<string, unknown>>): Content | AsyncIterable<Content> {
  if (!isAsyncIterable(args)) return { type: 'json', json: args };
  const items = args as AsyncIterable<Record<string, unknown>>;
  return {
    async *[Symbol.asyncIterator]() {
      for await (const item of items) yield { type: 'json', json: item } as Content;
    },
  };
}

function thrownToContent(thrown: unknown): Content {
  if (thrown instanceof RoomrunnerError) return toContent(thrown);
  if (thrown instanceof z.ZodError) return { type: 'error', text: describeIssues(thrown), code: CONTENT_CODES.OPERATION_FAILED };
  // Not errorMessage(): a thrown object that is neither an Error nor a string says nothing a caller can use.
  const message = thrown instanceof Error || typeof thrown === 'string' ? errorMessage(thrown) : 'the agent failed';
  return { type: 'error', text: message || 'the agent failed', code: CONTENT_CODES.OPERATION_FAILED };
}

function error(code: ConstructorParameters<typeof RoomrunnerError>[0], message: string): Content {
  return toContent(new RoomrunnerError(code, message));
}

function toContent(err: RoomrunnerError): Content {
  return { type: 'error', text: err.message, code: err.contentCode };
}
