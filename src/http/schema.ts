/**
 * The subset of JSON Schema that chatkit-gate's own API needs. The same
 * schema objects validate request bodies and are published in
 * `/openapi.json`, so the documentation cannot drift from the checks.
 *
 * Names in a body are data, so every lookup by a name reads own properties
 * only: a body field called `toString` or `__proto__` is an unknown field,
 * never a member inherited from `Object.prototype`.
 */
export type JsonType = "object" | "string" | "number" | "integer" | "boolean" | "array" | "null";

export interface Schema {
  type?: JsonType | JsonType[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  /** `false` refuses names not in `properties`: a body field the contract does not name is a 400. */
  additionalProperties?: boolean | Schema;
  enum?: readonly unknown[];
  items?: Schema;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  format?: string;
  $ref?: string;
}

/** An OpenAPI response with a JSON body of `schema`, for /openapi.json. */
export const jsonResponse = (schema: Schema, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
/** An OpenAPI error response, described by the `error.code` values it carries (and what the code alone does not say). */
export const errorResponse = (description: string) => jsonResponse({ $ref: "#/components/schemas/Error" }, description);

/** Names echoed back in error messages are cut to this length. */
const ECHO_LIMIT = 64;

const echo = (name: string) => JSON.stringify(name.length > ECHO_LIMIT ? `${name.slice(0, ECHO_LIMIT)}…` : name);

/** The JSON type of a parsed value; undefined for what JSON cannot carry, such as `1e999` parsed as Infinity. */
function typeOf(value: unknown): JsonType | undefined {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return undefined;
    // Past 2^53 a JSON integer is no longer exact: it is a number, not an integer.
    return Number.isSafeInteger(value) ? "integer" : "number";
  }
  const type = typeof value;
  return type === "string" || type === "boolean" || type === "object" ? type : undefined;
}

function matchesType(actual: JsonType | undefined, type: JsonType | JsonType[]): boolean {
  const allowed = [type].flat();
  return actual !== undefined && (allowed.includes(actual) || (actual === "integer" && allowed.includes("number")));
}

function describeType(type: JsonType | JsonType[]): string {
  const names = [type].flat();
  return `a${names.length === 1 && /^[aeiou]/.test(names[0] as string) ? "n" : ""} ${names.join(" or ")}`;
}

/** The schema for the field `name`: its own entry in `properties`, else `additionalProperties`. */
function fieldSchema(schema: Schema, name: string): Schema | boolean | undefined {
  const { properties } = schema;
  return properties !== undefined && Object.hasOwn(properties, name) ? properties[name] : schema.additionalProperties;
}

/**
 * The first way `value` breaks `schema`, as a sentence for the caller
 * naming where (`body.state_variables.plan`), or undefined when it is valid.
 *
 * @param quoteNames whether a problem may quote an unknown field's name; a configuration's
 *   problems never quote its contents
 */
export function firstProblem(value: unknown, schema: Schema, path = "body", quoteNames = true): string | undefined {
  const actual = typeOf(value);
  // A number JSON.parse could not represent (1e999) would be sent on as null: no schema accepts it.
  if (typeof value === "number" && actual === undefined) return `${path} must be a finite number`;
  if (schema.type !== undefined && !matchesType(actual, schema.type))
    return `${path} must be ${describeType(schema.type)}`;
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    return `${path} must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ") || "(none configured)"}`;
  }
  if (typeof value === "string" && schema.maxLength !== undefined && value.length > schema.maxLength) {
    return `${path} must be at most ${schema.maxLength} characters`;
  }
  if (typeof value === "number" && schema.minimum !== undefined && value < schema.minimum) {
    return `${path} must be at least ${schema.minimum}`;
  }
  if (typeof value === "number" && schema.maximum !== undefined && value > schema.maximum) {
    return `${path} must be at most ${schema.maximum}`;
  }
  if (actual === "array" && schema.items !== undefined) {
    for (const [index, item] of (value as unknown[]).entries()) {
      const problem = firstProblem(item, schema.items, `${path}[${index}]`, quoteNames);
      if (problem) return problem;
    }
  }
  if (actual !== "object") return undefined;
  const object = value as Record<string, unknown>;
  for (const name of schema.required ?? []) {
    if (!Object.hasOwn(object, name)) return `${path}.${name} is required`;
  }
  for (const [name, child] of Object.entries(object)) {
    const childSchema = fieldSchema(schema, name);
    if (childSchema === false || childSchema === undefined) {
      const allowed = Object.keys(schema.properties ?? {});
      return `${path} has an unknown field${quoteNames ? ` ${echo(name)}` : ""}; allowed: ${allowed.join(", ") || "none"}`;
    }
    if (childSchema === true) continue;
    const problem = firstProblem(child, childSchema, `${path}.${name}`, quoteNames);
    if (problem) return problem;
  }
  return undefined;
}
