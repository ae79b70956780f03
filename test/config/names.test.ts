import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callWith } from "../support/app";
import { clearKv, errorOf } from "../support/http";
import { mintToken, Peers } from "../support/peers";

/**
 * Issue 9 §1, operator side: names in configuration are data too. The
 * names JavaScript gives meaning to on every object are refused with
 * config_invalid naming the setting; every other Object.prototype member
 * name is an ordinary name, looked up as an own property only.
 */

/** Every name Object.prototype carries, plus `prototype`, which functions carry. */
const PROTOTYPE_NAMES = [...Object.getOwnPropertyNames(Object.prototype), "prototype"];
const RESERVED = ["__proto__", "constructor", "prototype"];
const ORDINARY = PROTOTYPE_NAMES.filter((name) => !RESERVED.includes(name));

/**
 * Each naming setting, with `name` put where a name goes (raw JSON text, so `__proto__` is a real own
 * key), and the one problem the operator is told.
 */
const SETTINGS: Array<[string, (name: string) => Record<string, string>, string]> = [
  [
    "CHATKIT_CLIENT_STATE_VARIABLES",
    (name) => ({ CHATKIT_CLIENT_STATE_VARIABLES: `locale,${name}` }),
    "CHATKIT_CLIENT_STATE_VARIABLES must list at most 64 names of letters, digits, _ . - (up to 64 characters, not starting with a digit; not __proto__, constructor or prototype)",
  ],
  [
    "CHATKIT_STATE_FROM_CLAIMS",
    (name) => ({ CHATKIT_STATE_FROM_CLAIMS: `{${JSON.stringify(name)}:"plan"}` }),
    "CHATKIT_STATE_FROM_CLAIMS entry #1 must map a variable name (not __proto__, constructor or prototype) to a claim dot path",
  ],
  [
    "CHATKIT_WORKFLOWS",
    (name) => ({ CHATKIT_WORKFLOWS: `{"sales":{"id":"wf_sales"},${JSON.stringify(name)}:{"id":"wf_x"}}` }),
    "CHATKIT_WORKFLOWS alias #2 must be 1 to 64 letters, digits, _ or - (not __proto__, constructor or prototype)",
  ],
];

let peers: Peers;
let token: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  token = await mintToken({ sub: "alice", plan: "pro" });
});
afterEach(() => vi.restoreAllMocks());

/** Every KV entry except the IdP's cached key set. */
async function stored(): Promise<string[]> {
  const { keys } = await env.SESSIONS.list();
  return keys.map((key) => key.name).filter((name) => !name.startsWith("jwks:"));
}

const create = (settings: Record<string, string>, body?: string) =>
  callWith({ env: settings }, "POST", "/v1/chatkit/sessions", { token, body });

/** 503 config_invalid with exactly one problem, which names the setting. */
async function expectConfigInvalid(response: Response, problem: string): Promise<void> {
  expect(await errorOf(response)).toEqual({
    status: 503,
    code: "config_invalid",
    message: `Invalid configuration: ${problem}`,
  });
  // Nothing is asked of anyone, not even the identity provider.
  expect(peers.calls).toEqual([]);
  expect(await stored()).toEqual([]);
}

/** The one body that reached ChatKit. */
function sentUpstream(): { workflow: { id: string; state_variables?: Record<string, unknown> } } {
  const [call, ...others] = peers.upstreamCalls();
  expect(call).toBeDefined();
  expect(others).toEqual([]);
  return call?.body as { workflow: { id: string; state_variables?: Record<string, unknown> } };
}

describe("Should refuse __proto__, constructor and prototype as names with 503 config_invalid", () => {
  describe.each(SETTINGS)("in %s", (_setting, put, problem) => {
    it.each(RESERVED)("%s", async (name) => {
      const response = await create(put(name));

      await expectConfigInvalid(response, problem);
    });
  });
});

describe("Should treat every other Object.prototype name as an ordinary, own name", () => {
  describe.each(ORDINARY)("%s", (name) => {
    it("as a client state variable: the client may set it, and only it", async () => {
      const settings = { CHATKIT_CLIENT_STATE_VARIABLES: `locale,${name}` };

      const accepted = await create(settings, `{"state_variables":{${JSON.stringify(name)}:"x"}}`);
      expect(accepted.status).toBe(201);
      expect(sentUpstream().workflow.state_variables).toEqual({ [name]: "x" });

      // Another prototype name is still unknown: allowing one never allows what objects inherit.
      const other = name === "valueOf" ? "toString" : "valueOf";
      const refused = await create(settings, `{"state_variables":{"${other}":"x"}}`);
      expect(await errorOf(refused)).toEqual({
        status: 400,
        code: "invalid_request",
        message: `body.state_variables has an unknown field "${other}"; allowed: locale, ${name}`,
      });
      expect(peers.upstreamCalls()).toHaveLength(1);
      expect(await stored()).toHaveLength(1);
    });

    it("as a variable filled from claims: ChatKit gets the claim under that name", async () => {
      const response = await create({ CHATKIT_STATE_FROM_CLAIMS: `{${JSON.stringify(name)}:"plan"}` });

      expect(response.status).toBe(201);
      expect(sentUpstream().workflow.state_variables).toEqual({ [name]: "pro" });
      expect(await stored()).toHaveLength(1);
    });

    it("as a workflow alias: it selects its workflow", async () => {
      const response = await create(
        { CHATKIT_WORKFLOWS: `{${JSON.stringify(name)}:{"id":"wf_x"}}` },
        `{"workflow":${JSON.stringify(name)}}`,
      );

      expect(response.status).toBe(201);
      expect(sentUpstream().workflow).toEqual({ id: "wf_x" });
      expect(await stored()).toHaveLength(1);
    });
  });
});

describe("Should refuse an Object.prototype name in CHATKIT_CONFIGURATION with 503 config_invalid", () => {
  describe.each(PROTOTYPE_NAMES)("%s", (name) => {
    it("as a section", async () => {
      const response = await create({ CHATKIT_CONFIGURATION: `{${JSON.stringify(name)}:{}}` });

      await expectConfigInvalid(
        response,
        "CHATKIT_CONFIGURATION has an unknown field; allowed: automatic_thread_titling, file_upload, history",
      );
    });

    it("as a field of a section", async () => {
      const response = await create({ CHATKIT_CONFIGURATION: `{"history":{${JSON.stringify(name)}:1}}` });

      await expectConfigInvalid(
        response,
        "CHATKIT_CONFIGURATION.history has an unknown field; allowed: enabled, recent_threads",
      );
    });
  });
});
