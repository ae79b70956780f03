import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RETENTION_SECONDS } from "../../src/sessions/store";
import { callWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { call, clearKv, errorOf, kvEntries } from "../support/http";
import { mintToken, nowSeconds, Peers, UPSTREAM } from "../support/peers";

let peers: Peers;
let alice: string;
let bob: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  alice = await mintToken({ sub: "alice" });
  bob = await mintToken({ sub: "bob" });
});
afterEach(() => vi.restoreAllMocks());

interface Created {
  session_id: string;
  client_secret: string;
  expires_at: number;
  created_at: number;
  status: string;
}

async function create(token: string, body?: unknown): Promise<Created> {
  const response = await call("POST", "/v1/chatkit/sessions", { token, body });
  expect(response.status).toBe(201);
  return (await response.json()) as Created;
}

describe("POST /v1/chatkit/sessions", () => {
  it("creates a session for the token's user with the pinned workflow and options", async () => {
    const before = nowSeconds();
    const response = await call("POST", "/v1/chatkit/sessions", { token: alice });

    expect(response.status).toBe(201);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as Created;
    expect(body).toEqual({
      session_id: expect.stringMatching(/^cksess_[0-9a-f]{32}$/),
      client_secret: expect.stringMatching(/^ek_secret_/),
      status: "active",
      created_at: expect.any(Number),
      expires_at: expect.any(Number),
    });
    expect(body.created_at).toBeGreaterThanOrEqual(before);
    expect(body.expires_at - body.created_at).toBeGreaterThanOrEqual(299);

    const [upstream, ...others] = peers.upstreamCalls();
    expect(others).toEqual([]);
    expect(upstream?.url).toBe(`${UPSTREAM}/chatkit/sessions`);
    expect(upstream?.method).toBe("POST");
    expect(upstream?.headers).toMatchObject({
      authorization: `Bearer ${TEST_ENV.OPENAI_API_KEY}`,
      "openai-beta": "chatkit_beta=v1",
      "content-type": "application/json",
    });
    expect(upstream?.body).toEqual({
      user: "idp|alice",
      workflow: { id: "wf_default", version: "3" },
      expires_after: { anchor: "created_at", seconds: 300 },
      rate_limits: { max_requests_per_1_minute: 12 },
      chatkit_configuration: { history: { enabled: true, recent_threads: 5 }, file_upload: { enabled: false } },
    });

    const [entry, ...rest] = await kvEntries();
    expect(rest).toEqual([]);
    const record = {
      session_id: body.session_id,
      status: "active",
      created_at: body.created_at,
      expires_at: body.expires_at,
      workflow_id: "wf_default",
    };
    expect(entry?.name).toMatch(new RegExp(`^session:[A-Za-z0-9_-]{43}:${body.session_id}$`));
    expect(entry?.value).toEqual(record);
    expect(entry?.metadata).toEqual(record);
    expect(entry?.expiration).toBeGreaterThanOrEqual(body.expires_at + RETENTION_SECONDS - 2);
    expect(JSON.stringify(entry)).not.toContain(body.client_secret);
    expect(JSON.stringify(entry)).not.toContain("alice");
  });

  it("uses a workflow chosen by alias and the allowed state variables", async () => {
    await create(alice, { workflow: "support", state_variables: { locale: "fr", theme: 2 } });

    expect(peers.upstreamCalls()[0]?.body).toMatchObject({
      workflow: { id: "wf_support", version: "7", state_variables: { locale: "fr", theme: 2 } },
    });
    expect((await kvEntries())[0]?.value).toMatchObject({ workflow_id: "wf_support" });
  });

  it("sends an alias without a version as just its id", async () => {
    await create(alice, { workflow: "sales" });

    expect(peers.upstreamCalls().map((c) => (c.body as { workflow: unknown }).workflow)).toEqual([{ id: "wf_sales" }]);
  });

  it("accepts an empty JSON object and an empty body alike", async () => {
    await create(alice, {});
    await create(alice, "");

    expect(peers.upstreamCalls().map((c) => (c.body as { workflow: unknown }).workflow)).toEqual([
      { id: "wf_default", version: "3" },
      { id: "wf_default", version: "3" },
    ]);
  });

  it.each([
    [
      "a raw workflow id instead of an alias",
      { workflow: "wf_support" },
      'body.workflow must be one of "support", "sales"',
    ],
    ["an unknown alias", { workflow: "nope" }, 'body.workflow must be one of "support", "sales"'],
    ["a workflow object", { workflow: { id: "wf_evil" } }, "body.workflow must be a string"],
    [
      "a state variable not on the allowlist",
      { state_variables: { plan: "enterprise" } },
      'body.state_variables has an unknown field "plan"; allowed: locale, theme',
    ],
    [
      "a nested state value",
      { state_variables: { locale: { x: 1 } } },
      "body.state_variables.locale must be a string or number or boolean",
    ],
    [
      "a null state value",
      { state_variables: { locale: null } },
      "body.state_variables.locale must be a string or number or boolean",
    ],
    [
      "an overlong state value",
      { state_variables: { locale: "x".repeat(4097) } },
      "body.state_variables.locale must be at most 4096 characters",
    ],
    ["state_variables as an array", { state_variables: ["locale"] }, "body.state_variables must be an object"],
    ["an unknown field", { user: "bob" }, 'body has an unknown field "user"; allowed: workflow, state_variables'],
    ["a body that is an array", [], "body must be an object"],
    ["a body that is a string", '"hi"', "body must be an object"],
    ["a body that is null", "null", "body must be an object"],
    ["malformed JSON", "{", "The request body is not valid JSON"],
  ])("refuses %s with 400 invalid_request and calls nothing", async (_name, body, message) => {
    const response = await call("POST", "/v1/chatkit/sessions", { token: alice, body });

    expect(await errorOf(response)).toEqual({ status: 400, code: "invalid_request", message });
    expect(peers.upstreamCalls()).toEqual([]);
    expect(await kvEntries()).toEqual([]);
  });
});

describe("GET /v1/chatkit/sessions/{session_id}", () => {
  it("shows the owner the record, never the client secret", async () => {
    const session = await create(alice);

    const response = await call("GET", `/v1/chatkit/sessions/${session.session_id}`, { token: alice });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      session_id: session.session_id,
      status: "active",
      created_at: session.created_at,
      expires_at: session.expires_at,
    });
    expect(peers.upstreamCalls()).toHaveLength(1);
  });

  it("reports an active session past its expiry as expired", async () => {
    const session = await create(alice);
    const later = await mintToken({ sub: "alice", iat: session.expires_at, exp: session.expires_at + 300 });

    const response = await callWith(
      { deps: { now: () => session.expires_at } },
      "GET",
      `/v1/chatkit/sessions/${session.session_id}`,
      {
        token: later,
      },
    );

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ session_id: session.session_id, status: "expired" });
  });

  it.each([
    ["another user's session", async () => (await create(alice)).session_id, () => bob],
    ["an unknown session", async () => "cksess_doesnotexist", () => alice],
    ["a malformed id", async () => "cksess_..%2F..", () => alice],
    ["an id without the cksess_ prefix", async () => "sess_123", () => alice],
    ["an overlong id", async () => `cksess_${"a".repeat(200)}`, () => alice],
  ])("answers 404 session_not_found for %s", async (_name, id, token) => {
    const sessionId = await id();

    const response = await call("GET", `/v1/chatkit/sessions/${sessionId}`, { token: token() });

    expect(await errorOf(response)).toEqual({
      status: 404,
      code: "session_not_found",
      message: "No such session for this user",
    });
  });
});

describe("GET /v1/chatkit/sessions", () => {
  it("lists only the caller's own sessions, newest first, with one KV list", async () => {
    const first = await create(alice);
    const second = await create(alice);
    await create(bob);
    const list = vi.spyOn(env().SESSIONS, "list");

    const response = await call("GET", "/v1/chatkit/sessions", { token: alice });

    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: Array<{ session_id: string }>; has_more: boolean };
    expect(body.has_more).toBe(false);
    expect(body.data.map((s) => s.session_id).sort()).toEqual([first.session_id, second.session_id].sort());
    expect(body.data[0]).toEqual({
      session_id: expect.any(String),
      status: "active",
      created_at: expect.any(Number),
      expires_at: expect.any(Number),
    });
    expect(JSON.stringify(body)).not.toContain("client_secret");
    expect(list).toHaveBeenCalledTimes(1);
  });

  it("is empty for a user with no sessions", async () => {
    await create(alice);

    const response = await call("GET", "/v1/chatkit/sessions", { token: bob });

    expect(await response.json()).toEqual({ data: [], has_more: false });
  });
});

describe("POST /v1/chatkit/sessions/{session_id}/cancel", () => {
  it("cancels upstream, then records it", async () => {
    const session = await create(alice);

    const response = await call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice });

    expect(response.status).toBe(200);
    const body = (await response.json()) as { cancelled_at: number };
    expect(body).toEqual({
      session_id: session.session_id,
      status: "cancelled",
      created_at: session.created_at,
      expires_at: session.expires_at,
      cancelled_at: expect.any(Number),
    });
    const cancel = peers.upstreamCalls()[1];
    expect(cancel?.url).toBe(`${UPSTREAM}/chatkit/sessions/${session.session_id}/cancel`);
    expect(cancel?.method).toBe("POST");
    expect(cancel?.body).toBeUndefined();
    expect(cancel?.headers).toMatchObject({
      authorization: `Bearer ${TEST_ENV.OPENAI_API_KEY}`,
      "openai-beta": "chatkit_beta=v1",
    });
    const [entry] = await kvEntries();
    expect(entry?.value).toMatchObject({ status: "cancelled", cancelled_at: body.cancelled_at });
    expect(entry?.metadata).toEqual(entry?.value);
  });

  it("is idempotent: a repeat returns the same record with no upstream call and no write", async () => {
    const session = await create(alice);
    const first = await call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice });
    const put = vi.spyOn(env().SESSIONS, "put");

    const second = await call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice });

    expect(second.status).toBe(200);
    expect(await second.json()).toEqual(await first.json());
    expect(peers.upstreamCalls().filter((c) => c.url.endsWith("/cancel"))).toHaveLength(1);
    expect(put).not.toHaveBeenCalled();
  });

  it("does not call upstream for a session that has already expired", async () => {
    const session = await create(alice);
    const later = await mintToken({ sub: "alice", iat: session.expires_at, exp: session.expires_at + 300 });

    const response = await callWith(
      { deps: { now: () => session.expires_at + 1 } },
      "POST",
      `/v1/chatkit/sessions/${session.session_id}/cancel`,
      {
        token: later,
      },
    );

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "expired" });
    expect(peers.upstreamCalls()).toHaveLength(1);
  });

  it("answers 404 for another user's session and leaves it untouched", async () => {
    const session = await create(alice);
    const before = await kvEntries();

    const response = await call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: bob });

    expect(await errorOf(response)).toMatchObject({ status: 404, code: "session_not_found" });
    expect(peers.upstreamCalls()).toHaveLength(1);
    expect(await kvEntries()).toEqual(before);
  });

  it("answers 404 for an unknown or malformed id without touching KV", async () => {
    const get = vi.spyOn(env().SESSIONS, "get");

    const unknown = await call("POST", "/v1/chatkit/sessions/cksess_unknown/cancel", { token: alice });
    const malformed = await call("POST", "/v1/chatkit/sessions/not%20an%20id/cancel", { token: alice });

    expect(await errorOf(unknown)).toMatchObject({ status: 404, code: "session_not_found" });
    expect(await errorOf(malformed)).toMatchObject({ status: 404, code: "session_not_found" });
    expect(get).toHaveBeenCalledTimes(1);
    expect(peers.upstreamCalls()).toEqual([]);
  });
});

describe("POST /v1/chatkit/sessions/cancel_all", () => {
  it("cancels every active session of the caller and nobody else's", async () => {
    const a1 = await create(alice);
    const a2 = await create(alice);
    const a3 = await create(alice);
    const b1 = await create(bob);
    await call("POST", `/v1/chatkit/sessions/${a3.session_id}/cancel`, { token: alice });

    const response = await call("POST", "/v1/chatkit/sessions/cancel_all", { token: alice });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ cancelled: 2, pending: 0, complete: true });
    const cancelled = peers
      .upstreamCalls()
      .filter((c) => c.url.endsWith("/cancel"))
      .map((c) => c.url.split("/").at(-2));
    expect(cancelled.sort()).toEqual([a3.session_id, a1.session_id, a2.session_id].sort());
    const statuses = Object.fromEntries(
      (await kvEntries()).map((e) => [
        (e.value as { session_id: string }).session_id,
        (e.value as { status: string }).status,
      ]),
    );
    expect(statuses).toEqual({
      [a1.session_id]: "cancelled",
      [a2.session_id]: "cancelled",
      [a3.session_id]: "cancelled",
      [b1.session_id]: "active",
    });
  });

  it("marks sessions whose upstream cancel fails as cancel_pending and counts them", async () => {
    const a1 = await create(alice);
    const a2 = await create(alice);
    peers.chatkit = (request) =>
      request.url.includes(a2.session_id) ? new Response("down", { status: 503 }) : peers.fakeChatKit(request);

    const response = await call("POST", "/v1/chatkit/sessions/cancel_all", { token: alice });

    expect(await response.json()).toEqual({ cancelled: 1, pending: 1, complete: true });
    const byId = Object.fromEntries(
      (await kvEntries()).map((e) => [(e.value as { session_id: string }).session_id, e.value]),
    );
    expect(byId[a1.session_id]).toMatchObject({ status: "cancelled" });
    expect(byId[a2.session_id]).toMatchObject({ status: "cancel_pending" });
    expect(byId[a2.session_id]).not.toHaveProperty("cancelled_at");

    peers.chatkit = undefined;
    const retry = await call("POST", "/v1/chatkit/sessions/cancel_all", { token: alice });
    expect(await retry.json()).toEqual({ cancelled: 1, pending: 0, complete: true });
    const after = (await kvEntries()).find((e) => (e.value as { session_id: string }).session_id === a2.session_id);
    expect(after?.value).toMatchObject({ status: "cancelled", cancelled_at: expect.any(Number) });
  });

  it("answers zeroes for a user with nothing to cancel", async () => {
    const response = await call("POST", "/v1/chatkit/sessions/cancel_all", { token: bob });

    expect(await response.json()).toEqual({ cancelled: 0, pending: 0, complete: true });
    expect(peers.upstreamCalls()).toEqual([]);
  });
});

describe("GET /healthz", () => {
  it("answers ok without a token", async () => {
    const response = await call("GET", "/healthz");

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
    expect(peers.calls).toEqual([]);
  });
});

describe("unknown routes", () => {
  it("answer 404 not_found", async () => {
    expect(await errorOf(await call("GET", "/nope"))).toMatchObject({ status: 404, code: "not_found" });
  });
});

import { env as testEnv } from "cloudflare:test";

const env = () => testEnv;
