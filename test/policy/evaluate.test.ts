import type { JWTPayload } from "jose";
import { describe, expect, it } from "vitest";
import { GateError } from "../../src/http/errors";
import { enforcePolicy, PolicyRefused } from "../../src/policy/enforce";
import { evaluatePolicy } from "../../src/policy/evaluate";
import { parsePolicy } from "../../src/policy/parse";
import type { Policy } from "../../src/policy/types";

const ALIASES = new Set(["research", "basic"]);

function compile(raw: unknown): Policy {
  const result = parsePolicy(raw, "ACCESS_POLICY", ALIASES);
  if (!result.ok) throw new Error(result.problems.join("\n"));
  return result.policy;
}

interface Row {
  name: string;
  policy: unknown;
  alias?: string;
  /** Claims let through. */
  accept: JWTPayload[];
  /** Claims refused, each with the exact rule reported. */
  refuse: Array<[JWTPayload, string]>;
}

/** Policies × claims: what each test lets through next to what it refuses. */
const TABLE: Row[] = [
  {
    name: "equals true (type-strict)",
    policy: { require: [{ claim: "email_verified", equals: true }] },
    accept: [{ email_verified: true }],
    refuse: [
      [{ email_verified: "true" }, "require[0]: email_verified equals true"],
      [{ email_verified: 1 }, "require[0]: email_verified equals true"],
      [{ email_verified: false }, "require[0]: email_verified equals true"],
      [{}, "require[0]: email_verified equals true"],
    ],
  },
  {
    name: "equals a number",
    policy: { require: [{ claim: "tier", equals: 2 }] },
    accept: [{ tier: 2 }, { tier: 2.0 }],
    refuse: [
      [{ tier: "2" }, "require[0]: tier equals the configured value"],
      [{ tier: [2] }, "require[0]: tier equals the configured value"],
    ],
  },
  {
    name: "in, on a nested dot path",
    policy: { require: [{ claim: "app_metadata.plan", in: ["pro", "team"] }] },
    accept: [{ app_metadata: { plan: "pro" } }, { app_metadata: { plan: "team", seats: 3 } }],
    refuse: [
      [{ app_metadata: { plan: "free" } }, "require[0]: app_metadata.plan in the configured list"],
      [{ app_metadata: { plan: "Pro" } }, "require[0]: app_metadata.plan in the configured list"],
      [{ app_metadata: { plan: ["pro"] } }, "require[0]: app_metadata.plan in the configured list"],
      [{ plan: "pro" }, "require[0]: app_metadata.plan in the configured list"],
      [{ app_metadata: "pro" }, "require[0]: app_metadata.plan in the configured list"],
      [{ app_metadata: ["pro"] }, "require[0]: app_metadata.plan in the configured list"],
    ],
  },
  {
    name: "in, with mixed types (type-strict)",
    policy: { require: [{ claim: "level", in: [1, true, "gold"] }] },
    accept: [{ level: 1 }, { level: true }, { level: "gold" }],
    refuse: [
      [{ level: "1" }, "require[0]: level in the configured list"],
      [{ level: "true" }, "require[0]: level in the configured list"],
      [{ level: null }, "require[0]: level in the configured list"],
    ],
  },
  {
    name: "contains, on an array claim only",
    policy: { require: [{ claim: "groups", contains: "chat-users" }] },
    accept: [{ groups: ["staff", "chat-users"] }, { groups: ["chat-users"] }],
    refuse: [
      [{ groups: "chat-users" }, "require[0]: groups contains the configured value"],
      [{ groups: ["Chat-Users"] }, "require[0]: groups contains the configured value"],
      [{ groups: [] }, "require[0]: groups contains the configured value"],
      [{ groups: { 0: "chat-users" } }, "require[0]: groups contains the configured value"],
      [{ groups: [["chat-users"]] }, "require[0]: groups contains the configured value"],
    ],
  },
  {
    name: "contains true (type-strict)",
    policy: { require: [{ claim: "flags", contains: true }] },
    accept: [{ flags: [false, true] }],
    refuse: [[{ flags: ["true", 1] }, "require[0]: flags contains true"]],
  },
  {
    name: "ends_with, ignoring ASCII case on both sides",
    policy: { require: [{ claim: "email", ends_with: "@Example.COM" }] },
    accept: [{ email: "alice@example.com" }, { email: "Bob@EXAMPLE.com" }],
    refuse: [
      [{ email: "alice@badexample.com" }, "require[0]: email ends_with the configured suffix"],
      [{ email: "alice@example.com.evil.test" }, "require[0]: email ends_with the configured suffix"],
      [{ email: "@example.com" }, "require[0]: email ends_with the configured suffix"],
      [{ email: ["alice@example.com"] }, "require[0]: email ends_with the configured suffix"],
      [{}, "require[0]: email ends_with the configured suffix"],
    ],
  },
  {
    name: "ends_with, never folding non-ASCII look-alikes",
    // U+212A KELVIN SIGN lower-cases to "k" under full Unicode folding.
    policy: { require: [{ claim: "email", ends_with: "@kelvin.test" }] },
    accept: [{ email: "a@KELVIN.test" }],
    refuse: [[{ email: "a@\u212Aelvin.test" }, "require[0]: email ends_with the configured suffix"]],
  },
  {
    name: "ends_with a subdomain suffix",
    policy: { require: [{ claim: "hd", ends_with: ".example.com" }] },
    accept: [{ hd: "eu.example.com" }],
    refuse: [
      [{ hd: "example.com" }, "require[0]: hd ends_with the configured suffix"],
      [{ hd: ".example.com" }, "require[0]: hd ends_with the configured suffix"],
    ],
  },
  {
    name: "exists true (null is absent)",
    policy: { require: [{ claim: "org.id", exists: true }] },
    accept: [{ org: { id: "o1" } }, { org: { id: "" } }, { org: { id: false } }, { org: { id: 0 } }],
    refuse: [
      [{ org: { id: null } }, "require[0]: org.id exists true"],
      [{ org: {} }, "require[0]: org.id exists true"],
      [{}, "require[0]: org.id exists true"],
    ],
  },
  {
    name: "exists false",
    policy: { require: [{ claim: "act", exists: false }] },
    accept: [{}, { act: null }],
    refuse: [
      [{ act: { sub: "admin" } }, "require[0]: act exists false"],
      [{ act: "" }, "require[0]: act exists false"],
    ],
  },
  {
    name: "own properties only",
    policy: {
      require: [
        { claim: "toString", exists: true },
        { claim: "admin", equals: true },
      ],
    },
    accept: [{ toString: "x", admin: true }],
    refuse: [
      [{ admin: true }, "require[0]: toString exists true"],
      // JSON.parse makes "__proto__" an own property: what it holds is never read as the token's own claims.
      [JSON.parse('{"toString": 1, "__proto__": {"admin": true}}'), "require[1]: admin equals true"],
    ],
  },
  {
    name: "a claim name with dots, as a list of names",
    policy: { require: [{ claim: ["https://example.com/roles"], contains: "chat" }] },
    accept: [{ "https://example.com/roles": ["chat"] }],
    refuse: [
      [
        { https: { "//example": { "com/roles": ["chat"] } } },
        'require[0]: ["https://example.com/roles"] contains the configured value',
      ],
      [
        { "https://example.com/roles": "chat" },
        'require[0]: ["https://example.com/roles"] contains the configured value',
      ],
    ],
  },
  {
    name: "require (all of) with require_any (at least one of)",
    policy: {
      require: [{ claim: "email_verified", equals: true }],
      require_any: [
        { claim: "email", ends_with: "@example.com" },
        { claim: "groups", contains: "contractors" },
      ],
    },
    accept: [
      { email_verified: true, email: "a@example.com" },
      { email_verified: true, email: "c@gmail.test", groups: ["contractors"] },
      { email_verified: true, email: "a@example.com", groups: ["contractors"] },
    ],
    refuse: [
      [
        { email_verified: true, email: "c@gmail.test", groups: ["staff"] },
        "require_any: one of email ends_with the configured suffix; groups contains the configured value",
      ],
      [{ email_verified: false, email: "a@example.com" }, "require[0]: email_verified equals true"],
    ],
  },
  {
    name: "require: the first unmet requirement is reported",
    policy: {
      require: [
        { claim: "email_verified", equals: true },
        { claim: "roles", contains: "chat" },
      ],
    },
    accept: [{ email_verified: true, roles: ["chat"] }],
    refuse: [
      [{ email_verified: true, roles: ["read"] }, "require[1]: roles contains the configured value"],
      [{ roles: ["read"] }, "require[0]: email_verified equals true"],
    ],
  },
];

/** The recipes in docs/providers.md, with each provider's token shape. */
const RECIPES: Row[] = [
  {
    name: "recipe: Auth0 namespaced roles",
    policy: { require: [{ claim: ["https://chat.example.com/roles"], contains: "chat-user" }] },
    accept: [{ sub: "auth0|1", "https://chat.example.com/roles": ["admin", "chat-user"] }],
    refuse: [
      [
        { sub: "auth0|2", "https://chat.example.com/roles": [] },
        'require[0]: ["https://chat.example.com/roles"] contains the configured value',
      ],
    ],
  },
  {
    name: "recipe: Entra app role from a user, not an app",
    policy: {
      require: [
        { claim: "roles", contains: "Chat.User" },
        { claim: "scp", exists: true },
      ],
    },
    accept: [{ oid: "o1", scp: "chat.access", roles: ["Chat.User"] }],
    refuse: [
      [{ oid: "o2", scp: "chat.access" }, "require[0]: roles contains the configured value"],
      [{ oid: "sp1", roles: ["Chat.User"] }, "require[1]: scp exists true"],
    ],
  },
  {
    name: "recipe: Supabase plan for one workflow",
    policy: { workflows: { research: { require: [{ claim: "app_metadata.plan", in: ["pro", "team"] }] } } },
    alias: "research",
    accept: [{ role: "authenticated", app_metadata: { provider: "email", plan: "team" } }],
    refuse: [
      [
        { role: "authenticated", app_metadata: { provider: "email" }, user_metadata: { plan: "pro" } },
        "workflows.research.require[0]: app_metadata.plan in the configured list",
      ],
    ],
  },
  {
    name: "recipe: Firebase custom claim",
    policy: { require: [{ claim: "chat", equals: true }] },
    accept: [{ user_id: "u1", chat: true, firebase: { sign_in_provider: "password" } }],
    refuse: [[{ user_id: "u2", firebase: { sign_in_provider: "password" } }, "require[0]: chat equals true"]],
  },
];

/** What one workflow alias adds, next to the top level that applies to all. */
const PER_ALIAS = {
  require: [{ claim: "email_verified", equals: true }],
  workflows: {
    research: { require: [{ claim: "app_metadata.plan", in: ["pro", "team"] }] },
    "@default": { require_any: [{ claim: "beta", equals: true }] },
  },
};

const ALIAS_ROWS: Row[] = [
  {
    name: "research adds its plan requirement",
    policy: PER_ALIAS,
    alias: "research",
    accept: [{ email_verified: true, app_metadata: { plan: "pro" } }],
    refuse: [
      [
        { email_verified: true, app_metadata: { plan: "free" }, beta: true },
        "workflows.research.require[0]: app_metadata.plan in the configured list",
      ],
      // The top level is checked first.
      [{ email_verified: false, app_metadata: { plan: "free" } }, "require[0]: email_verified equals true"],
    ],
  },
  {
    name: "an alias the policy does not name gets the top level only",
    policy: PER_ALIAS,
    alias: "basic",
    accept: [{ email_verified: true, app_metadata: { plan: "free" } }],
    refuse: [[{ email_verified: "yes" }, "require[0]: email_verified equals true"]],
  },
  {
    name: "the default workflow (no alias) gets @default",
    policy: PER_ALIAS,
    accept: [{ email_verified: true, beta: true }],
    refuse: [
      [
        { email_verified: true, app_metadata: { plan: "pro" } },
        "workflows.@default.require_any: one of beta equals true",
      ],
    ],
  },
];

describe.each([...TABLE, ...RECIPES, ...ALIAS_ROWS])("evaluatePolicy: $name", ({ policy, alias, accept, refuse }) => {
  const compiled = compile(policy);

  it.each(accept.map((claims) => [JSON.stringify(claims), claims] as const))("accepts %s", (_label, claims) => {
    expect(evaluatePolicy(compiled, claims, alias)).toEqual({ allowed: true });
  });

  it.each(refuse.map(([claims, rule]) => [JSON.stringify(claims), claims, rule] as const))(
    "refuses %s",
    (_label, claims, rule) => {
      expect(evaluatePolicy(compiled, claims, alias)).toEqual({ allowed: false, rule });
    },
  );
});

describe("refusal rules never carry a value", () => {
  const CLAIM_SECRET = "claim-value-7f3a";
  const POLICY_SECRET = "policy-value-9c1e";
  const claims = {
    e: CLAIM_SECRET,
    i: CLAIM_SECRET,
    c: [CLAIM_SECRET],
    w: `${CLAIM_SECRET}@elsewhere.test`,
    x: CLAIM_SECRET,
    n: { [CLAIM_SECRET]: CLAIM_SECRET },
  };

  it.each([
    ["equals", { claim: "e", equals: POLICY_SECRET }],
    ["equals a number", { claim: "e", equals: 4242 }],
    ["in", { claim: "i", in: [POLICY_SECRET, 4242] }],
    ["contains", { claim: "c", contains: POLICY_SECRET }],
    ["ends_with", { claim: "w", ends_with: `@${POLICY_SECRET}.test` }],
    ["exists false", { claim: "x", exists: false }],
    ["require_any", { claim: "n.other", equals: POLICY_SECRET }],
  ])("%s", (_name, requirement) => {
    for (const policy of [{ require: [requirement] }, { require_any: [requirement] }]) {
      const decision = evaluatePolicy(compile(policy), claims);
      expect(decision.allowed).toBe(false);
      const { rule } = decision as { rule: string };
      expect(rule).not.toContain(CLAIM_SECRET);
      expect(rule).not.toContain(POLICY_SECRET);
      expect(rule).not.toContain("4242");
    }
  });
});

describe("a compiled policy", () => {
  it("does not change when the parsed JSON does", () => {
    const raw = {
      require: [
        { claim: ["https://example.com/roles"], contains: "chat" },
        { claim: "plan", in: ["pro"] },
      ],
    };
    const policy = compile(raw);
    raw.require[0] = { claim: ["other"], contains: "x" };
    (raw.require[1] as { in: string[] }).in.push("free");
    const claims = { "https://example.com/roles": ["chat"], plan: "pro" };
    expect(evaluatePolicy(policy, claims)).toEqual({ allowed: true });
    expect(evaluatePolicy(policy, { ...claims, plan: "free" })).toEqual({
      allowed: false,
      rule: "require[1]: plan in the configured list",
    });
  });
});

describe("enforcePolicy", () => {
  const policy = compile({ require: [{ claim: "email_verified", equals: true }] });

  it("lets everyone through when no policy is configured", () => {
    expect(() => enforcePolicy(undefined, {})).not.toThrow();
  });

  it("lets a token that meets the policy through", () => {
    expect(() => enforcePolicy(policy, { email_verified: true })).not.toThrow();
  });

  it("refuses with 403 forbidden naming the rule", () => {
    let thrown: unknown;
    try {
      enforcePolicy(policy, { email_verified: "true" });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GateError);
    expect(thrown).toBeInstanceOf(PolicyRefused);
    const error = thrown as PolicyRefused;
    expect(error.status).toBe(403);
    expect(error.rule).toBe("require[0]: email_verified equals true");
    expect(error.toBody()).toEqual({
      error: {
        code: "forbidden",
        message: "The token does not meet this requirement: require[0]: email_verified equals true",
      },
    });
  });

  it("applies the alias's requirements", () => {
    const perAlias = compile(PER_ALIAS);
    const claims = { email_verified: true, app_metadata: { plan: "free" }, beta: true };
    expect(() => enforcePolicy(perAlias, claims, "basic")).not.toThrow();
    expect(() => enforcePolicy(perAlias, claims, "research")).toThrow(
      "workflows.research.require[0]: app_metadata.plan in the configured list",
    );
  });
});
