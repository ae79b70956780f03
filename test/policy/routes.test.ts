import { env } from "cloudflare:test";
import type { JWTPayload } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callWith, gateWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { captureLogs, eventsOf } from "../support/logs";
import { mintToken, Peers } from "../support/peers";
import { MODES as SHARED_MODES } from "../support/self-hosted";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

const MODES = SHARED_MODES.map(({ mode, env }) => [mode, env] as const);

interface Row {
  name: string;
  policy: unknown;
  /** The create body: a workflow alias, or none for the default workflow. */
  body?: { workflow: string };
  accept: JWTPayload[];
  /** Claims refused, each with the rule the 403 must name. */
  refuse: Array<[JWTPayload, string]>;
}

/** Policies × tokens through the real create route: what each lets through next to what it refuses. */
const TABLE: Row[] = [
  {
    name: "verified email only",
    policy: { require: [{ claim: "email_verified", equals: true }] },
    accept: [{ email_verified: true }],
    refuse: [
      [{ email_verified: "true" }, "require[0]: email_verified equals true"],
      [{}, "require[0]: email_verified equals true"],
    ],
  },
  {
    name: "one email domain",
    policy: {
      require: [
        { claim: "email_verified", equals: true },
        { claim: "email", ends_with: "@example.com" },
      ],
    },
    accept: [{ email_verified: true, email: "alice@Example.COM" }],
    refuse: [
      [{ email_verified: true, email: "alice@badexample.com" }, "require[1]: email ends_with the configured suffix"],
      [{ email_verified: false, email: "alice@example.com" }, "require[0]: email_verified equals true"],
    ],
  },
  {
    name: "an Auth0 namespaced role",
    policy: { require: [{ claim: ["https://chat.example.com/roles"], contains: "chat-user" }] },
    accept: [{ "https://chat.example.com/roles": ["admin", "chat-user"] }],
    refuse: [
      [
        { "https://chat.example.com/roles": "chat-user" },
        'require[0]: ["https://chat.example.com/roles"] contains the configured value',
      ],
    ],
  },
  {
    name: "an Entra app role, user tokens only",
    policy: {
      require: [
        { claim: "roles", contains: "Chat.User" },
        { claim: "scp", exists: true },
      ],
    },
    accept: [{ roles: ["Chat.User"], scp: "access" }],
    refuse: [[{ roles: ["Chat.User"] }, "require[1]: scp exists true"]],
  },
  {
    name: "any of a group or a domain",
    policy: {
      require_any: [
        { claim: "groups", contains: "ChatKit Users" },
        { claim: "email", ends_with: ".example.com" },
      ],
    },
    accept: [{ groups: ["ChatKit Users"] }, { email: "bob@eu.example.com" }],
    refuse: [
      [
        { groups: ["Others"], email: "bob@example.org" },
        "require_any: one of groups contains the configured value; email ends_with the configured suffix",
      ],
    ],
  },
  {
    name: "a Supabase plan for the support alias only",
    policy: { workflows: { support: { require: [{ claim: "app_metadata.plan", in: ["pro", "team"] }] } } },
    body: { workflow: "support" },
    accept: [{ app_metadata: { plan: "team" } }],
    refuse: [
      [{ app_metadata: { plan: "free" } }, "workflows.support.require[0]: app_metadata.plan in the configured list"],
      [{ user_metadata: { plan: "pro" } }, "workflows.support.require[0]: app_metadata.plan in the configured list"],
    ],
  },
  {
    name: "@default names the workflow used without an alias",
    policy: { workflows: { "@default": { require: [{ claim: "chat", equals: true }] } } },
    accept: [{ chat: true }],
    refuse: [[{ chat: "yes" }, "workflows.@default.require[0]: chat equals true"]],
  },
];

describe.each(MODES)("Should enforce ACCESS_POLICY on create before ChatKit or KV (%s mode)", (_mode, modeEnv) => {
  const cases = TABLE.flatMap((row) => [
    ...row.accept.map((claims) => [row, claims, undefined] as const),
    ...row.refuse.map(([claims, rule]) => [row, claims, rule] as const),
  ]);

  it.each(cases.map(([row, claims, rule]) => [row.name, rule ?? "accepted", row, claims, rule] as const))(
    "%s: %s",
    async (_name, _label, row, claims, rule) => {
      const lines = captureLogs();
      const gate = gateWith({ env: { ...modeEnv, ACCESS_POLICY: JSON.stringify(row.policy) } });
      const token = await mintToken({ sub: `u-${crypto.randomUUID()}`, ...claims });

      const response = await gate.call("POST", "/v1/chatkit/sessions", { token, body: row.body });

      if (rule === undefined) {
        expect(response.status).toBe(201);
        expect(await kvEntries()).toHaveLength(1);
        return;
      }
      const error = await errorOf(response);
      expect(error).toEqual({
        status: 403,
        code: "forbidden",
        message: `The token does not meet this requirement: ${rule}`,
      });
      // Nothing reached ChatKit (hosted) or the ChatKit server, and nothing was stored.
      expect(peers.upstreamCalls()).toEqual([]);
      expect(peers.serverCalls()).toEqual([]);
      expect(await kvEntries()).toEqual([]);
      expect(eventsOf(lines, "access_refused")).toEqual([
        {
          level: "warn",
          event: "access_refused",
          request_id: expect.any(String),
          provider: TEST_ENV.AUTH_ISSUER,
          rule,
        },
      ]);
      // The claim's value is never shown, in the answer or the log.
      const shown = JSON.stringify([error, lines]);
      for (const value of Object.values(claims).flatMap((v) => (typeof v === "string" && v !== "true" ? [v] : []))) {
        expect(shown).not.toContain(value);
      }
    },
  );
});

describe("Should apply ACCESS_POLICY's top level to every session route", () => {
  const policy = JSON.stringify({ require: [{ claim: "groups", contains: "chat" }] });

  it.each([
    ["GET", "/v1/chatkit/sessions"],
    ["GET", "/v1/chatkit/sessions/cksess_abc"],
    ["POST", "/v1/chatkit/sessions/cksess_abc/cancel"],
    ["POST", "/v1/chatkit/sessions/cancel_all"],
  ])("%s %s answers 403 before any KV call", async (method, path) => {
    const gate = gateWith({ env: { ACCESS_POLICY: policy } });
    const token = await mintToken({ groups: ["other"] });
    const sessionKeys = vi.spyOn(env.SESSIONS, "list");
    const reads = vi.spyOn(env.SESSIONS, "get");

    const response = await gate.call(method, path, { token });

    expect(await errorOf(response)).toMatchObject({ status: 403, code: "forbidden" });
    expect(peers.upstreamCalls()).toEqual([]);
    expect(sessionKeys).not.toHaveBeenCalled();
    expect(reads.mock.calls.filter(([key]) => String(key).startsWith("session:"))).toEqual([]);
  });

  it("lets a user who meets it list and cancel, while a workflow's additions only bind the create", async () => {
    const gate = gateWith({
      env: {
        ACCESS_POLICY: JSON.stringify({
          require: [{ claim: "groups", contains: "chat" }],
          workflows: { support: { require: [{ claim: "plan", equals: "pro" }] } },
        }),
      },
    });
    const token = await mintToken({ sub: `u-${crypto.randomUUID()}`, groups: ["chat"], plan: "free" });

    const created = await gate.call("POST", "/v1/chatkit/sessions", { token });
    const refused = await gate.call("POST", "/v1/chatkit/sessions", { token, body: { workflow: "support" } });
    const listed = await gate.call("GET", "/v1/chatkit/sessions", { token });

    expect(created.status).toBe(201);
    expect(await errorOf(refused)).toMatchObject({ status: 403, code: "forbidden" });
    expect(listed.status).toBe(200);
    expect(peers.upstreamCalls()).toHaveLength(1);
  });
});

describe("Should refuse a malformed ACCESS_POLICY as config_invalid naming the exact rule", () => {
  it.each([
    [{ require: [{ claim: "email", ends_with: "example.com" }] }, "ACCESS_POLICY.require[0].ends_with must be"],
    [
      { workflows: { research: { require: [{ claim: "plan", equals: "pro" }] } } },
      "ACCESS_POLICY.workflows key #1 must be a CHATKIT_WORKFLOWS alias or @default",
    ],
    [
      { workflows: { support: { require: [{ claim: "plan" }] } } },
      "ACCESS_POLICY.workflows.support.require[0] must have one test",
    ],
  ])("%j", async (policy, problem) => {
    const response = await callWith({ env: { ACCESS_POLICY: JSON.stringify(policy) } }, "GET", "/healthz");

    const error = await errorOf(response);
    expect(error).toMatchObject({ status: 503, code: "config_invalid" });
    expect(error.message).toContain(problem);
  });
});
