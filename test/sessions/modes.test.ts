import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createWorker } from "../../src/app";
import { type Gate, gateWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { mintToken, Peers, UPSTREAM } from "../support/peers";
import { MODES, SELF_HOSTED_ENV } from "../support/self-hosted";
import { countingKv } from "./kv-fakes";

interface Created {
  session_id: string;
  client_secret: string;
  expires_at: number;
  created_at: number;
  status: string;
}

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

const upstream = (kind: "create" | "cancel") =>
  peers
    .upstreamCalls()
    .filter((call) => (kind === "create" ? call.url === `${UPSTREAM}/chatkit/sessions` : call.url.endsWith("/cancel")));
const statusesInKv = async () =>
  Object.fromEntries(
    (await kvEntries()).map((e) => [
      (e.value as { session_id: string }).session_id,
      (e.value as { status: string }).status,
    ]),
  );

/**
 * The session routes in both modes, on the same settings: the same
 * statuses, bodies, records and ownership. Only what reaches upstream
 * differs: ChatKit's create and cancel in hosted mode, nothing at all in
 * self-hosted mode.
 */
describe.each(MODES)("Session routes in $mode mode", ({ env: settings, calls }) => {
  let gate: Gate;
  beforeEach(() => {
    gate = gateWith({ env: settings });
  });
  const create = async (token: string, body?: unknown): Promise<Created> => {
    const response = await gate.call("POST", "/v1/chatkit/sessions", { token, body });
    expect(response.status).toBe(201);
    return (await response.json()) as Created;
  };

  it("create: 201 with the session and its secret; the record in KV, never the secret", async () => {
    const response = await gate.call("POST", "/v1/chatkit/sessions", { token: alice, body: { workflow: "sales" } });

    expect(response.status).toBe(201);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as Created;
    expect(body).toEqual({
      session_id: expect.stringMatching(/^cksess_/),
      client_secret: expect.any(String),
      status: "active",
      created_at: expect.any(Number),
      expires_at: expect.any(Number),
    });
    expect(body.expires_at - body.created_at).toBeGreaterThanOrEqual(
      Number(TEST_ENV.SESSION_EXPIRES_AFTER_SECONDS) - 1,
    );
    expect(upstream("create")).toHaveLength(calls.create);
    expect(peers.serverCalls()).toEqual([]);
    const [entry, ...rest] = await kvEntries();
    expect(rest).toEqual([]);
    expect(entry?.value).toEqual({
      session_id: body.session_id,
      status: "active",
      created_at: body.created_at,
      expires_at: body.expires_at,
      workflow_id: "wf_sales",
    });
    expect(JSON.stringify(entry)).not.toContain(body.client_secret);
  });

  it("create: 400 for a body the configuration does not allow, with nothing started", async () => {
    const response = await gate.call("POST", "/v1/chatkit/sessions", { token: alice, body: { workflow: "wf_evil" } });

    expect(await errorOf(response)).toMatchObject({ status: 400, code: "invalid_request" });
    expect(peers.upstreamCalls()).toEqual([]);
    expect(await kvEntries()).toEqual([]);
  });

  it("get: the owner sees the record; another user, an unknown id and a malformed id get 404", async () => {
    const session = await create(alice);

    const own = await gate.call("GET", `/v1/chatkit/sessions/${session.session_id}`, { token: alice });

    expect(await own.json()).toEqual({
      session_id: session.session_id,
      status: "active",
      created_at: session.created_at,
      expires_at: session.expires_at,
    });
    for (const [token, id] of [
      [bob, session.session_id],
      [alice, "cksess_unknown"],
      [alice, "not%20an%20id"],
    ] as const) {
      expect(await errorOf(await gate.call("GET", `/v1/chatkit/sessions/${id}`, { token }))).toMatchObject({
        status: 404,
        code: "session_not_found",
      });
    }
  });

  it("list: only the caller's sessions, newest first; a cursor the list never gave is 400", async () => {
    const first = await create(alice);
    const second = await create(alice);
    await create(bob);

    const listed = (await (await gate.call("GET", "/v1/chatkit/sessions", { token: alice })).json()) as {
      data: Array<{ session_id: string }>;
      has_more: boolean;
    };
    const badCursor = await gate.call("GET", "/v1/chatkit/sessions?cursor=%00", { token: alice });

    expect(listed.has_more).toBe(false);
    expect(listed.data.map((s) => s.session_id).sort()).toEqual([first.session_id, second.session_id].sort());
    expect(JSON.stringify(listed)).not.toContain("client_secret");
    expect(await errorOf(badCursor)).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("cancel: 200 cancelled with cancelled_at; a repeat answers the same with no upstream call and no write", async () => {
    const session = await create(alice);

    const first = await gate.call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice });
    const put = vi.spyOn(env.SESSIONS, "put");
    const second = await gate.call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice });

    expect(first.status).toBe(200);
    const body = await first.json();
    expect(body).toEqual({
      session_id: session.session_id,
      status: "cancelled",
      created_at: session.created_at,
      expires_at: session.expires_at,
      cancelled_at: expect.any(Number),
    });
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual(body);
    expect(put).not.toHaveBeenCalled();
    expect(upstream("cancel")).toHaveLength(calls.cancel);
    expect(await statusesInKv()).toEqual({ [session.session_id]: "cancelled" });
  });

  it("cancel: another user's session is 404 and stays untouched", async () => {
    const session = await create(alice);
    const before = await kvEntries();

    const response = await gate.call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: bob });

    expect(await errorOf(response)).toMatchObject({ status: 404, code: "session_not_found" });
    expect(upstream("cancel")).toEqual([]);
    expect(await kvEntries()).toEqual(before);
  });

  it("cancel: a session past its expiry is reported expired, with no upstream call and no write", async () => {
    const session = await create(alice);
    const later = gateWith({ env: settings, deps: { now: () => session.expires_at + 1 } });
    const token = await mintToken({ sub: "alice", iat: session.expires_at, exp: session.expires_at + 300 });

    const response = await later.call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token });

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "expired" });
    expect(upstream("cancel")).toEqual([]);
    expect(await statusesInKv()).toEqual({ [session.session_id]: "active" });
  });

  it("cancel_all: every active session of the caller and nobody else's, complete", async () => {
    const a1 = await create(alice);
    const a2 = await create(alice);
    const a3 = await create(alice);
    const b1 = await create(bob);
    await gate.call("POST", `/v1/chatkit/sessions/${a3.session_id}/cancel`, { token: alice });

    const response = await gate.call("POST", "/v1/chatkit/sessions/cancel_all", { token: alice });
    const again = await gate.call("POST", "/v1/chatkit/sessions/cancel_all", { token: alice });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ cancelled: 2, pending: 0, complete: true });
    expect(await again.json()).toEqual({ cancelled: 0, pending: 0, complete: true });
    expect(upstream("cancel")).toHaveLength(3 * calls.cancel);
    expect(await statusesInKv()).toEqual({
      [a1.session_id]: "cancelled",
      [a2.session_id]: "cancelled",
      [a3.session_id]: "cancelled",
      [b1.session_id]: "active",
    });
  });
});

describe("Should fail a self-hosted cancel closed when its record cannot be written", () => {
  it("503 storage_unavailable, and the session stays usable only as KV still says: active", async () => {
    const gate = gateWith({ env: SELF_HOSTED_ENV, deps: { sleep: async () => {} } });
    const created = (await (await gate.call("POST", "/v1/chatkit/sessions", { token: alice })).json()) as Created;
    vi.spyOn(env.SESSIONS, "put").mockRejectedValue(new Error("KV down"));

    const response = await gate.call("POST", `/v1/chatkit/sessions/${created.session_id}/cancel`, { token: alice });

    // In hosted mode ChatKit's confirmation is the cancel and KV catches up; here the write is the cancel.
    expect(await errorOf(response)).toMatchObject({ status: 503, code: "storage_unavailable" });
    vi.mocked(env.SESSIONS.put).mockRestore();
    expect(await statusesInKv()).toEqual({ [created.session_id]: "active" });
  });
});

describe("Should make the cron sweep do nothing in self-hosted mode", () => {
  it("no KV operation and no call, even with a marker left by hosted mode", async () => {
    await env.SESSIONS.put("sweep:pending", "", { expirationTtl: 600 });
    const counted = countingKv(env.SESSIONS);
    const ctx = createExecutionContext();

    await createWorker().scheduled(
      createScheduledController(),
      { ...env, ...SELF_HOSTED_ENV, SESSIONS: counted.kv },
      ctx,
    );
    await waitOnExecutionContext(ctx);

    expect(counted.operations).toEqual([]);
    expect(peers.calls).toEqual([]);
  });
});

describe("Should measure how fast a cancel takes effect on /chatkit in the same location", () => {
  it("the first request after cancel returns is refused: no request slips through", async () => {
    const gate = gateWith({ env: SELF_HOSTED_ENV });
    const created = (await (await gate.call("POST", "/v1/chatkit/sessions", { token: alice })).json()) as Created;
    const send = () =>
      gate.call("POST", "/chatkit", {
        token: created.client_secret,
        body: '{"type":"threads.list","params":{}}',
      });
    expect((await send()).status).toBe(200);

    await gate.call("POST", `/v1/chatkit/sessions/${created.session_id}/cancel`, { token: alice });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await send()).status);

    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expect(peers.serverCalls()).toHaveLength(1);
  });
});
