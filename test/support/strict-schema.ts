/**
 * A test oracle: what MeshAgent's LLM agents do to a tool's JSON Schema before a model sees it. Written from the
 * behaviour of meshagent-tools `strict_schema.py` `ensure_strict_json_schema` (itself adapted from the OpenAI
 * Agents SDK), not from its code: every object gets `additionalProperties: false` (a schema there is made
 * strict in turn; anything else but `false` is refused), every named property becomes required, an object
 * without properties gets empty ones, `items`, `anyOf`, `allOf`, `$defs` and `definitions` are treated
 * recursively, a single-entry `allOf` is merged into its parent, a `null` default is dropped, and a `$ref` with
 * other keywords next to it is inlined (those keywords win) and treated again. `{}` becomes the empty strict
 * object. The input is not changed.
 */
type Schema = Record<string, unknown>;

/** Thrown where the platform refuses a schema (an object that allows extra keys). */
export class StrictSchemaRefused extends Error {}

export function ensureStrictJsonSchema(schema: Schema): Schema {
  if (isDict(schema) && Object.keys(schema).length === 0) return { additionalProperties: false, type: 'object', properties: {}, required: [] };
  const copy = structuredClone(schema);
  return strict(copy, copy);
}

function strict(node: unknown, root: Schema): Schema {
  if (!isDict(node)) throw new TypeError(`expected a JSON Schema object, got ${JSON.stringify(node)}`);
  for (const key of ['$defs', 'definitions']) {
    const defs = node[key];
    if (isDict(defs)) for (const def of Object.values(defs)) strict(def, root);
  }
  const type = node['type'];
  if (type === 'object') {
    if (!('additionalProperties' in node)) node['additionalProperties'] = false;
    else if (isDict(node['additionalProperties'])) node['additionalProperties'] = strict(node['additionalProperties'], root);
    else if (node['additionalProperties'] !== false) throw new StrictSchemaRefused('additionalProperties should be false or a strict schema for object types');
  }
  const properties = node['properties'];
  if (isDict(properties)) {
    node['required'] = Object.keys(properties);
    node['properties'] = Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, strict(property, root)]));
  }
  if (type === 'object' && (properties === undefined || properties === null)) {
    node['required'] = [];
    node['properties'] = {};
  }
  if (isDict(node['items'])) node['items'] = strict(node['items'], root);
  if (Array.isArray(node['anyOf'])) node['anyOf'] = node['anyOf'].map((variant) => strict(variant, root));
  const allOf = node['allOf'];
  if (Array.isArray(allOf)) {
    if (allOf.length === 1) {
      Object.assign(node, strict(allOf[0], root));
      delete node['allOf'];
    } else {
      node['allOf'] = allOf.map((entry) => strict(entry, root));
    }
  }
  if ('default' in node && node['default'] === null) delete node['default'];
  const ref = node['$ref'];
  if (ref && Object.keys(node).length > 1) {
    if (typeof ref !== 'string') throw new TypeError(`non-string $ref ${JSON.stringify(ref)}`);
    const resolved = resolveRef(root, ref);
    Object.assign(node, { ...resolved, ...node });
    delete node['$ref'];
    return strict(node, root);
  }
  return node;
}

function resolveRef(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`unexpected $ref format ${JSON.stringify(ref)}`);
  let current: unknown = root;
  for (const key of ref.slice(2).split('/')) {
    current = (current as Schema)[key];
    if (!isDict(current)) throw new Error(`$ref ${ref} does not resolve to an object`);
  }
  return current as Schema;
}

function isDict(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
