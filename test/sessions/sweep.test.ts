import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createWorker } from "../../src/app";
import type { GateDeps } from "../../src/http/context";
import { PENDING_MARKER_KEY } from "../../src/sessions/store";
import { callWith } from "../support/app";
import { mintToken, Peers } from "../support/peers";
import { countingKv, MemoryKv } from "./kv-fakes";

let peers: Peers;
let alice: string;
let kv: MemoryKv;
beforeEach(async () => {
  kv = new MemoryKv();
  peers = new Peers().install();
  alice = await mintToken({ sub: "alice" });
});
afterEach(() => vi.restoreAllMocks());

const fast: Partial<GateDeps> = { sleep: async () => {}, upstreamTimeoutMs: 1_500 };
const openaiError = (status: number) =>
  Response.json({ error: { message: "no", type: "invalid_request_error", param: null, code: null } }, { status });
const request = (method: string, path: string, deps: Partial<GateDeps> = fast) =>
  callWith({ env: { SESSIONS: kv.binding }, deps }, method, path, { token: alice });
const cancelAttempts = (id: string) => peers.upstreamCalls().filter((c) => c.url.endsWith(`/${id}/cancel`)).length;
const recordOf = (id: string) => kv.entries().find((e) => e.name.endsWith(`:${id}`))?.value as Record<string, unknown>;

/** A session whose cancel ChatKit did not confirm: `cancel_pending` and indexed. */
async function pendingSession(): Promise<{ id: string; ownerKey: string; expiresAt: number }> {
  const created = (await (await request("POST", "/v1/chatkit/sessions")).json()) as {
    session_id: string;
    expires_at: number;
  };
  peers.chatkit = (r) => (r.url.endsWith("/cancel") ? openaiError(503) : peers.fakeChatKit(r));
  expect((await request("POST", `/v1/chatkit/sessions/${created.session_id}/cancel`)).status).toBe(202);
  peers.chatkit = undefined;
  const ownerKey = kv.entries()[0]?.name.split(":")[1] as string;
  return { id: created.session_id, ownerKey, expiresAt: created.expires_at };
}

/** Runs the cron handler once over `SESSIONS`, as the scheduler would. */
async function sweep(SESSIONS: KVNamespace = kv.binding, deps: Partial<GateDeps> = fast): Promise<void> {
  const ctx = createExecutionContext();
  await createWorker(deps).scheduled(createScheduledController(), { ...env, SESSIONS }, ctx);
  await waitOnExecutionContext(ctx);
}

/** The in-memory KV, except that session records read back empty, as KV may elsewhere within 60 s of a write. */
function laggingRecords(): KVNamespace {
  return {
    get: (key: string, type?: unknown) => (key.startsWith("session:") ? Promise.resolve(null) : kv.get(key, type)),
    put: kv.put.bind(kv),
    delete: kv.delete.bind(kv),
    list: kv.list.bind(kv),
  } as unknown as KVNamespace;
}

describe("Should keep an owed cancel until ChatKit confirms it or the session ends", () => {
  it("indexes what the sweep needs: the owner key and the record with its expiry, and drops the entry when the session ends", async () => {
    const { id, ownerKey, expiresAt } = await pendingSession();

    const [entry, ...others] = kv.entries("pending:");

    expect(others).toEqual([]);
    expect(entry?.name).toBe(`pending:${id}`);
    expect(entry?.metadata).toEqual({ sessionId: id, ownerKey, record: recordOf(id) });
    expect(recordOf(id)).toMatchObject({ session_id: id, status: "cancel_pending", expires_at: expiresAt });
    expect(entry?.expiration).toBe(expiresAt);
  });

  it("cancels at ChatKit when the record reads back empty, instead of dropping the entry", async () => {
    const { id } = await pendingSession();
    const before = cancelAttempts(id);

    await sweep(laggingRecords());

    expect(cancelAttempts(id)).toBe(before + 1);
    expect(recordOf(id)).toMatchObject({ status: "cancelled", cancelled_at: expect.any(Number) });
    expect(kv.entries("pending:")).toEqual([]);
  });

  it("keeps the entry when the record reads back empty and ChatKit is still down", async () => {
    const { id } = await pendingSession();
    peers.chatkit = () => openaiError(503);

    await sweep(laggingRecords());

    expect(recordOf(id)).toMatchObject({ status: "cancel_pending" });
    expect(kv.entries("pending:").map((e) => e.name)).toEqual([`pending:${id}`]);
  });

  it("lets a session that has ended go, with no ChatKit call and no KV write; it then shows as expired", async () => {
    const { id, expiresAt } = await pendingSession();
    const before = cancelAttempts(id);
    const later = { ...fast, now: () => expiresAt + 1 };
    const counted = countingKv(kv.binding);

    await sweep(counted.kv, later);

    expect(cancelAttempts(id)).toBe(before);
    expect(counted.operations.map((o) => o.op)).toEqual(["get", "list"]);
    const token = await mintToken({ sub: "alice", iat: expiresAt, exp: expiresAt + 300 });
    const shown = await callWith({ env: { SESSIONS: kv.binding }, deps: later }, "GET", `/v1/chatkit/sessions/${id}`, {
      token,
    });
    expect(await shown.json()).toMatchObject({ session_id: id, status: "expired" });
  });
});

describe("Should settle a cancel that ChatKit answers with a 4xx", () => {
  it("404 (ChatKit has no such session): nothing is left to cancel, so the sweep records it cancelled and stops", async () => {
    const { id } = await pendingSession();
    peers.chatkit = () => openaiError(404);

    await sweep();

    expect(recordOf(id)).toMatchObject({ status: "cancelled" });
    expect(kv.entries("pending:")).toEqual([]);
  });

  it.each([401, 403, 400])(
    "%i (our key or request refused): kept for the next run, and logged as an error",
    async (status) => {
      const { id } = await pendingSession();
      peers.chatkit = () => openaiError(status);
      const errors: string[] = [];
      vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));

      await sweep();

      expect(recordOf(id)).toMatchObject({ status: "cancel_pending" });
      expect(kv.entries("pending:").map((e) => e.name)).toEqual([`pending:${id}`]);
      expect(errors.map((line) => JSON.parse(line))).toContainEqual(
        expect.objectContaining({ event: "sweep", refused: 1, pending: 1, cancelled: 0 }),
      );
    },
  );
});

describe("The sweep's marker", () => {
  it("is left alone by the sweep, so a run after everything is settled still lists (until the marker expires)", async () => {
    await pendingSession();
    await sweep();
    expect(kv.entries("pending:")).toEqual([]);
    const counted = countingKv(kv.binding);

    await sweep(counted.kv);

    expect(counted.operations.map((o) => `${o.op} ${o.key}`)).toEqual([`get ${PENDING_MARKER_KEY}`, "list pending:"]);
  });
});
