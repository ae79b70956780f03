import { env } from "cloudflare:test";
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_STATE_VALUE_LENGTH } from "../../src/sessions/schemas";
import { chatkitCall } from "../selfhosted/support-routes";
import { callWith } from "../support/app";
import { BASE, clearKv, errorOf } from "../support/http";
import { ISSUER, mintToken, Peers, UPSTREAM } from "../support/peers";
import { AUDIENCE, MODES, type ModeCase } from "../support/self-hosted";

/**
 * Issue 9 §1: names in a create body are data. A name that exists on every
 * JavaScript object (`__proto__`, `toString`, ...) must be an unknown field,
 * never a member inherited from Object.prototype, and a state value must be
 * a string within its cap, a finite number or a boolean.
 */

/** Every name Object.prototype carries, `__proto__` and `constructor` included. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

/** State values as JSON text, sent raw. */
const VALUES: Array<[string, string]> = [
  ["a string", '"x"'],
  ["a 9,000-character string", JSON.stringify("x".repeat(9000))],
  ["an array", '["x"]'],
  ["an object", '{"x":1}'],
  ["null", "null"],
];

let peers: Peers;
let token: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  token = await mintToken({ sub: "alice" });
});
afterEach(() => vi.restoreAllMocks());

/** Every KV entry the create route may write (records, pending marks), leaving out the IdP's cached key set. */
async function storedByCreate(): Promise<string[]> {
  const { keys } = await env.SESSIONS.list();
  return keys.map((key) => key.name).filter((name) => !name.startsWith("jwks:"));
}

/** Every call that left the worker other than to the IdP: to OpenAI, or to the self-hosted ChatKit server. */
const reachedChatKit = () => peers.calls.filter((call) => !call.url.startsWith(`${ISSUER}/`));

async function expectRefused(response: Response, message: string): Promise<void> {
  expect(await errorOf(response)).toEqual({ status: 400, code: "invalid_request", message });
  expect(reachedChatKit()).toEqual([]);
  expect(await storedByCreate()).toEqual([]);
}

/**
 * Create and what reached ChatKit, in one mode. Only `locale` may be set by
 * the client unless `variables` say otherwise: every other name is unknown.
 */
function inMode({ mode, env: settings }: ModeCase) {
  const setup = (variables: string) => ({ env: { ...settings, CHATKIT_CLIENT_STATE_VARIABLES: variables } });

  /** POSTs raw JSON text, so a key like `__proto__` arrives as a real own key of the parsed body. */
  const create = (body: string, variables = "locale") =>
    callWith(setup(variables), "POST", "/v1/chatkit/sessions", { token, body });

  /**
   * What reached ChatKit as the session's state variables, for a single
   * create: in hosted mode the create's `workflow.state_variables` at OpenAI;
   * in self-hosted mode nothing at create, then the `state_variables` of the
   * assertion the server gets with the session's first `/chatkit` request,
   * verified against the gate's published keys.
   */
  async function stateSent(created: Response, variables = "locale"): Promise<unknown> {
    if (mode === "hosted") {
      const [call, ...others] = reachedChatKit();
      expect(call?.url).toBe(`${UPSTREAM}/chatkit/sessions`);
      expect(others).toEqual([]);
      return (call?.body as { workflow?: { state_variables?: unknown } } | undefined)?.workflow?.state_variables;
    }
    expect(reachedChatKit()).toEqual([]);
    const { client_secret } = (await created.json()) as { client_secret: string };
    const forwarded = await callWith(setup(variables), "POST", "/chatkit", chatkitCall(client_secret));
    expect(forwarded.status).toBe(200);
    const [call, ...others] = reachedChatKit();
    expect(others).toEqual([]);
    const published = await callWith(setup(variables), "GET", "/.well-known/jwks.json");
    const keys = createLocalJWKSet((await published.json()) as JSONWebKeySet);
    const { payload } = await jwtVerify(call?.headers["chatkit-gate-assertion"] ?? "", keys, {
      issuer: BASE,
      audience: AUDIENCE,
      algorithms: ["ES256"],
    });
    return payload.state_variables;
  }

  return { create, stateSent };
}

describe("The Object.prototype names", () => {
  it("cover the names the issue lists", () => {
    expect(PROTOTYPE_NAMES).toEqual(
      expect.arrayContaining([
        "__proto__",
        "constructor",
        "toString",
        "valueOf",
        "hasOwnProperty",
        "isPrototypeOf",
        "__defineGetter__",
      ]),
    );
  });
});

describe.each(MODES)("Names and values in a create body ($mode mode)", (mode) => {
  const { create, stateSent } = inMode(mode);

  describe("Should refuse an Object.prototype name as a state variable", () => {
    describe.each(PROTOTYPE_NAMES)("%s", (name) => {
      it.each(VALUES)("with %s: 400 invalid_request, nothing sent or stored", async (_label, value) => {
        const response = await create(`{"state_variables":{${JSON.stringify(name)}:${value}}}`);

        await expectRefused(response, `body.state_variables has an unknown field "${name}"; allowed: locale`);
      });

      it("next to an allowed variable: still refused", async () => {
        const response = await create(`{"state_variables":{"locale":"fr",${JSON.stringify(name)}:"x"}}`);

        await expectRefused(response, `body.state_variables has an unknown field "${name}"; allowed: locale`);
      });

      it("when no variable is allowed at all", async () => {
        const response = await create(`{"state_variables":{${JSON.stringify(name)}:"x"}}`, "");

        await expectRefused(response, `body.state_variables has an unknown field "${name}"; allowed: none`);
      });
    });
  });

  describe("Should refuse an Object.prototype name as a top-level body field", () => {
    describe.each(PROTOTYPE_NAMES)("%s", (name) => {
      it.each(VALUES)("with %s: 400 invalid_request, nothing sent or stored", async (_label, value) => {
        const response = await create(`{${JSON.stringify(name)}:${value}}`, "");

        await expectRefused(response, `body has an unknown field "${name}"; allowed: workflow, state_variables`);
      });
    });
  });

  describe("Should refuse a state value that is not a capped string, a finite number or a boolean", () => {
    it.each([
      ["1e999 (parsed as Infinity)", "1e999", "body.state_variables.locale must be a finite number"],
      ["-1e999 (parsed as -Infinity)", "-1e999", "body.state_variables.locale must be a finite number"],
      [
        "a string one over the cap",
        JSON.stringify("x".repeat(MAX_STATE_VALUE_LENGTH + 1)),
        `body.state_variables.locale must be at most ${MAX_STATE_VALUE_LENGTH} characters`,
      ],
      [
        "a 9,000-character string",
        JSON.stringify("x".repeat(9000)),
        `body.state_variables.locale must be at most ${MAX_STATE_VALUE_LENGTH} characters`,
      ],
      ["an array", '["fr"]', "body.state_variables.locale must be a string or number or boolean"],
      ["an object", '{"x":1}', "body.state_variables.locale must be a string or number or boolean"],
      ["null", "null", "body.state_variables.locale must be a string or number or boolean"],
    ])("%s: 400 invalid_request, nothing sent or stored", async (_label, value, message) => {
      const response = await create(`{"state_variables":{"locale":${value}}}`);

      await expectRefused(response, message);
    });

    it("refuses 1e999 anywhere in the body, not only as a state value", async () => {
      const response = await create('{"workflow":1e999}');

      await expectRefused(response, "body.workflow must be a finite number");
    });
  });

  describe("Should accept an allowed state variable with a string, a finite number or a boolean", () => {
    it.each([
      ["a string", '"fr"', "fr"],
      ["a string at the cap", JSON.stringify("x".repeat(MAX_STATE_VALUE_LENGTH)), "x".repeat(MAX_STATE_VALUE_LENGTH)],
      ["an empty string", '""', ""],
      ["an integer", "2", 2],
      ["a fraction", "-1.5", -1.5],
      ["the largest finite number", "1.7976931348623157e308", Number.MAX_VALUE],
      ["true", "true", true],
      ["false", "false", false],
    ])("%s: 201, and ChatKit gets exactly that value", async (_label, value, expected) => {
      const response = await create(`{"state_variables":{"locale":${value}}}`);

      expect(response.status).toBe(201);
      expect(await storedByCreate()).toEqual([expect.stringMatching(/^session:/)]);
      expect(await stateSent(response)).toEqual({ locale: expected });
    });

    it("sends no state when the body sets none, even with no variable allowed", async () => {
      const response = await create("{}", "");

      expect(response.status).toBe(201);
      expect(await storedByCreate()).toEqual([expect.stringMatching(/^session:/)]);
      expect(await stateSent(response, "")).toBeUndefined();
    });
  });
});
