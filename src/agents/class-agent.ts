/**
 * The class form, for people coming from MeshAgent's Python SDK (`PydanticAgent` with `input_model`,
 * `output_model` and `ask_model`). A subclass of {@link TypedAgent} *is* the same value `defineAgent` makes:
 * a toolkit named after the agent with one `ask` tool, so hosts, discovery and tests take either.
 */
import type { z } from 'zod';
import { defineAgent, TOOLKIT_BRAND, type Agent, type AgentContext, type Schema, type Tool } from './define-agent.js';

export interface TypedAgentOptions<I extends Schema, O extends Schema> {
  name: string;
  title?: string;
  description?: string;
  inputModel: I;
  outputModel: O;
  timeoutMs?: number;
  concurrency?: number;
  maxQueue?: number;
  public?: boolean;
  annotations?: Record<string, string>;
}

export abstract class TypedAgent<I extends Schema, O extends Schema> implements Agent<I, O, undefined, false> {
  declare readonly name: string;
  declare readonly title: string;
  declare readonly description: string;
  declare readonly public: boolean;
  declare readonly tools: Readonly<{ ask: Tool<I, O, undefined, false> }>;
  declare readonly annotations: Readonly<Record<string, string>>;
  declare readonly [TOOLKIT_BRAND]: true;

  constructor(options: TypedAgentOptions<I, O>) {
    const { inputModel, outputModel, ...rest } = options;
    // Copies the brand symbol too, so isToolkit() recognises the instance.
    Object.assign(this, defineAgent({ ...rest, input: inputModel, output: outputModel, run: (args, ctx) => this.ask(ctx, args) }));
  }

  /** Answer one call; `args` is validated against `inputModel`, the result is checked against `outputModel`. */
  abstract ask(context: AgentContext, args: z.output<I>): Promise<z.input<O>> | z.input<O>;
}
