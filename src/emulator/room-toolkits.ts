/**
 * Toolkit registrations in an emulated room (docs/protocol.md §E.2, §E.3) and the visibility rules the
 * emulator applies when listing and routing (§E.3, §E.5 step 1):
 *
 * - a public registration is visible to everyone (grants permitting);
 * - a private one only to the participant that registered it, or to a caller that targets its host explicitly
 *   with `participant_id` (the documented private `ui` toolkit pattern);
 * - several registrations may share a name (e.g. a host that reconnected before its old socket was noticed
 *   gone); the newest visible one wins.
 */
import type { RegisterToolkit, ToolDescription } from '../protocol/messages.js';
import type { JsonObject } from '../protocol/packing.js';

export interface ToolkitRegistration {
  readonly id: string;
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly thumbnailUrl: string | null;
  readonly public: boolean;
  readonly annotations: Readonly<Record<string, unknown>>;
  readonly tools: Readonly<Record<string, ToolDescription>>;
  /** The participant that registered it (its host). */
  readonly participantId: string;
  readonly registeredAt: number;
}

export interface ToolkitInfo {
  readonly id: string;
  readonly name: string;
  readonly participantId: string;
  readonly public: boolean;
  readonly tools: readonly string[];
  readonly registeredAt: number;
}

export function registrationFrom(header: RegisterToolkit, id: string, participantId: string, registeredAt: number): ToolkitRegistration {
  return {
    id,
    name: header.name,
    title: header.title ?? header.name,
    description: header.description ?? '',
    thumbnailUrl: header.thumbnail_url ?? null,
    public: header.public,
    annotations: header.annotations ?? {},
    tools: header.tools,
    participantId,
    registeredAt,
  };
}

export function toolkitInfo(registration: ToolkitRegistration): ToolkitInfo {
  return {
    id: registration.id,
    name: registration.name,
    participantId: registration.participantId,
    public: registration.public,
    tools: Object.keys(registration.tools),
    registeredAt: registration.registeredAt,
  };
}

export interface VisibilityQuery {
  /** The participant asking. */
  readonly callerId: string;
  /** `participant_id` of the request: restricts to that host and makes its private toolkits visible. */
  readonly participantId?: string | null | undefined;
}

export class ToolkitRegistry {
  /** Insertion order is registration order, so the last match is the newest. */
  readonly #byId = new Map<string, ToolkitRegistration>();

  get size(): number {
    return this.#byId.size;
  }

  all(): ToolkitRegistration[] {
    return [...this.#byId.values()];
  }

  get(id: string): ToolkitRegistration | undefined {
    return this.#byId.get(id);
  }

  add(registration: ToolkitRegistration): void {
    this.#byId.set(registration.id, registration);
  }

  remove(id: string): ToolkitRegistration | undefined {
    const registration = this.#byId.get(id);
    if (registration) this.#byId.delete(id);
    return registration;
  }

  /** Remove and return every registration hosted by `participantId`. */
  removeHostedBy(participantId: string): ToolkitRegistration[] {
    const removed = this.all().filter((r) => r.participantId === participantId);
    for (const registration of removed) this.#byId.delete(registration.id);
    return removed;
  }

  /** Registrations `query.callerId` may see, newest last. */
  visible(query: VisibilityQuery): ToolkitRegistration[] {
    return this.all().filter((r) => isVisible(r, query));
  }

  /** The newest registration named `name` visible to the caller. */
  resolve(name: string, query: VisibilityQuery): ToolkitRegistration | undefined {
    return this.visible(query)
      .filter((r) => r.name === name)
      .at(-1);
  }
}

function isVisible(registration: ToolkitRegistration, query: VisibilityQuery): boolean {
  const targeted = query.participantId !== undefined && query.participantId !== null;
  if (targeted && registration.participantId !== query.participantId) return false;
  return registration.public || registration.participantId === query.callerId || targeted;
}

/**
 * One toolkit as `room.list_toolkits` lists it (§E.3): tools as a map (Python requires one), every field
 * present (null when unknown), and content specs with the types the current SDKs know.
 */
export function describeToolkit(registration: ToolkitRegistration): JsonObject {
  const tools: JsonObject = {};
  for (const [name, tool] of Object.entries(registration.tools)) tools[name] = describeTool(name, tool);
  return {
    name: registration.name,
    title: registration.title,
    description: registration.description,
    thumbnail_url: registration.thumbnailUrl,
    participant_id: registration.participantId,
    annotations: { ...registration.annotations },
    tools,
  };
}

function describeTool(name: string, tool: ToolDescription): JsonObject {
  return {
    title: tool.title ?? name,
    description: tool.description ?? '',
    input_spec: listedSpec(tool.input_spec, tool.input_schema),
    output_spec: listedSpec(tool.output_spec, tool.output_schema),
    defs: tool.defs ?? null,
    strict: tool.strict ?? null,
    thumbnail_url: tool.thumbnail_url ?? null,
    pricing: typeof tool['pricing'] === 'string' ? tool['pricing'] : null,
  };
}

/**
 * Content types a `ToolContentSpec` may name in the current SDKs (meshagent-ts 0.47 `ToolContentType`, Python
 * `ToolContentSpec`). `binary` is listed as registered, like the real server does, although npm 0.39.9 throws
 * on it when it lists the room: the 0.47 SDK hosts and reads `binary` tools.
 */
export const LISTED_SPEC_TYPES: ReadonlySet<string> = new Set(['binary', 'json', 'text', 'file', 'link', 'empty']);

/**
 * A `ToolContentSpec` as listed (§D.4): the known types as registered (a type no SDK knows would make every
 * client throw on the whole listing, so it is left out, and a spec left with none is dropped). A legacy
 * tool-level schema means `{types:["json"], schema}`.
 */
function listedSpec(spec: ToolDescription['input_spec'], legacySchema: ToolDescription['input_schema']): JsonObject | null {
  if (spec) {
    const types = spec.types.filter((type) => LISTED_SPEC_TYPES.has(type));
    if (types.length === 0) return null;
    const out: JsonObject = { types, stream: spec.stream };
    if (spec.schema !== undefined) out['schema'] = spec.schema;
    return out;
  }
  if (legacySchema) return { types: ['json'], stream: false, schema: legacySchema };
  return null;
}
