/**
 * Validates a value against the subset of JSON Schema that OpenAI's spec
 * uses for ChatKit sessions. Returns the problems found; empty means valid.
 */
type Schema = Record<string, unknown>;

export function validate(value: unknown, schema: Schema, root: Schema, path = "$"): string[] {
  if (typeof schema.$ref === "string") {
    const target = schema.$ref
      .replace("#/", "")
      .split("/")
      .reduce<unknown>((node, key) => (node as Schema)[key], root);
    return validate(value, target as Schema, root, path);
  }
  for (const key of ["oneOf", "anyOf"] as const) {
    const options = schema[key] as Schema[] | undefined;
    if (options) {
      const passing = options.filter((option) => validate(value, option, root, path).length === 0).length;
      if (key === "anyOf" ? passing === 0 : passing !== 1) return [`${path}: matches ${passing} of ${key}`];
    }
  }
  const problems: string[] = [];
  const isType: Record<string, (v: unknown) => boolean> = {
    object: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
    array: Array.isArray,
    string: (v) => typeof v === "string",
    integer: (v) => Number.isInteger(v),
    number: (v) => typeof v === "number",
    boolean: (v) => typeof v === "boolean",
    null: (v) => v === null,
  };
  const types = schema.type === undefined ? [] : ([] as string[]).concat(schema.type as string | string[]);
  if (types.length > 0 && !types.some((t) => isType[t]?.(value))) return [`${path}: expected ${types.join(" or ")}`];
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) problems.push(`${path}: not in enum`);
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) problems.push(`${path}: below minimum`);
    if (typeof schema.maximum === "number" && value > schema.maximum) problems.push(`${path}: above maximum`);
  }
  if (typeof value === "string") {
    if (typeof schema.minLength === "number" && value.length < schema.minLength) problems.push(`${path}: too short`);
    if (typeof schema.maxLength === "number" && value.length > schema.maxLength) problems.push(`${path}: too long`);
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, index) => {
      problems.push(...validate(item, schema.items as Schema, root, `${path}[${index}]`));
    });
  }
  if (isType.object?.(value)) {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const name of (schema.required ?? []) as string[]) {
      if (!(name in object)) problems.push(`${path}.${name}: required`);
    }
    if (typeof schema.maxProperties === "number" && Object.keys(object).length > schema.maxProperties) {
      problems.push(`${path}: too many properties`);
    }
    for (const [name, child] of Object.entries(object)) {
      const childSchema = properties[name] ?? (schema.additionalProperties as Schema | undefined);
      // The spec leaves additionalProperties open; a property it does not name is still a bug in our request.
      if (childSchema === undefined && schema.properties) problems.push(`${path}.${name}: not in the schema`);
      else if (childSchema && typeof childSchema === "object")
        problems.push(...validate(child, childSchema, root, `${path}.${name}`));
    }
  }
  return problems;
}
