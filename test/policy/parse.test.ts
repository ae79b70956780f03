import { describe, expect, it } from "vitest";
import { SettingsReader } from "../../src/config/reader";
import { evaluatePolicy } from "../../src/policy/evaluate";
import { MAX_IN_VALUES, MAX_REQUIREMENTS, MAX_VALUE_LENGTH, parsePolicy, readPolicy } from "../../src/policy/parse";

const ALIASES = new Set(["research", "basic"]);
const S = "ACCESS_POLICY";

function problems(raw: unknown, aliases: ReadonlySet<string> | undefined = ALIASES): readonly string[] {
  const result = parsePolicy(raw, S, aliases);
  return result.ok ? [] : result.problems;
}

const ok = { claim: "email_verified", equals: true };
const REQUIREMENT_SHAPE = "must be an object with a claim and one test";
const CLAIM_PROBLEM =
  "must be a dot path or a list of claim names (none empty, spaced, __proto__, constructor or prototype)";
const SCALAR = `a string (up to ${MAX_VALUE_LENGTH} characters), number or boolean`;
const IN_PROBLEM = `must be a list of 1 to ${MAX_IN_VALUES} values, each a string (up to ${MAX_VALUE_LENGTH} characters), number or boolean`;
const ENDS_WITH_PROBLEM = `must be a string of 2 to ${MAX_VALUE_LENGTH} characters starting with @ or .`;

describe("parsePolicy accepts", () => {
  it.each([
    ["require only", { require: [ok] }],
    ["require_any only", { require_any: [ok] }],
    ["workflows only", { workflows: { research: { require: [ok] } } }],
    ["the default workflow", { workflows: { "@default": { require_any: [ok] } } }],
    [
      "every test",
      {
        require: [
          { claim: "a", equals: "x" },
          { claim: "b", equals: 1.5 },
          { claim: "c", in: ["x", 2, false] },
          { claim: "d", contains: "x" },
          { claim: "e", ends_with: "@example.com" },
          { claim: "f", ends_with: ".example.com" },
          { claim: "g", exists: false },
          { claim: ["https://example.com/roles"], contains: "admin" },
          { claim: ["https://example.com/app", "plan"], equals: "pro" },
        ],
      },
    ],
    [
      "the longest lists",
      { require: Array(MAX_REQUIREMENTS).fill({ claim: "c", in: Array(MAX_IN_VALUES).fill("v") }) },
    ],
  ])("%s", (_name, raw) => {
    expect(problems(raw)).toEqual([]);
  });
});

describe("parsePolicy names the exact rule that is malformed", () => {
  it.each<[string, unknown, string[]]>([
    // The policy as a whole
    ["a string", "email_verified", [`${S} must be a JSON object with require, require_any, workflows`]],
    ["a list", [ok], [`${S} must be a JSON object with require, require_any, workflows`]],
    ["null", null, [`${S} must be a JSON object with require, require_any, workflows`]],
    ["no requirement", {}, [`${S} must contain at least one requirement (leave it unset for none)`]],
    ["an unknown key", { require: [ok], allow: [] }, [`${S} key #2 is not one of require, require_any, workflows`]],
    // Lists
    ["require not a list", { require: ok }, [`${S}.require must be a list of 1 to ${MAX_REQUIREMENTS} requirements`]],
    [
      "an empty require_any",
      { require_any: [] },
      [`${S}.require_any must be a list of 1 to ${MAX_REQUIREMENTS} requirements`],
    ],
    [
      "too many requirements",
      { require: Array(MAX_REQUIREMENTS + 1).fill(ok) },
      [`${S}.require must be a list of 1 to ${MAX_REQUIREMENTS} requirements`],
    ],
    // One requirement
    ["a requirement that is a string", { require: ["email_verified"] }, [`${S}.require[0] ${REQUIREMENT_SHAPE}`]],
    [
      "an unknown key in a requirement",
      { require: [{ claim: "a", equals: 1, equal: 2 }] },
      [`${S}.require[0] key #3 is not one of claim, equals, in, contains, ends_with, exists`],
    ],
    [
      "two tests",
      { require: [ok, { claim: "a", equals: 1, in: [1] }] },
      [`${S}.require[1] must have only one test, not equals and in`],
    ],
    [
      "no test",
      { require_any: [{ claim: "a" }] },
      [`${S}.require_any[0] must have one test: equals, in, contains, ends_with, exists`],
    ],
    // Claim paths
    ["no claim", { require: [{ equals: true }] }, [`${S}.require[0].claim ${CLAIM_PROBLEM}`]],
    ["an empty claim", { require: [{ claim: "", equals: true }] }, [`${S}.require[0].claim ${CLAIM_PROBLEM}`]],
    ["an empty segment", { require: [{ claim: "a..b", equals: true }] }, [`${S}.require[0].claim ${CLAIM_PROBLEM}`]],
    ["a spaced claim", { require: [{ claim: "a b", equals: true }] }, [`${S}.require[0].claim ${CLAIM_PROBLEM}`]],
    ["a number claim", { require: [{ claim: 7, equals: true }] }, [`${S}.require[0].claim ${CLAIM_PROBLEM}`]],
    ["an empty name list", { require: [{ claim: [], equals: true }] }, [`${S}.require[0].claim ${CLAIM_PROBLEM}`]],
    [
      "a name list with a number",
      { require: [{ claim: ["a", 1], equals: true }] },
      [`${S}.require[0].claim ${CLAIM_PROBLEM}`],
    ],
    [
      "a name list with an empty name",
      { require: [{ claim: ["a", ""], equals: true }] },
      [`${S}.require[0].claim ${CLAIM_PROBLEM}`],
    ],
    [
      "a path 9 deep",
      { require: [{ claim: "a.b.c.d.e.f.g.h.i", equals: true }] },
      [`${S}.require[0].claim ${CLAIM_PROBLEM}`],
    ],
    // Tests
    ["equals null", { require: [{ claim: "a", equals: null }] }, [`${S}.require[0].equals must be ${SCALAR}`]],
    ["equals an object", { require: [{ claim: "a", equals: {} }] }, [`${S}.require[0].equals must be ${SCALAR}`]],
    [
      "equals a long string",
      { require: [{ claim: "a", equals: "x".repeat(MAX_VALUE_LENGTH + 1) }] },
      [`${S}.require[0].equals must be ${SCALAR}`],
    ],
    ["in a string", { require: [{ claim: "a", in: "pro" }] }, [`${S}.require[0].in ${IN_PROBLEM}`]],
    ["in an empty list", { require: [{ claim: "a", in: [] }] }, [`${S}.require[0].in ${IN_PROBLEM}`]],
    ["in with null", { require: [{ claim: "a", in: ["pro", null] }] }, [`${S}.require[0].in ${IN_PROBLEM}`]],
    ["in with a list", { require: [{ claim: "a", in: [["pro"]] }] }, [`${S}.require[0].in ${IN_PROBLEM}`]],
    [
      "in too long",
      { require: [{ claim: "a", in: Array(MAX_IN_VALUES + 1).fill("v") }] },
      [`${S}.require[0].in ${IN_PROBLEM}`],
    ],
    ["contains a list", { require: [{ claim: "a", contains: ["x"] }] }, [`${S}.require[0].contains must be ${SCALAR}`]],
    [
      "ends_with a bare domain",
      { require: [{ claim: "a", ends_with: "example.com" }] },
      [`${S}.require[0].ends_with ${ENDS_WITH_PROBLEM}`],
    ],
    [
      "ends_with @ alone",
      { require: [{ claim: "a", ends_with: "@" }] },
      [`${S}.require[0].ends_with ${ENDS_WITH_PROBLEM}`],
    ],
    [
      "ends_with a number",
      { require: [{ claim: "a", ends_with: 5 }] },
      [`${S}.require[0].ends_with ${ENDS_WITH_PROBLEM}`],
    ],
    [
      "exists a string",
      { require: [{ claim: "a", exists: "true" }] },
      [`${S}.require[0].exists must be true or false`],
    ],
    // Workflows
    [
      "the brief's example",
      { workflows: { research: { require: [ok, { claim: "app_metadata.plan", in: [] }] } } },
      [`${S}.workflows.research.require[1].in ${IN_PROBLEM}`],
    ],
    [
      "an unknown alias",
      { workflows: { research: { require: [ok] }, resarch: { require: [ok] } } },
      [`${S}.workflows key #2 must be a CHATKIT_WORKFLOWS alias or @default`],
    ],
    [
      "workflows as a list",
      { workflows: [] },
      [`${S}.workflows must be an object of CHATKIT_WORKFLOWS aliases or @default`],
    ],
    ["no workflow", { workflows: {} }, [`${S}.workflows must be an object of CHATKIT_WORKFLOWS aliases or @default`]],
    [
      "a workflow that is a list",
      { workflows: { research: [ok] } },
      [`${S}.workflows.research must be an object with require and/or require_any`],
    ],
    [
      "a workflow without requirements",
      { workflows: { basic: {} } },
      [`${S}.workflows.basic must be an object with require and/or require_any`],
    ],
    [
      "an unknown key in a workflow",
      { workflows: { "@default": { require: [ok], workflows: {} } } },
      [`${S}.workflows.@default key #2 is not one of require, require_any`],
    ],
  ])("%s", (_name, raw, expected) => {
    expect(problems(raw)).toEqual(expected);
  });

  it("lists every problem at once, in policy order", () => {
    expect(
      problems({
        require: [{ claim: "a", exists: 1 }],
        require_any: [
          { claim: "b", in: [] },
          { claim: "", contains: "x" },
        ],
        workflows: { research: { require: [{ claim: "c", ends_with: "c.com" }] }, nope: { require: [ok] } },
      }),
    ).toEqual([
      `${S}.require[0].exists must be true or false`,
      `${S}.require_any[0].in ${IN_PROBLEM}`,
      `${S}.require_any[1].claim ${CLAIM_PROBLEM}`,
      `${S}.workflows.research.require[0].ends_with ${ENDS_WITH_PROBLEM}`,
      `${S}.workflows key #2 must be a CHATKIT_WORKFLOWS alias or @default`,
    ]);
  });

  it("refuses workflows in a policy that does not depend on the workflow (ADMIN_POLICY)", () => {
    const result = parsePolicy(
      { require: [ok], workflows: { "@default": { require: [ok] } } },
      "ADMIN_POLICY",
      undefined,
    );
    expect(result).toEqual({
      ok: false,
      problems: ["ADMIN_POLICY.workflows is not allowed in this policy"],
    });
  });

  it("takes the aliases as a Map too (CHATKIT_WORKFLOWS as configured)", () => {
    const aliases = new Map([["research", { id: "wf_r" }]]);
    expect(parsePolicy({ workflows: { research: { require: [ok] } } }, S, aliases).ok).toBe(true);
  });
});

describe("parsePolicy refuses prototype names", () => {
  it.each([
    ["__proto__", "__proto__"],
    ["a nested __proto__", "app_metadata.__proto__.admin"],
    ["constructor", "constructor"],
    ["a nested prototype", "a.prototype"],
  ])("in a dot path: %s", (_name, claim) => {
    expect(problems({ require: [{ claim, exists: true }] })).toEqual([`${S}.require[0].claim ${CLAIM_PROBLEM}`]);
  });

  it.each([
    ["__proto__", ["__proto__"]],
    ["a name after a namespaced one", ["https://example.com/app", "constructor"]],
    ["a name with a prototype segment after a dot", ["https://example.com/app.prototype"]],
  ])("in a list of names: %s", (_name, claim) => {
    expect(problems({ require: [{ claim, exists: true }] })).toEqual([`${S}.require[0].claim ${CLAIM_PROBLEM}`]);
  });

  it.each([
    [
      "an alias",
      '{"workflows": {"__proto__": {"require": [{"claim": "a", "exists": true}]}}}',
      `${S}.workflows key #1 must be a CHATKIT_WORKFLOWS alias or @default`,
    ],
    [
      "a top-level key",
      '{"require": [{"claim": "a", "exists": true}], "__proto__": {}}',
      `${S} key #2 is not one of require, require_any, workflows`,
    ],
    [
      "a requirement key",
      '{"require": [{"claim": "a", "exists": true, "__proto__": {"in": [1]}}]}',
      `${S}.require[0] key #3 is not one of claim, equals, in, contains, ends_with, exists`,
    ],
    [
      "an inherited test",
      '{"require": [{"claim": "a", "__proto__": {"equals": 1}}]}',
      `${S}.require[0] key #2 is not one of claim, equals, in, contains, ends_with, exists`,
    ],
  ])("as JSON keys: %s", (_name, json, problem) => {
    expect(problems(JSON.parse(json))).toContain(problem);
  });

  it("never treats an alias named like an Object.prototype member as known", () => {
    expect(problems({ workflows: { toString: { require: [ok] } } })).toEqual([
      `${S}.workflows key #1 must be a CHATKIT_WORKFLOWS alias or @default`,
    ]);
  });
});

describe("parsePolicy problems never echo a configured value", () => {
  it("leaves out values, unknown keys, unknown aliases and bad claim paths", () => {
    const secret = "alice@corp-secret.test";
    const found = problems({
      [secret]: 1,
      require: [
        { claim: "email", in: secret },
        { claim: "email", equals: { secret } },
        { claim: `${secret} x`, equals: true },
        { claim: "email", ends_with: secret, [secret]: true },
      ],
      workflows: { [secret]: { require: [ok] } },
    });
    expect(found).toHaveLength(7);
    for (const problem of found) expect(problem).not.toContain("corp-secret");
  });
});

describe("readPolicy", () => {
  const aliases = new Map([["research", { id: "wf_r" }]]);

  it("is undefined when unset, with no problem", () => {
    for (const value of [undefined, "", "  "]) {
      const read = new SettingsReader(value === undefined ? {} : { ACCESS_POLICY: value });
      expect(readPolicy(read, S, aliases)).toBeUndefined();
      expect(read.problems).toEqual([]);
    }
  });

  it("reads a JSON string and a structured var alike", () => {
    const raw = { workflows: { research: { require: [{ claim: "plan", in: ["pro"] }] } } };
    for (const value of [JSON.stringify(raw), raw]) {
      const read = new SettingsReader({ ACCESS_POLICY: value });
      const policy = readPolicy(read, S, aliases);
      expect(read.problems).toEqual([]);
      expect(policy && evaluatePolicy(policy, { plan: "free" }, "research")).toEqual({
        allowed: false,
        rule: "workflows.research.require[0]: plan in the configured list",
      });
    }
  });

  it("records each problem as the rule's path and its expectation", () => {
    const read = new SettingsReader({
      ACCESS_POLICY: JSON.stringify({ require: [{ claim: "a", exists: 1 }], workflows: { research: {} } }),
    });
    expect(readPolicy(read, S, aliases)).toBeUndefined();
    expect(read.problems).toEqual([
      `${S}.require[0].exists must be true or false`,
      `${S}.workflows.research must be an object with require and/or require_any`,
    ]);
  });

  it("reports JSON that does not parse", () => {
    const read = new SettingsReader({ ADMIN_POLICY: '{"require": [' });
    expect(readPolicy(read, "ADMIN_POLICY", undefined)).toBeUndefined();
    expect(read.problems).toEqual(["ADMIN_POLICY must be valid JSON"]);
  });
});
