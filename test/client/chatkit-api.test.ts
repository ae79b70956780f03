import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import {
  ChatKitGateError,
  type ChatKitGateOptions,
  type CustomApiConfig,
  createChatKitGate,
  type Session,
} from "../../client/index";
import { BASE, clearKv, kvEntries } from "../support/http";
import { tamper } from "../support/jwt";
import { mintToken, Peers } from "../support/peers";
import { FakeGate } from "./fake-gate";

/**
 * The shape of `CustomApiConfig` and its upload strategy as `@openai/chatkit`
 * declares them (packages/chatkit/types/index.d.ts), which this project does
 * not install: what `useChatKit({ api })` accepts.
 */
type ChatKitUploadStrategy = { type: "two_phase" } | { type: "direct"; uploadUrl: string };
type ChatKitCustomApiConfig = {
  url: string;
  fetch?: typeof fetch;
  domainKey: string;
  uploadStrategy?: ChatKitUploadStrategy;
};

const CHATKIT = `${BASE}/chatkit`;
const THREADS_LIST = JSON.stringify({ type: "threads.list", params: { limit: 20, order: "desc" } });

let peers: Peers;
let gate: FakeGate;
let alice: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  gate = new FakeGate();
  alice = await mintToken({ sub: "alice" });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

const clientFor = (token: () => string = () => alice, options: Partial<ChatKitGateOptions> = {}) =>
  createChatKitGate({ baseUrl: BASE, getToken: token, fetch: gate.fetch, ...options });

/** Session creates and cancels that reached the worker and then OpenAI, as `METHOD path`. */
const upstream = () =>
  peers.upstreamCalls().map((call) => `${call.method} ${new URL(call.url).pathname.replace(/^\/v1/, "")}`);
const creates = () => upstream().filter((call) => call === "POST /chatkit/sessions");

const post = (body: RequestInit["body"] = THREADS_LIST, init: RequestInit = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body,
  ...init,
});

/** Makes OpenAI hold every session create until the returned function is called. */
function holdCreates(): () => void {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  peers.chatkit = async (request) => {
    await held;
    return peers.fakeChatKit(request);
  };
  return release;
}

async function statusOf(sessionId: string | undefined): Promise<string | undefined> {
  const entry = (await kvEntries()).find((e) => e.name.endsWith(`:${sessionId}`));
  return (entry?.value as Session | undefined)?.status;
}

describe("chatKitApi: the config ChatKit is given", () => {
  it("points ChatKit at the gate's /chatkit, with no upload strategy unless uploads are on", () => {
    const client = clientFor();

    const api = client.chatKitApi({ domainKey: "domain_pk_test" });

    expect(api).toEqual({ url: CHATKIT, domainKey: "domain_pk_test", fetch: expect.any(Function) });
    expect("uploadStrategy" in api).toBe(false);
  });

  it("with uploads on, adds the direct strategy to the gate's /chatkit/upload", () => {
    const api = clientFor().chatKitApi({ domainKey: "domain_pk_test", uploads: true });

    expect(api.uploadStrategy).toEqual({ type: "direct", uploadUrl: `${BASE}/chatkit/upload` });
  });

  it("keeps the base URL's path prefix", () => {
    const client = createChatKitGate({ baseUrl: `${BASE}/edge/`, getToken: () => alice, fetch: gate.fetch });

    const api = client.chatKitApi({ domainKey: "dk", uploads: true });

    expect(api.url).toBe(`${BASE}/edge/chatkit`);
    expect(api.uploadStrategy?.uploadUrl).toBe(`${BASE}/edge/chatkit/upload`);
  });

  it("returns the same frozen object for the same options, so React sees a stable api", () => {
    const client = clientFor();

    const api = client.chatKitApi({ domainKey: "dk" });

    expect(client.chatKitApi({ domainKey: "dk" })).toBe(api);
    expect(client.chatKitApi({ domainKey: "dk", uploads: true })).not.toBe(api);
    expect(Object.isFrozen(api)).toBe(true);
  });

  it("refuses an empty domain key at once", () => {
    expect(() => clientFor().chatKitApi({ domainKey: "" })).toThrow(TypeError);
  });

  it("is assignable to ChatKit's CustomApiConfig", () => {
    expectTypeOf<CustomApiConfig>().toExtend<ChatKitCustomApiConfig>();
    expectTypeOf(clientFor().chatKitApi).returns.toExtend<ChatKitCustomApiConfig>();
  });
});

describe("chatKitApi().fetch: the session secret goes to the gate only", () => {
  it("starts a session on first use and sends its secret as the bearer, leaving the request as it was", async () => {
    const started: Session[] = [];
    const { fetch } = clientFor(() => alice, { onSessionStarted: (s) => started.push(s) }).chatKitApi({
      domainKey: "dk",
    });

    const headers = { "content-type": "application/json", "accept-language": "fr" };
    const response = await fetch(CHATKIT, post(THREADS_LIST, { headers }));

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(creates()).toHaveLength(1);
    const [call] = gate.chatkitCalls;
    const secret = gate.bearers()[0] as string;
    expect(secret).toMatch(/^ek_secret_/);
    expect(gate.sessionOf(secret)).toBe(started[0]?.session_id);
    expect(call).toMatchObject({ method: "POST", text: THREADS_LIST });
    expect(call?.headers).toEqual({ ...headers, authorization: `Bearer ${secret}` });
    expect(JSON.stringify(started)).not.toContain(secret);
  });

  it.each([
    ["another host", "https://elsewhere.test/chatkit"],
    ["a look-alike host", "https://gate.test.evil.test/chatkit"],
    ["the gate's host over http", "http://gate.test/chatkit"],
    ["the gate's host on another port", "https://gate.test:8443/chatkit"],
  ])("sends nothing of the session to %s, and passes the request on untouched", async (_name, url) => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    const signal = new AbortController().signal;
    const init = post("payload", { headers: { "x-app": "1", authorization: "Bearer app-own" }, signal });

    const response = await fetch(url, init);

    expect(await response.text()).toBe("elsewhere");
    expect(gate.chatkitCalls).toEqual([]);
    expect(gate.foreignCalls).toEqual([
      {
        url,
        method: "POST",
        headers: { "x-app": "1", authorization: "Bearer app-own", "content-type": expect.any(String) },
        rawBody: "payload",
        text: "payload",
        signal,
      },
    ]);
    expect(creates()).toEqual([]);
  });

  it("resolves a relative URL against the page, as the browser does", async () => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });

    vi.stubGlobal("location", { href: "https://app.test/chat" });
    await fetch("/chatkit", post());
    vi.stubGlobal("location", { href: `${BASE}/app/` });
    await fetch("/chatkit", post());

    expect(gate.foreignCalls.map((call) => [call.url, call.headers.authorization])).toEqual([["/chatkit", undefined]]);
    expect(gate.bearers()).toEqual([expect.stringMatching(/^ek_secret_/)]);
  });

  it("adds the secret to a Request or URL addressed to the gate, and replaces a caller's Authorization", async () => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });

    await fetch(new URL(CHATKIT), post(THREADS_LIST, { headers: { authorization: "Bearer forged" } }));
    await fetch(new Request(CHATKIT, post()));

    const [first, second] = gate.bearers();
    expect(first).toMatch(/^ek_secret_/);
    expect(second).toBe(first);
    expect(gate.chatkitCalls.map((call) => call.text)).toEqual([THREADS_LIST, THREADS_LIST]);
  });

  it("reuses one session for every request, uploads included", async () => {
    const { fetch, uploadStrategy } = clientFor().chatKitApi({ domainKey: "dk", uploads: true });
    const form = new FormData();
    form.append("file", new Blob(["hello"], { type: "text/plain" }), "hello.txt");

    await fetch(CHATKIT, post());
    await fetch(CHATKIT, post());
    await fetch(uploadStrategy?.uploadUrl as string, { method: "POST", body: form });

    expect(creates()).toHaveLength(1);
    expect(new Set(gate.bearers()).size).toBe(1);
    expect(gate.chatkitCalls[2]?.url).toBe(`${BASE}/chatkit/upload`);
    expect(gate.chatkitCalls[2]?.text).toContain('name="file"; filename="hello.txt"');
  });

  it("starts one session for concurrent first calls", async () => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });

    const responses = await Promise.all([1, 2, 3, 4].map(() => fetch(CHATKIT, post())));

    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(creates()).toHaveLength(1);
    expect(new Set(gate.bearers()).size).toBe(1);
  });

  it("shares one session between every config of one client", async () => {
    const client = clientFor();

    await client.chatKitApi({ domainKey: "dk" }).fetch(CHATKIT, post());
    await client.chatKitApi({ domainKey: "dk", uploads: true }).fetch(CHATKIT, post());

    expect(creates()).toHaveLength(1);
  });

  it("rejects with the gate's error when no session can be started, and tries again on the next call", async () => {
    let token = tamper(alice);
    const { fetch } = clientFor(() => token).chatKitApi({ domainKey: "dk" });

    const error = await fetch(CHATKIT, post()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ChatKitGateError);
    expect(error).toMatchObject({ code: "invalid_token", status: 401 });
    expect(gate.chatkitCalls).toEqual([]);
    token = alice;
    expect((await fetch(CHATKIT, post())).status).toBe(200);
    expect(creates()).toHaveLength(1);
  });
});

describe("chatKitApi().fetch: a refused secret", () => {
  it("on a 401 starts a new session and sends the same request once more", async () => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    await fetch(CHATKIT, post());
    // Logout on another device cancels this session at the gate, behind this client's back.
    await clientFor().cancelAll();

    const response = await fetch(CHATKIT, post());

    expect(response.status).toBe(200);
    expect(creates()).toHaveLength(2);
    const [first, refused, retried] = gate.bearers();
    expect(refused).toBe(first);
    expect(retried).not.toBe(first);
    expect(await statusOf(gate.sessionOf(retried as string))).toBe("active");
    expect(gate.chatkitCalls.map((call) => call.text)).toEqual([THREADS_LIST, THREADS_LIST, THREADS_LIST]);
  });

  it("retries only once: a second 401 is returned to ChatKit as it is", async () => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    gate.refuseAll = true;

    const response = await fetch(CHATKIT, post());

    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: "invalid_token" } });
    expect(gate.chatkitCalls).toHaveLength(2);
    expect(creates()).toHaveLength(2);
  });

  it.each([
    ["a string", () => "plain text"],
    ["a Blob", () => new Blob(["blob bytes"])],
    ["an ArrayBuffer", () => new TextEncoder().encode("buffer bytes").buffer as ArrayBuffer],
    ["a Uint8Array", () => new TextEncoder().encode("view bytes")],
    ["URLSearchParams", () => new URLSearchParams({ a: "1" })],
    [
      "FormData",
      () => {
        const form = new FormData();
        form.append("file", new Blob(["x"]), "x.txt");
        return form;
      },
    ],
  ])("resends %s body unchanged", async (_name, makeBody) => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    gate.refuseAll = true;
    const body = makeBody();

    await fetch(CHATKIT, { method: "POST", body });

    const [first, second] = gate.chatkitCalls;
    expect(gate.chatkitCalls).toHaveLength(2);
    expect(second?.rawBody).toBe(body);
    expect(first?.text).not.toBe("");
    if (!(body instanceof FormData)) expect(second?.text).toBe(first?.text);
    expect(second?.headers.authorization).not.toBe(first?.headers.authorization);
  });

  it("does not resend a stream body, which the first send used up, nor start a session for it", async () => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    await fetch(CHATKIT, post());
    gate.refuseAll = true;
    const stream = new Blob([THREADS_LIST]).stream();

    const response = await fetch(CHATKIT, { method: "POST", body: stream, duplex: "half" } as RequestInit);

    expect(response.status).toBe(401);
    expect(gate.chatkitCalls).toHaveLength(2);
    expect(gate.chatkitCalls[1]?.text).toBe(THREADS_LIST);
    expect(creates()).toHaveLength(1);
  });

  it("does not resend a Request whose body is a stream", async () => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    gate.refuseAll = true;

    const response = await fetch(new Request(CHATKIT, post()));

    expect(response.status).toBe(401);
    expect(gate.chatkitCalls).toHaveLength(1);
    expect(creates()).toHaveLength(1);
  });
});

describe("chatKitApi().fetch and cancelAll", () => {
  it("cancelAll revokes the held session and drops its secret: the next request starts a new one", async () => {
    const client = clientFor();
    const { fetch } = client.chatKitApi({ domainKey: "dk" });
    await fetch(CHATKIT, post());
    const [first] = gate.bearers();

    expect(await client.cancelAll()).toEqual({ cancelled: 1, pending: 0, complete: true });
    await fetch(CHATKIT, post());

    const [, second] = gate.bearers();
    expect(second).not.toBe(first);
    expect(await statusOf(gate.sessionOf(first as string))).toBe("cancelled");
    expect(gate.chatkitCalls).toHaveLength(2);
    expect(creates()).toHaveLength(2);
  });

  it("cancelAll drops the secret even when the gate cannot be reached", async () => {
    let offline = false;
    const client = clientFor(() => alice, {
      fetch: (input, init) => (offline ? Promise.reject(new TypeError("offline")) : gate.fetch(input, init)),
    });
    const { fetch } = client.chatKitApi({ domainKey: "dk" });
    await fetch(CHATKIT, post());

    offline = true;
    await expect(client.cancelAll()).rejects.toMatchObject({ code: "network_error" });
    offline = false;
    await fetch(CHATKIT, post());

    expect(creates()).toHaveLength(2);
    expect(new Set(gate.bearers()).size).toBe(2);
  });

  it("cancelAll waits for a session still starting, so it is revoked too, and a refused request is not retried after it", async () => {
    const releaseCreate = holdCreates();
    const client = clientFor();
    const { fetch } = client.chatKitApi({ domainKey: "dk" });

    const pending = fetch(CHATKIT, post());
    const cancelling = client.cancelAll();
    // The request reaches /chatkit only after the cancel_all has finished.
    gate.latch = cancelling;
    releaseCreate();
    const [response, result] = await Promise.all([pending, cancelling]);

    expect(result).toEqual({ cancelled: 1, pending: 0, complete: true });
    expect(response.status).toBe(401);
    expect(creates()).toHaveLength(1);
    expect(await statusOf(gate.sessionOf(gate.bearers()[0] as string))).toBe("cancelled");
  });

  it("cancel(id) of the held session drops its secret too", async () => {
    const started: Session[] = [];
    const client = clientFor(() => alice, { onSessionStarted: (s) => started.push(s) });
    const { fetch } = client.chatKitApi({ domainKey: "dk" });
    await fetch(CHATKIT, post());

    await client.cancel(started[0]?.session_id as string);
    await fetch(CHATKIT, post());

    expect(gate.chatkitCalls).toHaveLength(2);
    expect(creates()).toHaveLength(2);
  });
});

describe("chatKitApi().fetch and aborts", () => {
  it("passes the caller's signal through untouched, so Stop aborts the request", async () => {
    // A stream that stays open, like a reply still being written.
    gate.answer = () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } });
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    const stop = new AbortController();

    const response = await fetch(CHATKIT, post(THREADS_LIST, { signal: stop.signal }));
    stop.abort();

    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(gate.chatkitCalls[0]?.signal).toBe(stop.signal);
    expect(gate.chatkitCalls[0]?.signal?.aborted).toBe(true);
  });

  it("an abort while the session is starting rejects with the abort's reason and sends nothing", async () => {
    const releaseCreate = holdCreates();
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    const stop = new AbortController();
    const reason = new DOMException("stopped", "AbortError");

    const pending = fetch(CHATKIT, post(THREADS_LIST, { signal: stop.signal }));
    stop.abort(reason);

    await expect(pending).rejects.toBe(reason);
    releaseCreate();
    await expect(fetch(CHATKIT, post())).resolves.toMatchObject({ status: 200 });
    expect(gate.chatkitCalls).toHaveLength(1);
    expect(creates()).toHaveLength(1);
  });

  it("an already aborted signal starts nothing", async () => {
    const { fetch } = clientFor().chatKitApi({ domainKey: "dk" });
    const stop = new AbortController();
    stop.abort();

    await expect(fetch(CHATKIT, post(THREADS_LIST, { signal: stop.signal }))).rejects.toBe(stop.signal.reason);
    expect(creates()).toEqual([]);
    expect(gate.chatkitCalls).toEqual([]);
  });
});
