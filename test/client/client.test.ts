import { SELF } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { parseRetryAfter } from "../../client/errors";
import { HandedOut } from "../../client/handed-out";
import {
  ChatKitGateError,
  type ChatKitGateOptions,
  createChatKitGate,
  GATE_ERROR_CODES,
  isChatKitGateError,
  type Session,
  type SessionStatus,
} from "../../client/index";
import { ERROR_STATUS } from "../../src/http/errors";
import type { SessionView } from "../../src/sessions/record";
import { BASE, clearKv, kvEntries } from "../support/http";
import { tamper } from "../support/jwt";
import { mintToken, Peers } from "../support/peers";

/** The worker's entry point, as the browser's fetch would reach it; Peers' spy on globalThis.fetch never sees it. */
const selfFetch = (input: string, init: RequestInit) => SELF.fetch(input, init);

let peers: Peers;
let alice: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  alice = await mintToken({ sub: "alice" });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

const gateFor = (token: () => string, options: Partial<ChatKitGateOptions> = {}) =>
  createChatKitGate({ baseUrl: BASE, getToken: token, fetch: selfFetch, ...options });

const upstream = () =>
  peers.upstreamCalls().map((call) => `${call.method} ${new URL(call.url).pathname.replace(/^\/v1/, "")}`);

async function recordOf(sessionId: string) {
  return (await kvEntries()).find((entry) => entry.name.endsWith(`:${sessionId}`))?.value as Session | undefined;
}

/** The one session record in KV. */
async function onlyRecord(): Promise<Session> {
  const entries = await kvEntries();
  expect(entries).toHaveLength(1);
  return entries[0]?.value as Session;
}

/** Fails with what the promise resolved to, or returns what it threw. */
async function thrown(promise: Promise<unknown>): Promise<ChatKitGateError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ChatKitGateError);
  return outcome.error as ChatKitGateError;
}

describe("The client's types and codes", () => {
  it("lists exactly the worker's error codes and session statuses", () => {
    expect([...GATE_ERROR_CODES].sort()).toEqual(Object.keys(ERROR_STATUS).sort());
    expectTypeOf<SessionStatus>().toEqualTypeOf<SessionView["status"]>();
    expectTypeOf<Session>().toEqualTypeOf<SessionView>();
  });

  it.each([
    ["delay-seconds", "7", 7],
    ["zero", "0", 0],
    ["an HTTP date", new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), 30],
    ["an HTTP date in the past", new Date(Date.UTC(2029, 11, 31)).toUTCString(), 0],
    ["garbage", "soon", undefined],
    ["absence", null, undefined],
  ])("reads Retry-After given as %s", (_name, value, seconds) => {
    expect(parseRetryAfter(value, Date.UTC(2030, 0, 1))).toBe(seconds);
  });
});

describe("getClientSecret", () => {
  it("starts a session for the token's user and returns its secret, and reports the session without it", async () => {
    const started: Session[] = [];
    const gate = gateFor(() => alice, { onSessionStarted: (session) => started.push(session) });

    const secret = await gate.getClientSecret(null);

    expect(secret).toMatch(/^ek_secret_/);
    expect(upstream()).toEqual(["POST /chatkit/sessions"]);
    const value = await onlyRecord();
    expect(value).toMatchObject({ status: "active" });
    const sessionId = value.session_id;
    expect(started).toEqual([
      { session_id: sessionId, status: "active", created_at: expect.any(Number), expires_at: expect.any(Number) },
    ]);
    expect(JSON.stringify(started)).not.toContain(secret);
  });

  it("on refresh starts a new session, then cancels the one it replaces", async () => {
    const started: Session[] = [];
    const gate = gateFor(() => alice, { onSessionStarted: (session) => started.push(session) });
    const first = await gate.getClientSecret(null);

    const second = await gate.getClientSecret(first);
    await gate.settled();

    expect(second).not.toBe(first);
    const [old, current] = started.map((session) => session.session_id);
    expect(upstream()).toEqual([
      "POST /chatkit/sessions",
      "POST /chatkit/sessions",
      `POST /chatkit/sessions/${old}/cancel`,
    ]);
    expect(await recordOf(old as string)).toMatchObject({ status: "cancelled", cancelled_at: expect.any(Number) });
    expect(await recordOf(current as string)).toMatchObject({ status: "active" });
  });

  it("cancels the session of the secret being refreshed, not merely the latest one", async () => {
    const started: string[] = [];
    const gate = gateFor(() => alice, { onSessionStarted: (session) => started.push(session.session_id) });
    const first = await gate.getClientSecret(null);
    await gate.getClientSecret(null);

    await gate.getClientSecret(first);
    await gate.settled();

    expect(upstream().at(-1)).toBe(`POST /chatkit/sessions/${started[0]}/cancel`);
    expect(await recordOf(started[1] as string)).toMatchObject({ status: "active" });
  });

  it("replaces nothing for a secret it did not hand out, and cancels a replaced session once", async () => {
    const gate = gateFor(() => alice);
    const first = await gate.getClientSecret(null);

    await gate.getClientSecret("ek_from_before_a_reload");
    await gate.getClientSecret(first);
    await gate.getClientSecret(first);
    await gate.settled();

    expect(upstream().filter((call) => call.endsWith("/cancel"))).toHaveLength(1);
  });

  it("still refreshes when the cancel of the replaced session fails, and reports that failure", async () => {
    const failures: Array<[string, string]> = [];
    const gate = gateFor(() => alice, {
      fetch: (input, init) =>
        input.endsWith("/cancel") ? Promise.reject(new TypeError("offline")) : SELF.fetch(input, init),
      onCancelError: (error, sessionId) => failures.push([error.code, sessionId]),
    });
    const first = await gate.getClientSecret(null);
    const value = await onlyRecord();

    await expect(gate.getClientSecret(first)).resolves.toMatch(/^ek_secret_/);
    await gate.settled();

    expect(failures).toEqual([["network_error", value.session_id]]);
  });

  it("sends the configured workflow alias and state variables", async () => {
    const gate = gateFor(() => alice, { session: () => ({ workflow: "support", state_variables: { locale: "fr" } }) });

    await gate.getClientSecret(null);

    expect(peers.upstreamCalls()[0]?.body).toMatchObject({
      workflow: { id: "wf_support", version: "7", state_variables: { locale: "fr" } },
    });
  });

  it("asks for the token at every request, so a refreshed token is used", async () => {
    const getToken = vi.fn(() => alice);
    const gate = gateFor(getToken);

    await gate.getClientSecret(null);
    await gate.list();

    expect(getToken).toHaveBeenCalledTimes(2);
  });
});

describe("list, get, cancel and cancelAll", () => {
  it("list shows the user's sessions newest first; get and cancel one", async () => {
    const bob = await mintToken({ sub: "bob" });
    const gate = gateFor(() => alice);
    await gate.getClientSecret(null);
    await gate.getClientSecret(null);
    await gateFor(() => bob).getClientSecret(null);

    const sessions = await gate.list();

    expect(sessions).toHaveLength(2);
    expect(sessions.map((s) => s.status)).toEqual(["active", "active"]);
    expect(sessions[0]?.created_at).toBeGreaterThanOrEqual(sessions[1]?.created_at as number);
    const id = sessions[1]?.session_id as string;
    expect(await gate.get(id)).toEqual(sessions[1]);

    const cancelled = await gate.cancel(id);

    expect(cancelled).toEqual({ ...sessions[1], status: "cancelled", cancelled_at: expect.any(Number) });
    expect(upstream().at(-1)).toBe(`POST /chatkit/sessions/${id}/cancel`);
    expect(await gate.cancel(id)).toEqual(cancelled);
  });

  it("cancelAll ends every active session of the user, for logout", async () => {
    const gate = gateFor(() => alice);
    await gate.getClientSecret(null);
    await gate.getClientSecret(null);

    expect(await gate.cancelAll()).toEqual({ cancelled: 2, pending: 0, complete: true });

    expect((await gate.list()).map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    expect(await gate.cancelAll()).toEqual({ cancelled: 0, pending: 0, complete: true });
  });

  it("cancelAll passes on complete: false, so logout can call it again", async () => {
    const partial = () => Promise.resolve(Response.json({ cancelled: 3, pending: 1, complete: false }));

    expect(await gateFor(() => alice, { fetch: partial }).cancelAll()).toEqual({
      cancelled: 3,
      pending: 1,
      complete: false,
    });
  });

  it("cancelAll refuses an answer without complete as unexpected_response", async () => {
    const old = () => Promise.resolve(Response.json({ cancelled: 1, pending: 0 }));

    expect(await thrown(gateFor(() => alice, { fetch: old }).cancelAll())).toMatchObject({
      code: "unexpected_response",
    });
  });

  it("throws session_not_found for another user's session", async () => {
    const bob = await mintToken({ sub: "bob" });
    await gateFor(() => alice).getClientSecret(null);
    const value = await onlyRecord();

    const error = await thrown(gateFor(() => bob).cancel(value.session_id));

    expect(error).toMatchObject({ code: "session_not_found", status: 404 });
  });
});

describe("Errors", () => {
  it("surfaces a refused token as invalid_token with the worker's message and request id", async () => {
    const error = await thrown(gateFor(() => tamper(alice)).getClientSecret(null));

    expect(error).toMatchObject({ name: "ChatKitGateError", code: "invalid_token", status: 401 });
    expect(error.message).not.toBe("");
    expect(error.requestId).toEqual(expect.any(String));
    expect(isChatKitGateError(error, "invalid_token")).toBe(true);
    expect(upstream()).toEqual([]);
  });

  it("passes whatever getToken throws through unchanged", async () => {
    const signedOut = new Error("signed out");

    await expect(
      gateFor(() => {
        throw signedOut;
      }).list(),
    ).rejects.toBe(signedOut);
  });

  it("retries a 429 after its Retry-After", async () => {
    let limited = 1;
    peers.chatkit = (request) =>
      limited-- > 0
        ? Response.json({ error: { message: "slow down" } }, { status: 429, headers: { "retry-after": "0" } })
        : peers.fakeChatKit(request);

    await expect(gateFor(() => alice).getClientSecret(null)).resolves.toMatch(/^ek_secret_/);

    expect(upstream()).toEqual(["POST /chatkit/sessions", "POST /chatkit/sessions"]);
  });

  it("gives up after maxRetries and throws rate_limited with retryAfter", async () => {
    peers.chatkit = () => Response.json({}, { status: 429, headers: { "retry-after": "0" } });

    const error = await thrown(gateFor(() => alice, { maxRetries: 1 }).getClientSecret(null));

    expect(error).toMatchObject({ code: "rate_limited", status: 429, retryAfter: 0 });
    expect(upstream()).toHaveLength(2);
  });

  it("throws at once when Retry-After is longer than it may wait", async () => {
    peers.chatkit = () => Response.json({}, { status: 429, headers: { "retry-after": "120" } });
    const started = Date.now();

    const error = await thrown(gateFor(() => alice).getClientSecret(null));

    expect(error).toMatchObject({ code: "rate_limited", retryAfter: 120 });
    expect(upstream()).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("maps a failed fetch to network_error", async () => {
    const offline = new TypeError("Failed to fetch");

    const error = await thrown(gateFor(() => alice, { fetch: () => Promise.reject(offline) }).list());

    expect(error).toMatchObject({ code: "network_error", status: 0, cause: offline });
  });

  it("maps a request that outlives timeoutMs to network_error", async () => {
    const hang = (_input: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) =>
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
      );

    const error = await thrown(gateFor(() => alice, { fetch: hang, timeoutMs: 20 }).list());

    expect(error).toMatchObject({ code: "network_error", status: 0 });
    expect(error.message).toContain("did not answer");
  });

  it("maps an answer that is not chatkit-gate's to unexpected_response", async () => {
    const proxy = () => Promise.resolve(new Response("<h1>Bad gateway</h1>", { status: 502 }));

    const error = await thrown(gateFor(() => alice, { fetch: proxy }).list());

    expect(error).toMatchObject({ code: "unexpected_response", status: 502 });
  });

  it("refuses bad options at once", () => {
    expect(() => createChatKitGate({ baseUrl: "not a url", getToken: () => alice })).toThrow(TypeError);
    expect(() => createChatKitGate({ baseUrl: BASE, getToken: () => alice, maxRetries: -1 })).toThrow(RangeError);
    expect(() => createChatKitGate({ baseUrl: BASE, getToken: () => alice, timeoutMs: 0 })).toThrow(RangeError);
  });
});

describe("What the client remembers of handed-out sessions", () => {
  const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

  it("finds a session by its secret, and forgets one long expired", async () => {
    const handedOut = new HandedOut();
    await handedOut.remember("ek_old", { session_id: "cksess_old", expires_at: 1 });
    await handedOut.remember("ek_a", { session_id: "cksess_a", expires_at: inAMinute() });
    await handedOut.remember("ek_b", { session_id: "cksess_b", expires_at: inAMinute() });

    expect(await handedOut.find("ek_a")).toMatchObject({ session_id: "cksess_a" });
    expect(await handedOut.find("ek_old")).toBeUndefined();
    expect(await handedOut.find("ek_unknown")).toBeUndefined();
    const kept = (handedOut as unknown as { sessions: Map<string, unknown> }).sessions;
    expect(JSON.stringify([...kept])).not.toContain("ek_a");
  });

  it("without SubtleCrypto (an insecure context), takes a refresh to replace the latest session", async () => {
    // No SELF call runs meanwhile: the worker shares this global and needs the real crypto.
    vi.stubGlobal("crypto", { subtle: undefined });
    const handedOut = new HandedOut();
    await handedOut.remember("ek_a", { session_id: "cksess_a", expires_at: inAMinute() });
    await handedOut.remember("ek_b", { session_id: "cksess_b", expires_at: inAMinute() });

    const found = await handedOut.find("ek_a");

    expect(found).toMatchObject({ session_id: "cksess_b" });
  });
});
