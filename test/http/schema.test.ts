import { describe, expect, it } from "vitest";
import { firstProblem, type Schema } from "../../src/http/schema";

const STRICT: Schema = {
  type: "object",
  additionalProperties: false,
  properties: { name: { type: "string" }, tags: { type: "array", items: { type: "string" } } },
};

describe("Should look names up as own properties only", () => {
  it.each(Object.getOwnPropertyNames(Object.prototype))("refuses %s as an unknown field", (name) => {
    expect(firstProblem(JSON.parse(`{${JSON.stringify(name)}:"x"}`), STRICT)).toBe(
      `body has an unknown field "${name}"; allowed: name, tags`,
    );
  });

  it("finds a field named like an Object.prototype member when the schema really has it", () => {
    const schema: Schema = {
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries([["toString", { type: "string" } satisfies Schema]]),
    };

    expect(firstProblem({ toString: "x" }, schema)).toBeUndefined();
    expect(firstProblem(JSON.parse('{"toString":1}'), schema)).toBe("body.toString must be a string");
  });
});

describe("Should refuse what JSON.parse makes of numbers JSON cannot carry", () => {
  it.each([
    ["at the top", "1e999", { type: "number" }, "body must be a finite number"],
    ["in a field", '{"name":-1e999}', STRICT, "body.name must be a finite number"],
    ["in an untyped schema", "1e999", {}, "body must be a finite number"],
  ] as Array<[string, string, Schema, string]>)("%s", (_label, text, schema, problem) => {
    expect(firstProblem(JSON.parse(text), schema)).toBe(problem);
  });
});

describe("Should check array items against items", () => {
  it("names the first bad item by index", () => {
    expect(firstProblem({ tags: ["a", 1] }, STRICT)).toBe("body.tags[1] must be a string");
    expect(firstProblem({ tags: ["a", "b"] }, STRICT)).toBeUndefined();
  });
});
