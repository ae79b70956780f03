import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createWorker } from "../../src/app";
import { MAX_SESSION_SECONDS } from "../../src/config/config";
import type { GateDeps } from "../../src/http/context";
import { CANCEL_CONCURRENCY, UPSTREAM_CALLS_PER_INVOCATION } from "../../src/sessions/cancel";
import { KV_OPERATIONS_PER_INVOCATION, SESSION_KV_BUDGET } from "../../src/sessions/kv-budget";
import type { SessionRecord } from "../../src/sessions/record";
import { LIST_PAGE_SIZE, PENDING_MARKER_KEY, PENDING_MARKER_TTL_SECONDS } from "../../src/sessions/store";
import { callWith } from "../support/app";
import { ISSUER, mintToken, nowSeconds, Peers } from "../support/peers";
import { SELF_HOSTED_ENV } from "../support/self-hosted";
import { countingKv, MemoryKv } from "./kv-fakes";

let peers: Peers;
let alice: string;
/** Hundreds of keys: in memory, since Miniflare's KV takes some ten milliseconds a write. */
let kv: MemoryKv;
beforeEach(async () => {
  kv = new MemoryKv();
  peers = new Peers().install();
  alice = await mintToken({ sub: "alice" });
});
afterEach(() => vi.restoreAllMocks());

const fast: Partial<GateDeps> = { sleep: async () => {}, upstreamTimeoutMs: 1_500 };
const cancelsDown = () => {
  peers.chatkit = (request) =>
    request.url.endsWith("/cancel") ? new Response("down", { status: 503 }) : peers.fakeChatKit(request);
};
const upstreamCancels = () => peers.upstreamCalls().filter((c) => c.url.endsWith("/cancel")).length;

const kvEntries = async (prefix?: string) => kv.entries(prefix);
/** Calls the worker (in hosted mode unless `settings` say otherwise) with the in-memory KV, or a wrapper of it. */
const request = (method: string, path: string, SESSIONS: KVNamespace = kv.binding, settings = {}) =>
  callWith({ env: { ...settings, SESSIONS }, deps: fast }, method, path, { token: alice });

/** Alice's owner key, learnt from one real create. */
async function aliceOwnerKey(settings = {}): Promise<string> {
  expect((await request("POST", "/v1/chatkit/sessions", kv.binding, settings)).status).toBe(201);
  return (await kvEntries())[0]?.name.split(":")[1] as string;
}

/** Stores `n` active records for the owner directly, as n creates would have. */
async function seedSessions(ownerKey: string, n: number): Promise<void> {
  const now = nowSeconds();
  await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const record: SessionRecord = {
        session_id: `cksess_seed${String(i).padStart(4, "0")}`,
        status: "active",
        created_at: now,
        expires_at: now + 300,
        workflow_id: "wf_default",
      };
      return kv.put(`session:${ownerKey}:${record.session_id}`, JSON.stringify(record), {
        expirationTtl: 3600,
        metadata: record,
      });
    }),
  );
}

async function runSweep(SESSIONS: KVNamespace = kv.binding, deps: Partial<GateDeps> = fast): Promise<void> {
  const ctx = createExecutionContext();
  await createWorker(deps).scheduled(createScheduledController(), { ...env, SESSIONS }, ctx);
  await waitOnExecutionContext(ctx);
}

// The tests that follow make ChatKit refuse cancels and run the sweep: hosted only, since a self-hosted cancel has
// no upstream to fail and is never owed (see the self-hosted block at the end, and modes.test.ts for its sweep).
describe("Should stay within 1,000 KV operations and 50 subrequests per invocation", () => {
  it("cancel_all over 600 sessions ChatKit will not cancel: within both limits, incomplete, then finished by a second call", async () => {
    const ownerKey = await aliceOwnerKey();
    await seedSessions(ownerKey, 599);
    cancelsDown();

    const first = countingKv(kv.binding);
    const response = await request("POST", "/v1/chatkit/sessions/cancel_all", first.kv);

    expect(first.operations.length).toBeLessThanOrEqual(KV_OPERATIONS_PER_INVOCATION);
    expect(upstreamCancels()).toBeLessThanOrEqual(UPSTREAM_CALLS_PER_INVOCATION);
    const result = (await response.json()) as { cancelled: number; pending: number; complete: boolean };
    expect(result).toMatchObject({ cancelled: 0, complete: false });
    // The sweep's marker: written once for the whole request, not once per session.
    expect(first.operations.filter((o) => o.key === PENDING_MARKER_KEY)).toEqual([
      { op: "put", key: PENDING_MARKER_KEY, ttl: PENDING_MARKER_TTL_SECONDS, metadata: undefined },
    ]);
    // What was reached is owed and indexed; nothing is left half-done.
    const statuses = (await kvEntries()).map((e) => (e.value as { status: string }).status);
    expect(statuses.filter((s) => s === "cancel_pending")).toHaveLength(result.pending);
    expect(await kvEntries("pending:")).toHaveLength(result.pending);

    const second = countingKv(kv.binding);
    const again = await request("POST", "/v1/chatkit/sessions/cancel_all", second.kv);

    expect(await again.json()).toEqual({ cancelled: 0, pending: 600, complete: true });
    expect(second.operations.length).toBeLessThanOrEqual(KV_OPERATIONS_PER_INVOCATION);
    expect((await kvEntries()).every((e) => (e.value as { status: string }).status === "cancel_pending")).toBe(true);
    expect(await kvEntries("pending:")).toHaveLength(600);
  });

  it("the sweep over 600 owed cancels: within both limits, one attempt each", async () => {
    const ownerKey = await aliceOwnerKey();
    await seedSessions(ownerKey, 599);
    cancelsDown();
    await request("POST", "/v1/chatkit/sessions/cancel_all");
    await request("POST", "/v1/chatkit/sessions/cancel_all");
    expect(await kvEntries("pending:")).toHaveLength(600);
    peers.chatkit = undefined;
    const before = upstreamCancels();

    const counted = countingKv(kv.binding);
    await runSweep(counted.kv);

    expect(counted.operations.length).toBeLessThanOrEqual(KV_OPERATIONS_PER_INVOCATION);
    expect(upstreamCancels() - before).toBe(UPSTREAM_CALLS_PER_INVOCATION);
    expect(await kvEntries("pending:")).toHaveLength(600 - UPSTREAM_CALLS_PER_INVOCATION);
  });
});

describe("Should cost no KV list when the sweep has nothing to do", () => {
  it("an idle sweep reads one marker key and lists nothing", async () => {
    await aliceOwnerKey();
    const counted = countingKv(kv.binding);

    await runSweep(counted.kv);

    expect(counted.operations).toEqual([{ op: "get", key: PENDING_MARKER_KEY }]);
    expect(upstreamCancels()).toBe(0);
  });

  it("a cancel ChatKit does not confirm sets the marker, outliving the longest session, and the next sweep lists", async () => {
    const ownerKey = await aliceOwnerKey();
    const [session] = await kvEntries();
    const id = (session?.value as { session_id: string } | undefined)?.session_id as string;
    cancelsDown();
    expect((await request("POST", `/v1/chatkit/sessions/${id}/cancel`)).status).toBe(202);

    const marker = await kv.list({ prefix: PENDING_MARKER_KEY });
    expect(marker.keys).toHaveLength(1);
    expect(marker.keys[0]?.expiration).toBeGreaterThan(nowSeconds() + MAX_SESSION_SECONDS);

    peers.chatkit = undefined;
    const counted = countingKv(kv.binding);
    await runSweep(counted.kv);

    expect(counted.operations.map((o) => `${o.op} ${o.key}`)).toEqual([
      `get ${PENDING_MARKER_KEY}`,
      "list pending:",
      `get session:${ownerKey}:${id}`,
      `put session:${ownerKey}:${id}`,
      `delete pending:${id}`,
    ]);
    // The marker is never deleted: it expires by itself, so no sweep can remove one a request has just refreshed.
    expect(await kv.get(PENDING_MARKER_KEY)).not.toBeNull();
  });

  it("still indexes the owed cancel, and logs, when KV refuses the marker", async () => {
    await aliceOwnerKey();
    const [session] = await kvEntries();
    const id = (session?.value as { session_id: string } | undefined)?.session_id as string;
    cancelsDown();
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const refusing = {
      get: kv.get.bind(kv),
      delete: kv.delete.bind(kv),
      list: kv.list.bind(kv),
      put: (key: string, value: string, options?: KVNamespacePutOptions) =>
        key === PENDING_MARKER_KEY ? Promise.reject(new Error("KV PUT failed: 429")) : kv.put(key, value, options),
    } as unknown as KVNamespace;

    // Takes one real second: the store retries a refused write once after KV's per-key write interval.
    const response = await request("POST", `/v1/chatkit/sessions/${id}/cancel`, refusing);

    expect(response.status).toBe(202);
    expect((await kvEntries("pending:")).map((e) => e.name)).toEqual([`pending:${id}`]);
    expect(errors.map((line) => JSON.parse(line).event)).toContain("pending_marker_failed");
  });
});

describe("Should stay within 1,000 KV operations per invocation in self-hosted mode, where cancels are immediate", () => {
  const selfHosted = (method: string, path: string, SESSIONS: KVNamespace = kv.binding) =>
    request(method, path, SESSIONS, SELF_HOSTED_ENV);
  /** Every call that left the worker other than to the IdP. */
  const reachedAnyone = () => peers.calls.filter((call) => !call.url.startsWith(`${ISSUER}/`));
  /** Every KV call of the request, as `op key`, sorted (cancels run concurrently, so their order varies). */
  const kvCalls = (operations: Array<{ op: string; key: string }>) => operations.map((o) => `${o.op} ${o.key}`).sort();
  const statuses = async () => (await kvEntries()).map((e) => (e.value as { status: string }).status);

  it("cancel_all over 600 sessions: all cancelled in one call, one list and one write each, no call, no marker, no index", async () => {
    const ownerKey = await aliceOwnerKey(SELF_HOSTED_ENV);
    await seedSessions(ownerKey, 599);
    const ids = (await kvEntries()).map((e) => e.name);

    const counted = countingKv(kv.binding);
    const response = await selfHosted("POST", "/v1/chatkit/sessions/cancel_all", counted.kv);

    expect(await response.json()).toEqual({ cancelled: 600, pending: 0, complete: true });
    expect(counted.operations.length).toBeLessThanOrEqual(KV_OPERATIONS_PER_INVOCATION);
    expect(kvCalls(counted.operations)).toEqual(
      [`list session:${ownerKey}:`, ...ids.map((key) => `put ${key}`)].sort(),
    );
    expect(reachedAnyone()).toEqual([]);
    expect(await statuses()).toEqual(Array(600).fill("cancelled"));
    expect(await kvEntries("pending:")).toEqual([]);
    expect(await kv.get(PENDING_MARKER_KEY)).toBeNull();
  });

  it("cancel_all over more sessions than one invocation's KV budget: incomplete, what it reached cancelled, the rest by a second call", async () => {
    const total = 1200;
    const ownerKey = await aliceOwnerKey(SELF_HOSTED_ENV);
    await seedSessions(ownerKey, total - 1);
    const pages = Math.ceil(total / LIST_PAGE_SIZE);

    const first = countingKv(kv.binding);
    const response = await selfHosted("POST", "/v1/chatkit/sessions/cancel_all", first.kv);

    const result = (await response.json()) as { cancelled: number; pending: number; complete: boolean };
    expect(result).toMatchObject({ pending: 0, complete: false });
    expect(first.operations.length).toBeLessThanOrEqual(KV_OPERATIONS_PER_INVOCATION);
    // It stops only when the next session's writes might not fit beside those still running.
    expect(result.cancelled).toBeGreaterThanOrEqual(SESSION_KV_BUDGET - pages - 2 * CANCEL_CONCURRENCY);
    const firstOps = kvCalls(first.operations);
    expect(firstOps.filter((o) => o === `list session:${ownerKey}:`)).toHaveLength(pages);
    expect(firstOps.filter((o) => o.startsWith("put session:"))).toHaveLength(result.cancelled);
    expect(firstOps).toHaveLength(pages + result.cancelled);
    expect((await statuses()).filter((s) => s === "cancelled")).toHaveLength(result.cancelled);
    expect((await statuses()).filter((s) => s === "active")).toHaveLength(total - result.cancelled);

    const second = countingKv(kv.binding);
    const again = await selfHosted("POST", "/v1/chatkit/sessions/cancel_all", second.kv);

    expect(await again.json()).toEqual({ cancelled: total - result.cancelled, pending: 0, complete: true });
    expect(kvCalls(second.operations)).toHaveLength(pages + total - result.cancelled);
    expect(await statuses()).toEqual(Array(total).fill("cancelled"));
    expect(reachedAnyone()).toEqual([]);
    expect(await kvEntries("pending:")).toEqual([]);
    expect(await kv.get(PENDING_MARKER_KEY)).toBeNull();
  });

  it("a cancel: one read and one write of the record, no call, no marker, no index", async () => {
    const ownerKey = await aliceOwnerKey(SELF_HOSTED_ENV);
    const [session] = await kvEntries();
    const id = (session?.value as { session_id: string } | undefined)?.session_id as string;

    const counted = countingKv(kv.binding);
    const response = await selfHosted("POST", `/v1/chatkit/sessions/${id}/cancel`, counted.kv);

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ session_id: id, status: "cancelled" });
    expect(kvCalls(counted.operations)).toEqual([`get session:${ownerKey}:${id}`, `put session:${ownerKey}:${id}`]);
    expect(reachedAnyone()).toEqual([]);
    expect(await statuses()).toEqual(["cancelled"]);
    expect(await kvEntries("pending:")).toEqual([]);
    expect(await kv.get(PENDING_MARKER_KEY)).toBeNull();
  });
});
