/**
 * The JSON Schemas an agent registers (`input_spec.schema`, `output_spec.schema`), in the form MeshAgent's LLM
 * agents accept. Those agents turn room toolkits into model tools and pass every schema through meshagent-tools
 * `ensure_strict_json_schema` (the OpenAI structured-outputs rules): every property becomes required, every
 * object gets `additionalProperties: false`, and an object that allows extra keys is refused. A schema emitted
 * here is already in that form, so the treatment leaves it unchanged and its meaning with it.
 *
 * The rule for optional fields: an optional zod field is emitted required and nullable (`anyOf [S, null]`), and
 * `null` for it means "absent": {@link nullAsAbsent} drops it before the input schema validates, and
 * {@link absentAsNull} sends an absent optional output field as `null`. So `z.string().optional()` keeps
 * meaning "may be left out" for a model, which can only leave it out by sending `null`.
 *
 * Input schemas (what a model writes) must stay inside the structured-outputs subset; what cannot be said there
 * (open-ended keys, any-value fields, tuples, negations, …) is refused when the agent is defined, naming the
 * field. Pure constraints outside the subset (`minLength`, `maxLength`, `uniqueItems`, unlisted formats) are
 * left out of the schema; zod still enforces them on every call, and its error tells the caller which. A
 * `default` moves into the description. Output schemas get the same treatment but are not refused: nobody
 * asks a model to write them.
 */
import { z } from 'zod';
import { RoomrunnerError } from '../errors.js';

type JsonSchema = Record<string, unknown>;
export type SchemaSide = 'input' | 'output';

/** Keywords of the structured-outputs subset, kept as they are. */
const SUBSET_KEYWORDS: ReadonlySet<string> = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'anyOf',
  'enum',
  'const',
  'description',
  'title',
  '$defs',
  '$ref',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
]);
/** Constraints and annotations outside the subset that zod keeps enforcing: left out of the schema. */
const DROPPED_KEYWORDS: ReadonlySet<string> = new Set([
  '$schema',
  '$id',
  '$comment',
  'id',
  'minLength',
  'maxLength',
  'uniqueItems',
  'contentEncoding',
  'contentMediaType',
  'examples',
  'readOnly',
  'writeOnly',
  'deprecated',
  'default',
]);
/** String formats the structured-outputs subset knows; zod's others (`uri`, `regex`, …) are left out. */
const SUBSET_FORMATS: ReadonlySet<string> = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid']);
/** What a model is told for keywords that cannot be said in the subset, per keyword. */
const REFUSED_KEYWORDS: Readonly<Record<string, string>> = {
  not: 'a negation (not)',
  if: 'a conditional (if/then/else)',
  patternProperties: 'keys matching a pattern (patternProperties)',
  propertyNames: 'open-ended keys (a z.record)',
  prefixItems: 'a tuple (prefixItems); use an object',
  dependentRequired: 'dependent fields (dependentRequired)',
  dependentSchemas: 'dependent schemas (dependentSchemas)',
  unevaluatedProperties: 'unevaluatedProperties',
  contains: 'an array that must contain a match (contains)',
  minProperties: 'a minimum number of keys (minProperties)',
  maxProperties: 'a maximum number of keys (maxProperties)',
};

/** The JSON Schema an agent registers for one side of a tool, from its zod schema. */
export function registeredJsonSchema(schema: z.ZodType, side: SchemaSide, where: string): JsonSchema {
  const zodJson = zodJsonSchema(schema, side, where);
  const converter = new Converter(zodJson, side, where);
  const out = converter.convert(zodJson, side);
  if (side === 'input' && out['type'] !== 'object') {
    throw refused(where, side, side, 'the input must be a JSON object (z.object or z.strictObject): LLM agents call tools with an object of arguments');
  }
  return out;
}

/** zod's own JSON Schema of one side (`io` picks the side of transforms and defaults). */
export function zodJsonSchema(schema: z.ZodType, side: SchemaSide, where: string): JsonSchema {
  try {
    return z.toJSONSchema(schema, { io: side, unrepresentable: 'any' }) as JsonSchema;
  } catch (cause) {
    throw new RoomrunnerError('RR_AGENT_DEFINITION_INVALID', `${where}: the ${side} schema cannot be turned into JSON Schema`, { cause });
  }
}

class Converter {
  readonly #root: JsonSchema;
  readonly #side: SchemaSide;
  readonly #where: string;

  constructor(root: JsonSchema, side: SchemaSide, where: string) {
    this.#root = root;
    this.#side = side;
    this.#where = where;
  }

  convert(node: unknown, path: string): JsonSchema {
    if (node === true || (isObject(node) && Object.keys(node).length === 0)) {
      if (this.#side === 'output') return {};
      throw refused(this.#where, this.#side, path, 'it accepts any value (z.any, z.unknown, or a type JSON Schema cannot express); give it a type');
    }
    if (!isObject(node)) throw refused(this.#where, this.#side, path, 'it is not a JSON Schema object');

    // A `$ref` with other keywords next to it is inlined, as the strict treatment would do.
    const sibling = (key: string): boolean => key !== '$ref' && (key === 'default' || !DROPPED_KEYWORDS.has(key));
    if (typeof node['$ref'] === 'string' && Object.keys(node).some(sibling)) {
      const { $ref, ...siblings } = node;
      return this.convert({ ...this.#resolve($ref as string, path), ...siblings }, path);
    }

    const out: JsonSchema = {};
    const hints: string[] = [];
    for (const [key, value] of Object.entries(node)) {
      if (key === 'default') {
        hints.push(`Default: ${JSON.stringify(value)}.`);
      } else if (DROPPED_KEYWORDS.has(key)) {
        // zod keeps enforcing it; the subset cannot say it.
      } else if (key === 'format') {
        if (typeof value === 'string' && SUBSET_FORMATS.has(value)) out[key] = value;
      } else if (key === 'oneOf') {
        // zod writes discriminated unions as oneOf; their variants exclude each other, so anyOf means the same.
        out['anyOf'] = this.#variants(value, `${path}.oneOf`);
      } else if (key === 'anyOf') {
        out['anyOf'] = this.#variants(value, `${path}.anyOf`);
      } else if (key === 'allOf' && Array.isArray(value) && value.length === 1) {
        Object.assign(out, this.convert(value[0], `${path}.allOf[0]`));
      } else if (key === '$defs' && isObject(value)) {
        out[key] = Object.fromEntries(Object.entries(value).map(([name, def]) => [name, this.convert(def, `${path}.$defs.${name}`)]));
      } else if (key === '$ref') {
        if (value !== '#' && !(typeof value === 'string' && value.startsWith('#/$defs/'))) {
          throw refused(this.#where, this.#side, path, `it refers to ${JSON.stringify(value)}, outside the schema's own $defs`);
        }
        out[key] = value;
      } else if (key === 'items') {
        out[key] = this.#side === 'output' && value === false ? value : this.convert(value, `${path}[]`);
      } else if (key === 'properties' || key === 'required' || key === 'additionalProperties') {
        // Written below, for objects.
      } else if (SUBSET_KEYWORDS.has(key)) {
        out[key] = value;
      } else if (this.#side === 'output') {
        out[key] = value;
      } else {
        throw refused(this.#where, this.#side, path, `it uses ${REFUSED_KEYWORDS[key] ?? `the keyword "${key}"`}, which LLM agents do not accept`);
      }
    }
    if (isObjectType(node)) this.#object(node, out, path);
    if (this.#side === 'input' && !('type' in out) && !('anyOf' in out) && !('$ref' in out) && !('enum' in out) && !('const' in out)) {
      throw refused(this.#where, this.#side, path, 'it accepts any value; give it a type');
    }
    if (hints.length > 0) out['description'] = [typeof out['description'] === 'string' ? out['description'] : '', ...hints].filter(Boolean).join(' ');
    return out;
  }

  /** Every property required (an optional one nullable), no extra keys. */
  #object(node: JsonSchema, out: JsonSchema, path: string): void {
    const extra = node['additionalProperties'];
    const open = extra !== undefined && extra !== false;
    if (open && this.#side === 'input') {
      throw refused(
        this.#where,
        this.#side,
        path,
        'it allows keys the schema does not name (z.record or z.looseObject); LLM agents accept only closed objects (z.object or z.strictObject)',
      );
    }
    const properties = isObject(node['properties']) ? node['properties'] : {};
    const required = new Set(Array.isArray(node['required']) ? (node['required'] as unknown[]) : []);
    const converted: JsonSchema = {};
    for (const [name, property] of Object.entries(properties)) {
      const schema = this.convert(property, `${path}.${name}`);
      converted[name] = required.has(name) || this.#acceptsNull(schema) ? schema : { anyOf: [schema, { type: 'null' }] };
    }
    out['properties'] = converted;
    out['required'] = Object.keys(converted);
    // An output that allows extra keys keeps saying so (the strict treatment keeps a schema there, too).
    out['additionalProperties'] = open ? (isObject(extra) ? this.convert(extra, `${path}.*`) : {}) : false;
  }

  #variants(value: unknown, path: string): JsonSchema[] {
    if (!Array.isArray(value)) throw refused(this.#where, this.#side, path, 'its variants are not a list');
    return value.map((variant, i) => this.convert(variant, `${path}[${i}]`));
  }

  #acceptsNull(schema: JsonSchema): boolean {
    return acceptsNull(schema, this.#root);
  }

  #resolve(ref: string, path: string): JsonSchema {
    const resolved = resolveRef(this.#root, ref);
    if (!resolved) throw refused(this.#where, this.#side, path, `its $ref ${JSON.stringify(ref)} does not resolve`);
    return resolved;
  }
}

/**
 * Input arguments as the zod input schema reads them: `null` for an optional field that does not itself accept
 * `null` is dropped (the field is absent). `zodJson` is zod's own JSON Schema of the input side. A new value;
 * the arguments are not changed.
 */
export function nullAsAbsent(zodJson: JsonSchema, value: unknown): unknown {
  return walk(zodJson, zodJson, value, (schema, field, required) => (field === null && !required && !acceptsNull(schema, zodJson) ? DROP : field));
}

/**
 * An output value as the registered output schema promises it: an optional field that is absent is sent as
 * `null`. `zodJson` is zod's own JSON Schema of the output side; `value` has passed the output schema.
 */
export function absentAsNull(zodJson: JsonSchema, value: unknown): unknown {
  return walk(zodJson, zodJson, value, undefined, true);
}

const DROP = Symbol('drop');
/** What becomes of one field of an object: its value, or DROP. */
type FieldRule = (schema: JsonSchema, field: unknown, required: boolean) => unknown;

function walk(root: JsonSchema, node: unknown, value: unknown, rule: FieldRule | undefined, fillAbsent = false): unknown {
  const schema = deref(root, node);
  if (!schema) return value;
  const variants = schema['anyOf'] ?? schema['oneOf'];
  if (Array.isArray(variants)) {
    const variant = pickVariant(root, variants, value);
    return variant === undefined ? value : walk(root, variant, value, rule, fillAbsent);
  }
  if (Array.isArray(value)) {
    const items = schema['items'];
    return isObject(items) ? value.map((item) => walk(root, items, item, rule, fillAbsent)) : value;
  }
  if (!isObject(value) || !isObject(schema['properties'])) return value;
  const properties = schema['properties'];
  const required = new Set(Array.isArray(schema['required']) ? (schema['required'] as unknown[]) : []);
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    const property = Object.hasOwn(properties, key) ? properties[key] : undefined;
    if (!isObject(property)) {
      out[key] = field;
      continue;
    }
    const kept = rule ? rule(property, field, required.has(key)) : field;
    if (kept === DROP) continue;
    out[key] = walk(root, property, kept, rule, fillAbsent);
  }
  if (fillAbsent) for (const key of Object.keys(properties)) if (!Object.hasOwn(out, key)) out[key] = null;
  return out;
}

/** The variant a value belongs to: for an object, the first object variant that names all its keys. */
function pickVariant(root: JsonSchema, variants: unknown[], value: unknown): unknown {
  const resolved = variants.map((variant) => deref(root, variant));
  if (Array.isArray(value)) return resolved.find((v) => v?.['type'] === 'array');
  if (!isObject(value)) return undefined;
  return resolved.find((v) => {
    if (!v || !isObject(v['properties'])) return false;
    const properties = v['properties'];
    return Object.keys(value).every((key) => Object.hasOwn(properties, key));
  });
}

/** True when `schema` accepts `null` as it is. */
function acceptsNull(schema: JsonSchema, root: JsonSchema): boolean {
  const resolved = deref(root, schema);
  if (!resolved) return false;
  const type = resolved['type'];
  if (type === 'null' || (Array.isArray(type) && type.includes('null'))) return true;
  if (Array.isArray(resolved['enum']) && resolved['enum'].includes(null)) return true;
  if ('const' in resolved && resolved['const'] === null) return true;
  const variants = resolved['anyOf'] ?? resolved['oneOf'];
  return Array.isArray(variants) && variants.some((variant) => isObject(variant) && acceptsNull(variant, root));
}

/** Follow a bare `$ref` (siblings override the target, as the strict treatment merges them). */
function deref(root: JsonSchema, node: unknown): JsonSchema | undefined {
  let current = node;
  for (let hops = 0; hops < 32 && isObject(current) && typeof current['$ref'] === 'string'; hops++) {
    const { $ref, ...siblings } = current;
    const target = resolveRef(root, $ref as string);
    if (!target) return undefined;
    current = { ...target, ...siblings };
  }
  return isObject(current) ? current : undefined;
}

function resolveRef(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let current: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    if (!isObject(current)) return undefined;
    current = current[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return isObject(current) ? current : undefined;
}

function isObjectType(node: JsonSchema): boolean {
  return node['type'] === 'object' || (node['type'] === undefined && isObject(node['properties']));
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refused(where: string, side: SchemaSide, path: string, why: string): RoomrunnerError {
  return new RoomrunnerError('RR_AGENT_DEFINITION_INVALID', `${where}: the ${side} schema at ${path} cannot be offered to LLM agents: ${why}`, {
    data: { side, path },
  });
}
