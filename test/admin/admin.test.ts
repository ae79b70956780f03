import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ownerKeyFor } from "../../src/auth/identity";
import { snapshot } from "../quota/support";
import { chatkitCall, startSession } from "../selfhosted/support-routes";
import { callWith, type Gate, gateWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { captureLogs, eventsOf } from "../support/logs";
import { mintToken, nowSeconds, Peers } from "../support/peers";
import { SELF_HOSTED_ENV } from "../support/self-hosted";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const ADMIN_AUDIENCE = "chatkit-gate-admin";
const ADMIN = {
  ADMIN_POLICY: JSON.stringify({ require: [{ claim: "roles", contains: "chat-admin" }] }),
  ADMIN_AUDIENCE,
};
const MODES = [
  ["hosted", {}],
  ["self-hosted", SELF_HOSTED_ENV],
] as const;

const operator = (claims: Record<string, unknown> = {}) =>
  mintToken({ sub: "op-1", aud: ADMIN_AUDIENCE, roles: ["chat-admin"], ...claims });

/** A user of this test: its ChatKit user as the gate maps it, its path segment, owner key and token. */
async function newUser() {
  const sub = `b-${crypto.randomUUID()}`;
  const user = `${TEST_ENV.AUTH_USER_PREFIX}${sub}`;
  return {
    user,
    path: `/admin/v1/users/${encodeURIComponent(user)}`,
    ownerKey: await ownerKeyFor(user, { mode: "raw" }),
    token: await mintToken({ sub }),
  };
}

describe("Should refuse the admin API to anyone but an operator", () => {
  it("answers 404 on every admin route when ADMIN_POLICY is unset", async () => {
    const token = await operator();
    for (const [method, path] of [
      ["GET", "/admin/v1/users/idp%7Calice/sessions"],
      ["POST", "/admin/v1/users/idp%7Calice/block"],
      ["DELETE", "/admin/v1/users/idp%7Calice/block"],
    ] as const) {
      expect(
        await errorOf(
          await callWith({}, method, path, { token, body: method === "GET" ? undefined : { reason: "x" } }),
        ),
      ).toMatchObject({
        status: 404,
        code: "not_found",
      });
    }
  });

  it.each([
    ["no token", async (): Promise<string | undefined> => undefined, 401, "invalid_token"],
    ["a user token that meets ADMIN_POLICY", () => mintToken({ roles: ["chat-admin"] }), 401, "invalid_token"],
    ["another audience", () => operator({ aud: "some-other-api" }), 401, "invalid_token"],
    ["an unknown issuer", () => operator({ iss: "https://elsewhere.test" }), 401, "invalid_token"],
    ["the admin audience without the role", () => operator({ roles: ["chat-user"] }), 403, "forbidden"],
  ] as const)(
    "refuses %s with %i %s, touching no user's KV and writing no audit line",
    async (_n, token, status, code) => {
      const lines = captureLogs();
      const target = await newUser();
      const gate = gateWith({ env: ADMIN });
      const kvRead = vi.spyOn(env.SESSIONS, "get");
      const kvList = vi.spyOn(env.SESSIONS, "list");

      const response = await gate.call("POST", `${target.path}/block`, {
        token: (await token()) as string | undefined,
        body: { reason: "test" },
      });

      expect(await errorOf(response)).toMatchObject({ status, code });
      expect(kvList).not.toHaveBeenCalled();
      expect(kvRead.mock.calls.filter(([key]) => !String(key).startsWith("jwks:"))).toEqual([]);
      expect(await kvEntries("block:")).toEqual([]);
      expect(eventsOf(lines, "admin_audit")).toEqual([]);
      if (status === 403) {
        expect(eventsOf(lines, "admin_refused")).toEqual([
          expect.objectContaining({
            provider: TEST_ENV.AUTH_ISSUER,
            rule: "require[0]: roles contains the configured value",
          }),
        ]);
      }
    },
  );

  it.each([
    [
      { ADMIN_POLICY: ADMIN.ADMIN_POLICY, ADMIN_AUDIENCE: "chatkit-gate" },
      "ADMIN_AUDIENCE must differ from every user audience",
    ],
    [{ ADMIN_POLICY: ADMIN.ADMIN_POLICY }, "ADMIN_AUDIENCE is required with ADMIN_POLICY"],
    [{ ADMIN_AUDIENCE }, "ADMIN_AUDIENCE is set without ADMIN_POLICY"],
    [
      {
        ...ADMIN,
        ADMIN_POLICY: JSON.stringify({ workflows: { support: { require: [{ claim: "a", exists: true }] } } }),
      },
      "ADMIN_POLICY.workflows is not allowed",
    ],
    [
      { ...ADMIN, ADMIN_POLICY: JSON.stringify({ require: [{ claim: "roles", contains: [] }] }) },
      "ADMIN_POLICY.require[0].contains must be",
    ],
  ])("refuses %j as config_invalid", async (settings, problem) => {
    const error = await errorOf(await callWith({ env: settings }, "GET", "/healthz"));

    expect(error).toMatchObject({ status: 503, code: "config_invalid" });
    expect(error.message).toContain(problem);
  });
});

describe.each(MODES)("Should block and unblock a user (%s mode)", (mode, modeEnv) => {
  let gate: Gate;
  beforeEach(() => {
    gate = gateWith({ env: { ...modeEnv, ...ADMIN } });
  });

  it("cancels every session as cancel_all does, marks the records, and refuses new sessions with 403", async () => {
    const lines = captureLogs();
    const target = await newUser();
    const other = await newUser();
    const sessions = [await startSession(gate, target.token), await startSession(gate, target.token)];
    await startSession(gate, other.token);
    const before = nowSeconds();

    const blocked = await gate.call("POST", `${target.path}/block`, {
      token: await operator(),
      body: { reason: "abuse report 42" },
    });
    const callsAfterBlock = peers.calls.length;
    const create = await gate.call("POST", "/v1/chatkit/sessions", { token: target.token });
    const otherCreate = await gate.call("POST", "/v1/chatkit/sessions", { token: other.token });

    expect(blocked.status).toBe(200);
    const body = (await blocked.json()) as Record<string, unknown>;
    expect(body).toEqual({
      user_key: target.ownerKey,
      block: { blocked_at: expect.any(Number), reason: "abuse report 42" },
      cancelled: 2,
      pending: 0,
      complete: true,
    });
    if (mode === "hosted") {
      const cancels = peers.upstreamCalls().filter((call) => call.url.endsWith("/cancel"));
      expect(cancels.map((call) => call.url).sort()).toEqual(
        sessions.map((s) => `${TEST_ENV.OPENAI_BASE_URL}/chatkit/sessions/${s.session_id}/cancel`).sort(),
      );
    }
    const records = (await kvEntries(`session:${target.ownerKey}:`)).map((entry) => entry.value);
    expect(records).toHaveLength(2);
    for (const record of records) expect(record).toMatchObject({ status: "cancelled", blocked: true });
    expect((await kvEntries("block:")).map(({ name, value }) => ({ name, value }))).toEqual([
      { name: `block:${target.ownerKey}`, value: { blocked_at: expect.any(Number), reason: "abuse report 42" } },
    ]);
    expect(await errorOf(create)).toEqual({
      status: 403,
      code: "forbidden",
      message: "This user is blocked by the operator and cannot use chat sessions",
    });
    // The refused create reached nobody; another user is not affected.
    expect(peers.calls.slice(callsAfterBlock).filter((c) => !c.url.startsWith(TEST_ENV.AUTH_ISSUER))).toHaveLength(
      mode === "hosted" ? 1 : 0,
    );
    expect(otherCreate.status).toBe(201);
    const [audit, ...more] = eventsOf(lines, "admin_audit");
    expect(more).toEqual([]);
    expect(audit).toEqual({
      level: "info",
      event: "admin_audit",
      request_id: expect.any(String),
      at: expect.any(Number),
      operator: { issuer: TEST_ENV.AUTH_ISSUER, sub: "op-1" },
      action: "block",
      user_key: target.ownerKey,
      outcome: "ok",
      reason: "abuse report 42",
      cancelled: 2,
      pending: 0,
      complete: true,
    });
    expect(audit?.at).toBeGreaterThanOrEqual(before);
    expect(JSON.stringify(lines)).not.toContain(target.user);
    expect(JSON.stringify(lines)).not.toContain(sessions[0]?.client_secret);
  });

  it("lists a user's sessions and block for the operator, with an audit line", async () => {
    const lines = captureLogs();
    const target = await newUser();
    const session = await startSession(gate, target.token);

    const before = await gate.call("GET", `${target.path}/sessions`, { token: await operator() });
    await gate.call("POST", `${target.path}/block`, { token: await operator(), body: { reason: "r" } });
    const after = await gate.call("GET", `${target.path}/sessions`, { token: await operator() });

    expect(await before.json()).toEqual({
      user_key: target.ownerKey,
      block: null,
      data: [
        {
          session_id: session.session_id,
          status: "active",
          created_at: session.created_at,
          expires_at: session.expires_at,
        },
      ],
      has_more: false,
    });
    expect(await after.json()).toMatchObject({
      block: { reason: "r" },
      data: [{ session_id: session.session_id, status: "cancelled" }],
    });
    expect(eventsOf(lines, "admin_audit").map((line) => [line.action, line.user_key, line.outcome])).toEqual([
      ["list_sessions", target.ownerKey, "ok"],
      ["block", target.ownerKey, "ok"],
      ["list_sessions", target.ownerKey, "ok"],
    ]);
  });

  it("lets the user start sessions again after DELETE, with an audit line", async () => {
    const lines = captureLogs();
    const target = await newUser();
    await gate.call("POST", `${target.path}/block`, { token: await operator(), body: { reason: "r" } });

    const unblocked = await gate.call("DELETE", `${target.path}/block`, { token: await operator() });
    const create = await gate.call("POST", "/v1/chatkit/sessions", { token: target.token });

    expect(await unblocked.json()).toEqual({ user_key: target.ownerKey, block: null });
    expect(create.status).toBe(201);
    expect(await kvEntries("block:")).toEqual([]);
    expect(eventsOf(lines, "admin_audit").at(-1)).toMatchObject({
      action: "unblock",
      user_key: target.ownerKey,
      was_blocked: true,
      outcome: "ok",
    });
  });

  it("lets a block lapse at its until", async () => {
    let now = nowSeconds();
    const lapsing = gateWith({ env: { ...modeEnv, ...ADMIN }, deps: { now: () => now } });
    const target = await newUser();

    await lapsing.call("POST", `${target.path}/block`, {
      token: await operator(),
      body: { reason: "r", until: now + 120 },
    });
    const during = await lapsing.call("POST", "/v1/chatkit/sessions", { token: target.token });
    now += 120;
    const after = await lapsing.call("POST", "/v1/chatkit/sessions", { token: target.token });

    expect(during.status).toBe(403);
    expect(after.status).toBe(201);
  });

  it.each([
    [undefined, "body is required"],
    [{}, "body.reason is required"],
    [{ reason: " " }, "body.reason must not be empty"],
    [{ reason: "r", until: 1 }, "body.until must be in the future, at most a year ahead"],
    [{ reason: "r", until: "tomorrow" }, "body.until must be"],
    [{ reason: "r", by: "me" }, 'unknown field "by"'],
    [{ reason: "x".repeat(501) }, "body.reason must be at most 500 characters"],
  ])("refuses the block body %j with 400, writing nothing", async (body, problem) => {
    const target = await newUser();

    const response = await gate.call("POST", `${target.path}/block`, { token: await operator(), body });

    const error = await errorOf(response);
    expect(error).toMatchObject({ status: 400, code: "invalid_request" });
    expect(error.message).toContain(problem);
    expect(await kvEntries("block:")).toEqual([]);
  });
});

describe("Should refuse a blocked user's session secrets on /chatkit with 403, at one KV read", () => {
  it("answers 403 for a blocked session, nothing reaching the ChatKit server; after unblock it is 401 (ended)", async () => {
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...ADMIN } });
    const target = await newUser();
    const session = await startSession(gate, target.token);
    const works = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));
    const serverCalls = peers.serverCalls().length;

    await gate.call("POST", `${target.path}/block`, { token: await operator(), body: { reason: "r" } });
    const reads = vi.spyOn(env.SESSIONS, "get");
    const blocked = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));
    const readsPerRequest = reads.mock.calls.length;
    await gate.call("DELETE", `${target.path}/block`, { token: await operator() });
    const ended = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));
    const fresh = await startSession(gate, target.token);
    const again = await gate.call("POST", "/chatkit", chatkitCall(fresh.client_secret));

    expect(works.status).toBe(200);
    expect(await errorOf(blocked)).toMatchObject({ status: 403, code: "forbidden" });
    expect(readsPerRequest).toBe(1);
    expect(await errorOf(ended)).toMatchObject({ status: 401, code: "invalid_token" });
    expect(again.status).toBe(200);
    expect(peers.serverCalls()).toHaveLength(serverCalls + 1);
  });

  it("answers 401, not 403, once the block's until has passed", async () => {
    let now = nowSeconds();
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...ADMIN }, deps: { now: () => now } });
    const target = await newUser();
    const session = await startSession(gate, target.token);

    await gate.call("POST", `${target.path}/block`, {
      token: await operator(),
      body: { reason: "r", until: now + 60 },
    });
    const during = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));
    now += 60;
    const after = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));

    expect(await errorOf(during)).toMatchObject({ status: 403, code: "forbidden" });
    expect(await errorOf(after)).toMatchObject({ status: 401, code: "invalid_token" });
  });
});

describe("Should name users exactly as the gate maps them", () => {
  it("takes the u_ pseudonym with USER_ID_MODE=hmac and derives the owner key the user's own requests use", async () => {
    const settings = { ...ADMIN, USER_ID_MODE: "hmac", USER_ID_SECRET: "s".repeat(40) };
    const gate = gateWith({ env: settings });
    const sub = `h-${crypto.randomUUID()}`;
    const session = await startSession(gate, await mintToken({ sub }));
    const [created] = peers.upstreamCalls();
    const pseudonym = (created as { body: { user: string } }).body.user;

    const listed = await gate.call("GET", `/admin/v1/users/${pseudonym}/sessions`, { token: await operator() });
    const raw = await gate.call("GET", `/admin/v1/users/${encodeURIComponent(`idp|${sub}`)}/sessions`, {
      token: await operator(),
    });

    expect(pseudonym).toMatch(/^u_/);
    expect(await listed.json()).toMatchObject({ data: [{ session_id: session.session_id }] });
    expect(await errorOf(raw)).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("frees the blocked user's quota slots", async () => {
    const gate = gateWith({ env: { ...ADMIN, SESSION_MAX_ACTIVE_PER_USER: "2" } });
    const target = await newUser();
    await startSession(gate, target.token);
    await startSession(gate, target.token);

    await gate.call("POST", `${target.path}/block`, { token: await operator(), body: { reason: "r" } });

    expect(await snapshot(target.ownerKey, nowSeconds())).toMatchObject({ active: 0 });
  });
});

describe("Should document the admin routes in /openapi.json only when the admin API is on", () => {
  it("lists them with ADMIN_POLICY set, and not without", async () => {
    const on = (await (await callWith({ env: ADMIN }, "GET", "/openapi.json")).json()) as { paths: object };
    const off = (await (await callWith({}, "GET", "/openapi.json")).json()) as { paths: object };

    expect(Object.keys(on.paths).filter((path) => path.startsWith("/admin/"))).toEqual([
      "/admin/v1/users/{user}/sessions",
      "/admin/v1/users/{user}/block",
    ]);
    expect(Object.keys(off.paths).filter((path) => path.startsWith("/admin/"))).toEqual([]);
  });
});
