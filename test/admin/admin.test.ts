import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { UNREADABLE_BLOCK } from "../../src/admin/blocks";
import { ownerKeyFor } from "../../src/auth/identity";
import { snapshot } from "../quota/support";
import { chatkitCall, startSession } from "../selfhosted/support-routes";
import { MemoryKv } from "../sessions/kv-fakes";
import { callWith, type Gate, gateWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { captureLogs, eventsOf } from "../support/logs";
import { mintToken, nowSeconds, Peers } from "../support/peers";
import { SELF_HOSTED_ENV, MODES as SHARED_MODES } from "../support/self-hosted";

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
const MODES = SHARED_MODES.map(({ mode, env }) => [mode, env] as const);

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
      message: "This user is blocked by the operator",
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

    expect(await unblocked.json()).toEqual({ user_key: target.ownerKey, block: null, unmarked: 0, complete: true });
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

describe("Should fail closed on blocks", () => {
  it.each(MODES)(
    "refuses a blocked user's create with 403 after ADMIN_POLICY is removed (%s mode), starting nothing",
    async (_mode, modeEnv) => {
      const target = await newUser();
      const blocked = await gateWith({ env: { ...modeEnv, ...ADMIN } }).call("POST", `${target.path}/block`, {
        token: await operator(),
        body: { reason: "r" },
      });
      const calls = peers.upstreamCalls().length;

      const create = await gateWith({ env: modeEnv }).call("POST", "/v1/chatkit/sessions", { token: target.token });

      expect(blocked.status).toBe(200);
      expect(await errorOf(create)).toMatchObject({ status: 403, code: "forbidden" });
      expect(peers.upstreamCalls()).toHaveLength(calls);
      expect(await kvEntries(`session:${target.ownerKey}:`)).toEqual([]);
      expect((await kvEntries("block:")).map(({ name }) => name)).toEqual([`block:${target.ownerKey}`]);
    },
  );

  it.each([
    ["not JSON", "{blocked"],
    ["JSON of another shape", JSON.stringify({ blocked_at: "yesterday", reason: 5 })],
    ["JSON null", "null"],
  ])(
    "treats a block value that is %s as blocked: 403 on create, shown to operators, cleared by DELETE",
    async (_n, raw) => {
      const gate = gateWith({ env: ADMIN });
      const target = await newUser();
      await env.SESSIONS.put(`block:${target.ownerKey}`, raw);

      const create = await gate.call("POST", "/v1/chatkit/sessions", { token: target.token });
      const listed = await gate.call("GET", `${target.path}/sessions`, { token: await operator() });
      const unblocked = await gate.call("DELETE", `${target.path}/block`, { token: await operator() });
      const again = await gate.call("POST", "/v1/chatkit/sessions", { token: target.token });

      expect(await errorOf(create)).toMatchObject({ status: 403, code: "forbidden" });
      expect(await listed.json()).toMatchObject({ block: UNREADABLE_BLOCK, data: [] });
      expect(unblocked.status).toBe(200);
      expect(again.status).toBe(201);
      // Only the create after DELETE reached ChatKit.
      expect(peers.upstreamCalls()).toHaveLength(1);
      expect(await kvEntries("block:")).toEqual([]);
    },
  );
});

describe("Should mark every admin answer no-store, refusals included", () => {
  it.each([
    ["no token", 401, async (): Promise<string | undefined> => undefined],
    ["a user token", 401, () => mintToken({ roles: ["chat-admin"] })],
    ["the admin audience without the role", 403, () => operator({ roles: ["chat-user"] })],
    ["an operator", 200, () => operator()],
  ] as const)("%s: %i with Cache-Control: no-store", async (_n, status, token) => {
    const target = await newUser();

    const response = await gateWith({ env: ADMIN }).call("GET", `${target.path}/sessions`, {
      token: (await token()) as string | undefined,
    });

    expect(response.status).toBe(status);
    expect(response.headers.get("cache-control")).toBe("no-store");
  });
});

describe("Should finish a block or an unblock past one invocation's KV budget by calling again", () => {
  /** Stores `n` active records for the owner directly, as n creates would have, with `extra` fields. */
  async function seed(kv: MemoryKv, ownerKey: string, n: number, extra: Record<string, unknown> = {}) {
    const now = nowSeconds();
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const record = {
          session_id: `cksess_seed${String(i).padStart(4, "0")}`,
          status: "active",
          created_at: now,
          expires_at: now + 300,
          ...extra,
        };
        return kv.put(`session:${ownerKey}:${record.session_id}`, JSON.stringify(record), {
          expirationTtl: 3600,
          metadata: record,
        });
      }),
    );
  }
  const recordsOf = async (kv: MemoryKv, ownerKey: string) =>
    (await kv.entries(`session:${ownerKey}:`)).map(({ metadata }) => metadata as Record<string, unknown>);

  it("block over 1,000 sessions answers complete: false, and a second block cancels the rest (self-hosted)", async () => {
    const kv = new MemoryKv();
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...ADMIN, SESSIONS: kv.binding } });
    const target = await newUser();
    await seed(kv, target.ownerKey, 1000);

    const first = (await (
      await gate.call("POST", `${target.path}/block`, { token: await operator(), body: { reason: "r" } })
    ).json()) as { cancelled: number; complete: boolean };
    const second = (await (
      await gate.call("POST", `${target.path}/block`, { token: await operator(), body: { reason: "r" } })
    ).json()) as { cancelled: number; complete: boolean };

    expect(first.complete).toBe(false);
    expect(first.cancelled).toBeGreaterThan(0);
    expect(second).toMatchObject({ cancelled: 1000 - first.cancelled, pending: 0, complete: true });
    const records = await recordsOf(kv, target.ownerKey);
    expect(records).toHaveLength(1000);
    expect(records.filter((r) => r.status === "cancelled" && r.blocked === true)).toHaveLength(1000);
  });

  it("unblock over 1,000 marked sessions answers 200 complete: false within the budget, and a second call unmarks the rest", async () => {
    const kv = new MemoryKv();
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...ADMIN, SESSIONS: kv.binding } });
    const target = await newUser();
    await seed(kv, target.ownerKey, 1000, { status: "cancelled", cancelled_at: nowSeconds(), blocked: true });
    await kv.put(`block:${target.ownerKey}`, JSON.stringify({ blocked_at: nowSeconds(), reason: "r" }));

    const first = await gate.call("DELETE", `${target.path}/block`, { token: await operator() });
    const firstBody = (await first.json()) as { unmarked: number; complete: boolean };
    const second = await gate.call("DELETE", `${target.path}/block`, { token: await operator() });

    expect(first.status).toBe(200);
    expect(firstBody).toMatchObject({ user_key: target.ownerKey, block: null, complete: false });
    expect(firstBody.unmarked).toBeGreaterThan(0);
    expect(firstBody.unmarked).toBeLessThan(1000);
    expect(await second.json()).toEqual({
      user_key: target.ownerKey,
      block: null,
      unmarked: 1000 - firstBody.unmarked,
      complete: true,
    });
    expect(await kv.entries("block:")).toEqual([]);
    const records = await recordsOf(kv, target.ownerKey);
    expect(records.filter((r) => r.status === "cancelled" && r.blocked === undefined)).toHaveLength(1000);
  });
});
