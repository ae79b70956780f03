import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createWorker } from "../../src/app";
import type { GateDeps } from "../../src/http/context";
import { callWith } from "../support/app";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { mintToken, Peers } from "../support/peers";

let peers: Peers;
let token: string;
beforeEach(async () => {
  await clearKv();
  await clearKv("pending:");
  peers = new Peers().install();
  token = await mintToken();
});
afterEach(() => vi.restoreAllMocks());

/** Retries without waiting, and a short upstream timeout, so the matrix runs fast. */
const fast: { deps: Partial<GateDeps> } = { deps: { sleep: async () => {}, upstreamTimeoutMs: 1_500 } };

const openaiError = (status: number, headers: Record<string, string> = {}) =>
  Response.json({ error: { message: "no", type: "server_error", param: null, code: null } }, { status, headers });

async function createSession(): Promise<string> {
  const response = await callWith(fast, "POST", "/v1/chatkit/sessions", { token });
  expect(response.status).toBe(201);
  return ((await response.json()) as { session_id: string }).session_id;
}

/** Runs the cron handler once, as the scheduler would. */
async function sweep(deps: Partial<GateDeps> = fast.deps): Promise<void> {
  const ctx = createExecutionContext();
  await createWorker(deps).scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const cancelAttempts = (id: string) => peers.upstreamCalls().filter((c) => c.url.endsWith(`/${id}/cancel`)).length;
const statusOf = async (id: string) =>
  ((await kvEntries()).find((e) => (e.value as { session_id: string }).session_id === id)?.value ?? {}) as Record<
    string,
    unknown
  >;

/** What ChatKit answers to the cancel, and how many attempts the bounded retry makes within one request. */
const faults: Array<[string, () => Response | Promise<Response>, number]> = [
  ["500", () => openaiError(500), 3],
  ["502", () => new Response("<html>bad gateway</html>", { status: 502 }), 3],
  ["503", () => openaiError(503), 3],
  ["429 with a short Retry-After", () => openaiError(429, { "retry-after": "0" }), 3],
  ["429 with a Retry-After too long to wait in a request", () => openaiError(429, { "retry-after": "30" }), 1],
  ["401 (our key refused)", () => openaiError(401), 1],
  ["403", () => openaiError(403), 1],
  ["409", () => openaiError(409), 1],
  ["200 with garbage", () => new Response("{oops"), 1],
  [
    "a connection reset",
    () => {
      throw new TypeError("Network connection lost.");
    },
    3,
  ],
  ["a timeout on every attempt", () => new Promise<Response>(() => {}), 3],
];

describe("Should never lose a cancel that ChatKit does not confirm", () => {
  it.each(faults)(
    "ChatKit answers %s: 202 cancel_pending, then the sweep finishes it",
    async (_name, answer, attempts) => {
      const id = await createSession();
      peers.chatkit = (request) => (request.url.endsWith("/cancel") ? answer() : peers.fakeChatKit(request));

      const response = await callWith(fast, "POST", `/v1/chatkit/sessions/${id}/cancel`, { token });

      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ session_id: id, status: "cancel_pending" });
      expect(cancelAttempts(id)).toBe(attempts);
      expect(await statusOf(id)).toMatchObject({ status: "cancel_pending" });
      expect((await kvEntries("pending:")).map((e) => e.name)).toEqual([`pending:${id}`]);

      peers.chatkit = undefined;
      await sweep();

      expect(cancelAttempts(id)).toBe(attempts + 1);
      expect(await statusOf(id)).toMatchObject({ status: "cancelled", cancelled_at: expect.any(Number) });
      expect(await kvEntries("pending:")).toEqual([]);
      const shown = await callWith(fast, "GET", `/v1/chatkit/sessions/${id}`, { token });
      expect(await shown.json()).toMatchObject({ status: "cancelled" });
    },
  );

  it("retries a pending cancel when the owner cancels again, and answers 200 once it lands", async () => {
    const id = await createSession();
    peers.chatkit = (request) => (request.url.endsWith("/cancel") ? openaiError(503) : peers.fakeChatKit(request));
    await callWith(fast, "POST", `/v1/chatkit/sessions/${id}/cancel`, { token });
    peers.chatkit = undefined;

    const again = await callWith(fast, "POST", `/v1/chatkit/sessions/${id}/cancel`, { token });

    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: "cancelled" });
    expect(await kvEntries("pending:")).toEqual([]);
  });
});

describe("The sweep", () => {
  async function pendingSession(): Promise<string> {
    const id = await createSession();
    peers.chatkit = (request) => (request.url.endsWith("/cancel") ? openaiError(503) : peers.fakeChatKit(request));
    expect((await callWith(fast, "POST", `/v1/chatkit/sessions/${id}/cancel`, { token })).status).toBe(202);
    return id;
  }

  it("keeps a cancel pending while ChatKit is still down", async () => {
    const id = await pendingSession();

    await sweep();

    expect(await statusOf(id)).toMatchObject({ status: "cancel_pending" });
    expect((await kvEntries("pending:")).map((e) => e.name)).toEqual([`pending:${id}`]);
  });

  it("lets a pending cancel go, without calling ChatKit, once the session has ended; it then shows as expired", async () => {
    const id = await pendingSession();
    const { expires_at } = await statusOf(id);
    const before = cancelAttempts(id);
    const later = { ...fast.deps, now: () => (expires_at as number) + 1 };

    await sweep(later);

    expect(cancelAttempts(id)).toBe(before);
    const shown = await callWith({ deps: later }, "GET", `/v1/chatkit/sessions/${id}`, {
      token: await mintToken({ iat: expires_at as number, exp: (expires_at as number) + 300 }),
    });
    expect(await shown.json()).toMatchObject({ status: "expired" });
  });

  it("finds pending cancels through the index with one list call, without scanning sessions", async () => {
    await pendingSession();
    await createSession();
    peers.chatkit = undefined;
    const list = vi.spyOn(env.SESSIONS, "list");

    await sweep();

    expect(list.mock.calls.map(([options]) => options?.prefix)).toEqual(["pending:"]);
  });

  it("is safe to run twice at the same time", async () => {
    const id = await pendingSession();
    peers.chatkit = undefined;

    await Promise.all([sweep(), sweep()]);

    expect(await statusOf(id)).toMatchObject({ status: "cancelled" });
    expect(await kvEntries("pending:")).toEqual([]);
    expect(cancelAttempts(id)).toBeLessThanOrEqual(3 + 2);
  });

  it("clears an index entry whose session is already cancelled", async () => {
    const id = await pendingSession();
    peers.chatkit = undefined;
    await callWith(fast, "POST", `/v1/chatkit/sessions/${id}/cancel`, { token });
    await env.SESSIONS.put(`pending:${id}`, "", {
      metadata: { sessionId: id, ownerKey: (await kvEntries())[0]?.name.split(":")[1] },
    });
    const before = cancelAttempts(id);

    await sweep();

    expect(cancelAttempts(id)).toBe(before);
    expect(await kvEntries("pending:")).toEqual([]);
  });

  it("finishes what cancel_all could not", async () => {
    const a = await createSession();
    const b = await createSession();
    peers.chatkit = (request) => (request.url.includes(b) ? openaiError(500) : peers.fakeChatKit(request));

    const response = await callWith(fast, "POST", "/v1/chatkit/sessions/cancel_all", { token });

    expect(await response.json()).toEqual({ cancelled: 1, pending: 1, complete: true });
    expect(await statusOf(b)).toMatchObject({ status: "cancel_pending" });
    peers.chatkit = undefined;
    await sweep();
    expect(await statusOf(a)).toMatchObject({ status: "cancelled" });
    expect(await statusOf(b)).toMatchObject({ status: "cancelled" });
  });

  it("does nothing, and says why, when the configuration is bad", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
    const ctx = createExecutionContext();

    await createWorker().scheduled(createScheduledController(), { ...env, OPENAI_API_KEY: "" }, ctx);

    expect(lines.map((l) => JSON.parse(l))).toEqual([
      {
        level: "error",
        event: "sweep_skipped",
        reason: "config_invalid",
        problems: [
          expect.stringMatching(/^OPENAI_API_KEY is required: a secret \(wrangler secret put; locally .dev.vars\)$/),
        ],
      },
    ]);
    expect(peers.calls).toEqual([]);
  });
});

describe("Should answer errors, not 500s, when KV fails", () => {
  it("503 storage_unavailable when the record cannot be read", async () => {
    vi.spyOn(env.SESSIONS, "get").mockRejectedValue(new Error("KV GET failed: 500"));

    const response = await callWith(fast, "GET", "/v1/chatkit/sessions/cksess_abc", { token });

    expect(await errorOf(response)).toMatchObject({ status: 503, code: "storage_unavailable" });
  });
});
