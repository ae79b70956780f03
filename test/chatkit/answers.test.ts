import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CHATKIT_CLOCK_SKEW_SECONDS } from "../../src/chatkit/answers";
import type { GateDeps } from "../../src/http/context";
import { callWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { mintToken, nowSeconds, Peers } from "../support/peers";

let peers: Peers;
let token: string;
beforeEach(async () => {
  await clearKv();
  await clearKv("pending:");
  peers = new Peers().install();
  token = await mintToken({ sub: "alice" });
});
afterEach(() => vi.restoreAllMocks());

const fast: { deps: Partial<GateDeps> } = { deps: { sleep: async () => {}, upstreamTimeoutMs: 1_500 } };
/** The configured lifetime the worker asks ChatKit for (test env). */
const EXPIRES_AFTER = Number(TEST_ENV.SESSION_EXPIRES_AFTER_SECONDS);
const cancels = () => peers.upstreamCalls().filter((c) => c.url.endsWith("/cancel"));

/** The id ChatKit gave the last session it created. */
let createdId: string | undefined;

/** ChatKit's create answer, changed by `change`; cancels are answered normally. */
function createAnswers(change: (session: Record<string, unknown>) => Record<string, unknown>) {
  peers.chatkit = async (request) => {
    const answer = await peers.fakeChatKit(request);
    if (request.url.endsWith("/cancel")) return answer;
    const session = (await answer.json()) as Record<string, unknown>;
    createdId = session.id as string;
    return Response.json(change(session));
  };
}

describe("Should refuse a created session that is not what was asked for, and withdraw it", () => {
  it.each([
    ["cancelled", (s: Record<string, unknown>) => ({ ...s, status: "cancelled" }), "status"],
    ["expired", (s: Record<string, unknown>) => ({ ...s, status: "expired" }), "status"],
    ["for another user", (s: Record<string, unknown>) => ({ ...s, user: "idp|bob" }), "user"],
    [
      "outliving the asked lifetime by more than the clock skew",
      (s: Record<string, unknown>) => ({
        ...s,
        expires_at: nowSeconds() + EXPIRES_AFTER + CHATKIT_CLOCK_SKEW_SECONDS + 5,
      }),
      "expires_at",
    ],
    [
      "already over",
      (s: Record<string, unknown>) => ({ ...s, expires_at: nowSeconds() - CHATKIT_CLOCK_SKEW_SECONDS - 5 }),
      "expires_at",
    ],
  ])("a session %s: 502 upstream_error, nothing stored, cancelled at ChatKit", async (_name, change, field) => {
    createAnswers(change);

    const response = await callWith(fast, "POST", "/v1/chatkit/sessions", { token });

    expect(await errorOf(response)).toEqual({
      status: 502,
      code: "upstream_error",
      message: `ChatKit answered with a session whose ${field} is not what was asked`,
    });
    expect(cancels().map((c) => c.url)).toEqual([`${TEST_ENV.OPENAI_BASE_URL}/chatkit/sessions/${createdId}/cancel`]);
    expect(JSON.stringify(await kvEntries())).not.toContain(createdId);
    expect(await kvEntries()).toEqual([]);
  });

  it("accepts an expiry within the clock skew of the asked lifetime", async () => {
    createAnswers((s) => ({ ...s, expires_at: nowSeconds() + EXPIRES_AFTER + CHATKIT_CLOCK_SKEW_SECONDS - 2 }));

    const response = await callWith(fast, "POST", "/v1/chatkit/sessions", { token });

    expect(response.status).toBe(201);
    expect(cancels()).toEqual([]);
  });
});

describe("Should record a cancel only when ChatKit answers with that session, cancelled", () => {
  async function created(): Promise<string> {
    const response = await callWith(fast, "POST", "/v1/chatkit/sessions", { token });
    expect(response.status).toBe(201);
    return ((await response.json()) as { session_id: string }).session_id;
  }

  /** ChatKit's cancel answer for `id`, changed by `change`. */
  function cancelAnswers(change: (session: Record<string, unknown>) => Record<string, unknown>) {
    peers.chatkit = async (request) => {
      const answer = await peers.fakeChatKit(request);
      if (!request.url.endsWith("/cancel")) return answer;
      return Response.json(change((await answer.json()) as Record<string, unknown>));
    };
  }

  it.each([
    ["another session", (s: Record<string, unknown>) => ({ ...s, id: "cksess_someoneelse" })],
    ["the session still active", (s: Record<string, unknown>) => ({ ...s, status: "active" })],
    ["the session expired, not cancelled", (s: Record<string, unknown>) => ({ ...s, status: "expired" })],
  ])("ChatKit answers with %s: 202 cancel_pending, left to the sweep", async (_name, change) => {
    const id = await created();
    cancelAnswers(change);

    const response = await callWith(fast, "POST", `/v1/chatkit/sessions/${id}/cancel`, { token });

    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ session_id: id, status: "cancel_pending" });
    expect(cancels()).toHaveLength(1);
    expect((await kvEntries())[0]?.value).toMatchObject({ status: "cancel_pending" });
    expect((await kvEntries("pending:")).map((e) => e.name)).toEqual([`pending:${id}`]);
  });

  it("ChatKit answers 404 (no such session): nothing is left to cancel, so 200 cancelled with one attempt and nothing owed", async () => {
    const id = await created();
    peers.chatkit = (request) =>
      request.url.endsWith("/cancel")
        ? Response.json(
            { error: { message: "not found", type: "invalid_request_error", param: null, code: null } },
            { status: 404 },
          )
        : peers.fakeChatKit(request);

    const response = await callWith(fast, "POST", `/v1/chatkit/sessions/${id}/cancel`, { token });

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      session_id: id,
      status: "cancelled",
      cancelled_at: expect.any(Number),
    });
    expect(cancels()).toHaveLength(1);
    expect(await kvEntries("pending:")).toEqual([]);
  });
});
