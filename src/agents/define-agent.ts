/**
 * Typed agents and toolkits (docs/architecture.md §Style 12). An agent is a plain value made by {@link defineAgent}: a
 * toolkit named after the agent with one tool, `ask`, whose argument and result types are inferred from zod
 * schemas. {@link defineToolkit} groups several {@link defineTool} tools under one name when an author wants
 * more than one entry point. The runner validates input before and output after every handler.
 *
 * A tool can stream both ways (docs/protocol.md §E.5): with `chunk`, `run` is an async generator whose yields are
 * the output chunks and whose return value is the final value; with `streamInput: true`, `run` gets an async
 * iterable of validated `input` items instead of one value.
 */
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';
import type { Content } from '../protocol/content.js';
import type { Logger } from '../logger.js';
import { absentAsNull, nullAsAbsent, registeredJsonSchema, zodJsonSchema } from './json-schema.js';

/** Default deadline of one call (docs/references.md §goals item 7). */
export const DEFAULT_AGENT_TIMEOUT_MS = 60_000;
/** Default number of calls one agent runs at once in one room. */
export const DEFAULT_AGENT_CONCURRENCY = 64;
/** Default number of calls that wait for a free slot before callers are told "busy". */
export const DEFAULT_AGENT_MAX_QUEUE = 1024;
/** The tool an agent answers on: `invokeTool({ toolkit: <agent name>, tool: 'ask', ... })`. */
export const AGENT_TOOL_NAME = 'ask';

export const TOOLKIT_BRAND: unique symbol = Symbol.for('roomrunner.toolkit');

/** Everything a handler may use while it answers one call. */
export interface AgentContext {
  /** The room the call came from. */
  readonly room: string;
  /** The caller's participant id (empty when the room did not say). */
  readonly callerId: string;
  /** The call's id, for logs and correlation. */
  readonly toolCallId: string;
  /** A child logger with room, agent and call id in its fields. */
  readonly logger: Logger;
  /** Aborted on the call's deadline, when the caller leaves, when the room ends, and on shutdown. */
  readonly signal: AbortSignal;
  /**
   * Call a tool of another toolkit in the same room and return its JSON result (its `json` field). Fails with a
   * RoomrunnerError carrying the room's error code; aborted with this call's signal.
   */
  call(toolkit: string, tool: string, args?: Record<string, unknown> | AsyncIterable<Record<string, unknown>>): Promise<unknown>;
  /** As {@link call} with any argument content, returning the raw result content (text, file, link, ...). */
  invoke(toolkit: string, tool: string, args?: Content | AsyncIterable<Content>): Promise<Content>;
  /**
   * Call a tool and read its answer as it arrives: each JSON chunk's value (the last one is a streamed tool's
   * final value; a single answer is one value). `args` may be an async iterable of objects: streamed input. An
   * `error` chunk or a close other than 1000 fails the iteration with a RoomrunnerError.
   */
  callStream(toolkit: string, tool: string, args?: Record<string, unknown> | AsyncIterable<Record<string, unknown>>): AsyncIterable<unknown>;
  /** As {@link callStream} with contents: every chunk as it arrives, `error` chunks included (they do not end a stream). */
  invokeStream(toolkit: string, tool: string, args?: Content | AsyncIterable<Content>): AsyncIterable<Content>;
  /** The toolkits visible in the room, by name, with their tools. */
  listToolkits(): Promise<Record<string, { participantId?: string | null; title?: string | null; tools: string[] }>>;
}

/** Schemas an input or output may use: any zod type. JSON object schemas are what rooms expect. */
export type Schema = z.ZodType;

/** What `run` gets: one validated value, or with `streamInput: true` an async iterable of them. */
export type ToolArgs<I extends Schema, S extends boolean> = S extends true ? AsyncIterable<z.output<I>> : z.output<I>;

/**
 * What `run` returns: the output value, or with a `chunk` schema an async generator that yields chunks and
 * returns the final value.
 */
export type ToolResult<O extends Schema, C extends Schema | undefined> = C extends Schema
  ? AsyncGenerator<z.input<C>, z.input<O>, undefined>
  : Promise<z.input<O>> | z.input<O>;

export interface ToolDefinition<I extends Schema, O extends Schema, C extends Schema | undefined = undefined, S extends boolean = false> {
  title?: string;
  description?: string;
  /** The arguments; with `streamInput: true`, each item of the input stream. */
  input: I;
  /** The final value (with `chunk`, what the generator returns; sent as the last chunk unless undefined). */
  output: O;
  /** Stream the output: the schema of each chunk `run` yields. Registered with `output_spec.stream: true`. */
  chunk?: C;
  /** Take streamed input: `run` gets an async iterable of `input` items. Registered with `input_spec.stream: true`. */
  streamInput?: S;
  /** Answer one call. Gets fully typed, already validated arguments; must return the output type. */
  run(args: ToolArgs<I, S>, ctx: AgentContext): ToolResult<O, C>;
  /** Deadline of one call in ms (default 60 s), streams included. The call answers 1009 and `ctx.signal` aborts past it. */
  timeoutMs?: number;
  /** Calls this tool runs at once per room (default 64). */
  concurrency?: number;
  /** Calls that wait in line for a free slot, per room, before more are answered "busy" (default 1024). */
  maxQueue?: number;
}

/** A tool after {@link defineTool}: its definition plus the JSON Schemas rooms see. */
export interface Tool<I extends Schema = Schema, O extends Schema = Schema, C extends Schema | undefined = Schema | undefined, S extends boolean = boolean> {
  readonly title: string;
  readonly description: string;
  readonly input: I;
  readonly output: O;
  /** The output chunk schema of a streaming tool, else undefined. */
  readonly chunk: C;
  readonly streamInput: S;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly maxQueue: number;
  /** The schemas registered in rooms, in the form LLM agents accept (./json-schema.ts). */
  readonly inputJsonSchema: Record<string, unknown>;
  /** For a streaming tool, the schema every output chunk matches: chunk or final value. */
  readonly outputJsonSchema: Record<string, unknown>;
  /** Arguments as `input` reads them: `null` for an optional field means absent (the LLM schema rule). */
  normalizeInput(args: unknown): unknown;
  /** A validated output as `outputJsonSchema` promises it: an absent optional field is sent as `null`. */
  normalizeOutput(output: unknown): unknown;
  run(args: ToolArgs<I, S>, ctx: AgentContext): ToolResult<O, C>;
}

/**
 * A named group of tools, registered in a room as one toolkit (§E.2). `N` and `T` keep the literal name and the
 * tools' types of a defined toolkit, so the test harness can type calls by name; both default to the wide types.
 */
export interface Toolkit<N extends string = string, T extends Readonly<Record<string, Tool>> = Readonly<Record<string, Tool>>> {
  readonly [TOOLKIT_BRAND]: true;
  readonly name: N;
  readonly title: string;
  readonly description: string;
  /** Listed to everyone in the room (true, the default) or only to its host (§E.3). */
  readonly public: boolean;
  readonly tools: Readonly<T>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** A toolkit with a single `ask` tool whose types (and literal name) are kept for inference and type tests. */
export interface Agent<
  I extends Schema = Schema,
  O extends Schema = Schema,
  C extends Schema | undefined = Schema | undefined,
  S extends boolean = boolean,
  N extends string = string,
> extends Toolkit<N, { ask: Tool<I, O, C, S> }> {}

export interface AgentDefinition<
  I extends Schema,
  O extends Schema,
  C extends Schema | undefined = undefined,
  S extends boolean = false,
  N extends string = string,
> extends ToolDefinition<I, O, C, S> {
  /** Toolkit name callers use, e.g. `samples.adder`. */
  name: N;
  public?: boolean;
  annotations?: Record<string, string>;
}

export interface ToolkitDefinition<N extends string = string, T extends Record<string, Tool> = Record<string, Tool>> {
  name: N;
  title?: string;
  description?: string;
  public?: boolean;
  annotations?: Record<string, string>;
  tools: T;
}

/** Define one typed tool, to group with others in {@link defineToolkit}. */
export function defineTool<I extends Schema, O extends Schema, C extends Schema | undefined = undefined, S extends boolean = false>(
  definition: ToolDefinition<I, O, C, S>,
  // NoInfer: inside `tools: { … }` the contextual Tool<…, boolean> must not widen S and C of this definition.
): Tool<I, O, NoInfer<C>, NoInfer<S>> {
  const where = definition.title ?? 'tool';
  if (!(definition.input instanceof z.ZodType)) throw invalid(`${where}: "input" must be a zod schema`);
  if (!(definition.output instanceof z.ZodType)) throw invalid(`${where}: "output" must be a zod schema`);
  const chunk = definition.chunk;
  if (chunk !== undefined && !(chunk instanceof z.ZodType)) throw invalid(`${where}: "chunk" must be a zod schema`);
  const streamInput = definition.streamInput ?? (false as S);
  if (typeof streamInput !== 'boolean') throw invalid(`${where}: "streamInput" must be true or false`);
  if (typeof definition.run !== 'function') throw invalid(`${where}: "run" must be a function`);
  const timeoutMs = definition.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS;
  const concurrency = definition.concurrency ?? DEFAULT_AGENT_CONCURRENCY;
  const maxQueue = definition.maxQueue ?? DEFAULT_AGENT_MAX_QUEUE;
  if (!(timeoutMs > 0)) throw invalid(`${where}: "timeoutMs" must be a positive number of milliseconds`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw invalid(`${where}: "concurrency" must be a positive integer`);
  if (!Number.isInteger(maxQueue) || maxQueue < 0) throw invalid(`${where}: "maxQueue" must be a non-negative integer`);
  return Object.freeze({
    title: definition.title ?? '',
    description: definition.description ?? '',
    input: definition.input,
    output: definition.output,
    chunk: chunk as C,
    streamInput,
    timeoutMs,
    concurrency,
    maxQueue,
    inputJsonSchema: registeredJsonSchema(definition.input, 'input', where),
    // A streaming tool's final value travels as its last chunk, so each chunk is one or the other.
    outputJsonSchema: registeredJsonSchema(chunk === undefined ? definition.output : z.union([chunk, definition.output]), 'output', where),
    normalizeInput: nullAsAbsent.bind(undefined, zodJsonSchema(definition.input, 'input', where)),
    normalizeOutput: absentAsNull.bind(undefined, zodJsonSchema(definition.output, 'output', where)),
    run: definition.run.bind(definition),
  });
}

/** Define a toolkit of several tools. Tool names are the keys of `tools`. */
export function defineToolkit<N extends string, T extends Record<string, Tool>>(definition: ToolkitDefinition<N, T>): Toolkit<N, T> {
  checkName(definition.name);
  const names = Object.keys(definition.tools ?? {});
  if (names.length === 0) throw invalid(`toolkit ${definition.name} has no tools`);
  for (const name of names) {
    if (!name) throw invalid(`toolkit ${definition.name} has a tool with an empty name`);
  }
  return Object.freeze({
    [TOOLKIT_BRAND]: true as const,
    name: definition.name,
    title: definition.title ?? definition.name,
    description: definition.description ?? '',
    public: definition.public ?? true,
    tools: Object.freeze({ ...definition.tools }),
    annotations: Object.freeze({ ...(definition.annotations ?? {}) }),
  });
}

/**
 * Define a typed agent: a toolkit named `name` with one tool `ask`. Callers use
 * `room.agents.invokeTool({ toolkit: name, tool: 'ask', arguments })` and get the output as JSON.
 */
export function defineAgent<I extends Schema, O extends Schema, C extends Schema | undefined = undefined, S extends boolean = false, N extends string = string>(
  definition: AgentDefinition<I, O, C, S, N>,
): Agent<I, O, C, S, N> {
  checkName(definition.name);
  const tool = defineTool({ ...definition, title: definition.title ?? definition.name });
  return defineToolkit({
    name: definition.name,
    title: definition.title ?? definition.name,
    description: definition.description ?? '',
    ...(definition.public === undefined ? {} : { public: definition.public }),
    ...(definition.annotations === undefined ? {} : { annotations: definition.annotations }),
    tools: { [AGENT_TOOL_NAME]: tool },
  }) as Agent<I, O, C, S, N>;
}

/** True for values made by defineAgent, defineToolkit or the class form. */
export function isToolkit(value: unknown): value is Toolkit {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TOOLKIT_BRAND] === true;
}

function checkName(name: unknown): void {
  if (typeof name !== 'string' || name.trim() === '') throw invalid('an agent or toolkit needs a non-empty "name"');
}

function invalid(message: string): RoomrunnerError {
  return new RoomrunnerError('RR_AGENT_DEFINITION_INVALID', message);
}
