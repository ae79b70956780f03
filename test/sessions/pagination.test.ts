import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createWorker } from "../../src/app";
import type { GateDeps } from "../../src/http/context";
import { CANCEL_ALL_LIST_PAGES } from "../../src/sessions/cancel";
import { LIST_PAGES_PER_REQUEST } from "../../src/sessions/routes";
import { SWEEP_LIST_PAGES } from "../../src/sessions/sweep";
import { callWith } from "../support/app";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { ISSUER, mintToken, nowSeconds, Peers } from "../support/peers";
import { HOSTED, MODES, type ModeCase } from "../support/self-hosted";
import { countingKv, shortPagesKv } from "./kv-fakes";

let peers: Peers;
let alice: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  alice = await mintToken({ sub: "alice" });
});
afterEach(() => vi.restoreAllMocks());

const fast: Partial<GateDeps> = { sleep: async () => {}, upstreamTimeoutMs: 1_500 };

interface Listed {
  data: Array<{ session_id: string; created_at: number; status: string }>;
  has_more: boolean;
  cursor?: string;
}

/** Every call that left the worker other than to the IdP: to OpenAI, or to the self-hosted ChatKit server. */
const reachedChatKit = () => peers.calls.filter((call) => !call.url.startsWith(`${ISSUER}/`));

/** Alice's sessions, created in one mode, listed and cancelled in the same mode. */
function modeCalls({ env: settings }: ModeCase) {
  async function create(now?: number): Promise<string> {
    const deps = now === undefined ? {} : { now: () => now };
    const response = await callWith({ env: settings, deps }, "POST", "/v1/chatkit/sessions", { token: alice });
    expect(response.status).toBe(201);
    return ((await response.json()) as { session_id: string }).session_id;
  }

  async function createMany(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await create());
    return ids;
  }

  /** The list route over a KV whose pages hold `sizes` keys. */
  async function list(sizes: number[], query = ""): Promise<{ response: Response; lists: number }> {
    const counted = countingKv(shortPagesKv(env.SESSIONS, sizes));
    const response = await callWith(
      { env: { ...settings, SESSIONS: counted.kv } },
      "GET",
      `/v1/chatkit/sessions${query}`,
      { token: alice },
    );
    return { response, lists: counted.operations.filter((o) => o.op === "list").length };
  }

  /** cancel_all over `SESSIONS`. */
  const cancelAll = (SESSIONS: KVNamespace) =>
    callWith({ env: { ...settings, SESSIONS }, deps: fast }, "POST", "/v1/chatkit/sessions/cancel_all", {
      token: alice,
    });

  return { create, createMany, list, cancelAll };
}

describe.each(MODES)("GET /v1/chatkit/sessions follows KV cursors ($mode mode)", (mode) => {
  const { create, createMany, list } = modeCalls(mode);

  it("returns every session when KV pages come back short or empty", async () => {
    const ids = await createMany(5);

    const { response, lists } = await list([0, 1, 0, 4]);

    expect(response.status).toBe(200);
    const body = (await response.json()) as Listed;
    expect(body.has_more).toBe(false);
    expect(body).not.toHaveProperty("cursor");
    expect(body.data.map((s) => s.session_id).sort()).toEqual([...ids].sort());
    expect(lists).toBe(4);
  });

  it(`stops after ${LIST_PAGES_PER_REQUEST} pages with has_more and a cursor that continues the listing`, async () => {
    const ids = await createMany(3);

    const first = await list([0]);
    const firstBody = (await first.response.json()) as Listed;
    expect(first.lists).toBe(LIST_PAGES_PER_REQUEST);
    expect(firstBody).toEqual({ data: [], has_more: true, cursor: expect.any(String) });

    // Past the empty pages, the cursor picks up where the first response stopped.
    const sizes = [...Array(LIST_PAGES_PER_REQUEST).fill(0), 10];
    const second = await list(sizes, `?cursor=${encodeURIComponent(firstBody.cursor as string)}`);
    const secondBody = (await second.response.json()) as Listed;
    expect(secondBody.has_more).toBe(false);
    expect(secondBody.data.map((s) => s.session_id).sort()).toEqual([...ids].sort());
    expect(second.lists).toBe(1);
  });

  it.each([
    ["a cursor with characters no KV cursor has", "?cursor=%00abc"],
    ["an empty cursor", "?cursor="],
    ["two cursors", "?cursor=abc&cursor=def"],
    ["an overlong cursor", `?cursor=${"a".repeat(1025)}`],
  ])("refuses %s with 400 invalid_request before any KV list", async (_name, query) => {
    const { response, lists } = await list([10], query);

    expect(await errorOf(response)).toEqual({
      status: 400,
      code: "invalid_request",
      message: "cursor must be a single value returned by this list as `cursor`",
    });
    expect(lists).toBe(0);
  });

  it("never shows another user's records, whatever the cursor", async () => {
    await create();
    const bob = await mintToken({ sub: "bob" });

    const response = await callWith({ env: mode.env }, "GET", `/v1/chatkit/sessions?cursor=${btoa("session:")}`, {
      token: bob,
    });

    expect(await response.json()).toEqual({ data: [], has_more: false });
  });

  it("orders each response newest first by created_at, and by session_id within a second", async () => {
    const now = nowSeconds();
    const older = [await create(now - 20), await create(now - 20), await create(now - 20)];
    const newer = [await create(now - 10), await create(now - 10)];

    const { response } = await list([2, 0, 1, 2]);

    const body = (await response.json()) as Listed;
    expect(body.data.map((s) => s.session_id)).toEqual([...newer.sort(), ...older.sort()]);
    expect(body.data.map((s) => s.created_at)).toEqual([now - 10, now - 10, now - 20, now - 20, now - 20]);
  });
});

describe.each(MODES)("POST /v1/chatkit/sessions/cancel_all follows KV cursors ($mode mode)", (mode) => {
  const { createMany, cancelAll } = modeCalls(mode);

  it("cancels sessions spread over short and empty pages, and says it covered everything", async () => {
    const ids = await createMany(4);

    const response = await cancelAll(shortPagesKv(env.SESSIONS, [0, 1, 0, 1, 2]));

    expect(await response.json()).toEqual({ cancelled: 4, pending: 0, complete: true });
    // Hosted: one confirmed cancel at ChatKit per session. Self-hosted: immediate, nothing reaches anyone.
    const cancels = reachedChatKit().filter((c) => c.url.endsWith("/cancel"));
    expect(cancels.map((c) => c.url.split("/").at(-2)).sort()).toEqual(mode.calls.cancel ? [...ids].sort() : []);
    expect(reachedChatKit()).toHaveLength(4 * (mode.calls.create + mode.calls.cancel));
    expect((await kvEntries()).map((e) => (e.value as { status: string }).status)).toEqual(Array(4).fill("cancelled"));
    expect(await kvEntries("pending:")).toEqual([]);
  });

  it(`says it is incomplete, and logs it, when the sessions lie past ${CANCEL_ALL_LIST_PAGES} pages`, async () => {
    await createMany(2);
    const warnings: string[] = [];
    vi.spyOn(console, "warn").mockImplementation((line: string) => void warnings.push(line));
    const counted = countingKv(shortPagesKv(env.SESSIONS, [0]));

    const response = await cancelAll(counted.kv);

    expect(await response.json()).toEqual({ cancelled: 0, pending: 0, complete: false });
    expect(counted.operations.filter((o) => o.op === "list")).toHaveLength(CANCEL_ALL_LIST_PAGES);
    expect(warnings.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ event: "cancel_all_incomplete", complete: false }),
    );
    expect(reachedChatKit().filter((c) => c.url.endsWith("/cancel"))).toEqual([]);
    expect((await kvEntries()).map((e) => (e.value as { status: string }).status)).toEqual(["active", "active"]);
  });
});

// Hosted only: self-hosted cancels are immediate, so none is ever owed and its sweep does nothing (modes.test.ts).

describe("The sweep follows KV cursors", () => {
  const { createMany } = modeCalls(HOSTED);

  it("settles pending cancels spread over short and empty pages of the index", async () => {
    const ids = await createMany(3);
    peers.chatkit = (request) =>
      request.url.endsWith("/cancel") ? new Response("down", { status: 503 }) : peers.fakeChatKit(request);
    await callWith({ deps: fast }, "POST", "/v1/chatkit/sessions/cancel_all", { token: alice });
    expect(await kvEntries("pending:")).toHaveLength(3);
    peers.chatkit = undefined;
    const counted = countingKv(shortPagesKv(env.SESSIONS, [0, 1, 0, 0, 2]));

    const ctx = createExecutionContext();
    await createWorker(fast).scheduled(createScheduledController(), { ...env, SESSIONS: counted.kv }, ctx);
    await waitOnExecutionContext(ctx);

    expect(await kvEntries("pending:")).toEqual([]);
    expect((await kvEntries()).map((e) => (e.value as { status: string }).status)).toEqual(Array(3).fill("cancelled"));
    expect(counted.operations.filter((o) => o.op === "list")).toHaveLength(SWEEP_LIST_PAGES);
    expect(ids).toHaveLength(3);
  });
});
