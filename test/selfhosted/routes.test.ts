import { env } from "cloudflare:test";
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ASSERTION_LIFETIME_SECONDS } from "../../src/selfhosted/assertion";
import { sealClientSecret } from "../../src/selfhosted/client-secret";
import { keyringFor } from "../../src/selfhosted/signing-keys";
import { callWith, type Gate, gateWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { BASE, clearKv, errorOf, kvEntries } from "../support/http";
import { b64url, compact, tamper } from "../support/jwt";
import { mintToken, nowSeconds, Peers } from "../support/peers";
import { AUDIENCE, SELF_HOSTED_ENV, SERVER_URL, signingKeys } from "../support/self-hosted";
import { chatkitCall, startSession, THREADS_LIST } from "./support-routes";

let peers: Peers;
let gate: Gate;
let alice: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  gate = gateWith({ env: SELF_HOSTED_ENV });
  alice = await mintToken({ sub: "alice" });
});
afterEach(() => vi.restoreAllMocks());

const INVALID = 'Bearer realm="chatkit-gate", error="invalid_token"';

/** What the server received of the one request that reached it. */
function onlyServerCall() {
  const calls = peers.serverCalls();
  expect(calls).toHaveLength(1);
  return calls[0] as (typeof calls)[number];
}

async function publishedKeys(): Promise<JSONWebKeySet> {
  return (await (await gate.call("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet;
}

describe("POST /v1/chatkit/sessions in self-hosted mode", () => {
  it("starts a gate session with no call to OpenAI, one KV write, and no secret stored", async () => {
    const put = vi.spyOn(env.SESSIONS, "put");
    const before = nowSeconds();

    const session = await startSession(gate, alice);

    expect(session).toEqual({
      session_id: expect.stringMatching(/^cksess_[A-Za-z0-9_-]{22}$/),
      client_secret: expect.any(String),
      expires_at: expect.any(Number),
      created_at: expect.any(Number),
      status: "active",
    });
    expect(session.created_at).toBeGreaterThanOrEqual(before);
    expect(session.expires_at - session.created_at).toBe(Number(TEST_ENV.SESSION_EXPIRES_AFTER_SECONDS));
    expect(peers.calls.filter((call) => !call.url.startsWith(TEST_ENV.AUTH_ISSUER))).toEqual([]);
    // One write for the session (the auth layer may also persist the IdP's key set under jwks:).
    expect(put.mock.calls.filter(([key]) => key.startsWith("session:"))).toHaveLength(1);
    const [entry, ...rest] = await kvEntries();
    expect(rest).toEqual([]);
    const record = {
      session_id: session.session_id,
      status: "active",
      created_at: session.created_at,
      expires_at: session.expires_at,
      workflow_id: "wf_default",
    };
    expect(entry?.value).toEqual(record);
    expect(entry?.metadata).toEqual(record);
    expect(JSON.stringify(entry)).not.toContain(session.client_secret);
  });
});

describe("POST /chatkit forwards an accepted request", () => {
  it("with the body bytes unchanged, only content-type, accept and accept-language kept, and the assertion added", async () => {
    const session = await startSession(gate, alice);
    // Odd spacing, escapes and non-ASCII: any re-serialisation would change these bytes.
    const body =
      '{ "type":"threads.add_user_message" ,"params":{"input":{"content":[{"type":"input_text","text":"h\\u00e9 ☃ \\"q\\""}]}}}';
    peers.server = () =>
      new Response('{"answer":1}', {
        status: 207,
        headers: { "content-type": "application/vnd.test+json", "set-cookie": "sid=server", "x-server": "1" },
      });

    const response = await gate.call(
      "POST",
      "/chatkit",
      chatkitCall(session.client_secret, body, {
        accept: "text/event-stream",
        "accept-language": "fr-CA",
        cookie: "app=1",
        "x-user-id": "mallory",
        "chatkit-frame-instance-id": "frame-1",
      }),
    );

    expect(response.status).toBe(207);
    expect(response.headers.get("content-type")).toBe("application/vnd.test+json");
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(response.headers.get("x-server")).toBeNull();
    expect(await response.text()).toBe('{"answer":1}');
    const received = onlyServerCall();
    expect(received.url).toBe(SERVER_URL);
    expect(received.method).toBe("POST");
    expect(new TextDecoder().decode(received.bytes)).toBe(body);
    expect(Object.keys(received.headers).sort()).toEqual([
      "accept",
      "accept-language",
      "chatkit-gate-assertion",
      "content-type",
    ]);
    expect(received.headers).toMatchObject({
      accept: "text/event-stream",
      "accept-language": "fr-CA",
      "content-type": "application/json",
    });
    const forwarded = JSON.stringify(received.headers) + new TextDecoder().decode(received.bytes);
    for (const secret of [session.client_secret, alice]) expect(forwarded).not.toContain(secret);
  });

  it("with an assertion that verifies against /.well-known/jwks.json and says exactly who, for which session", async () => {
    const planned = { ...SELF_HOSTED_ENV, CHATKIT_STATE_FROM_CLAIMS: JSON.stringify({ plan: "app.plan" }) };
    gate = gateWith({ env: planned });
    const token = await mintToken({ sub: "alice", app: { plan: "pro" } });
    const session = await startSession(gate, token, { workflow: "support", state_variables: { locale: "fr" } });
    // What hosted mode sends as `user` for the same token and settings.
    await callWith(
      { env: { CHATKIT_STATE_FROM_CLAIMS: planned.CHATKIT_STATE_FROM_CLAIMS } },
      "POST",
      "/v1/chatkit/sessions",
      {
        token,
      },
    );
    const hostedUser = (peers.upstreamCalls()[0]?.body as { user?: string } | undefined)?.user;

    await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));
    await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));

    const keys = createLocalJWKSet(await publishedKeys());
    const [first, second] = peers.serverCalls().map((call) => call.headers["chatkit-gate-assertion"] as string);
    const verified = await jwtVerify(first as string, keys, {
      issuer: BASE,
      audience: AUDIENCE,
      algorithms: ["ES256"],
      typ: "JWT",
    });
    expect(decodeProtectedHeader(first as string)).toEqual({ alg: "ES256", kid: signingKeys.current.kid, typ: "JWT" });
    expect(verified.payload).toEqual({
      iss: "https://gate.test",
      aud: AUDIENCE,
      sub: hostedUser,
      sid: session.session_id,
      iat: expect.any(Number),
      exp: expect.any(Number),
      jti: expect.any(String),
      workflow: { id: "wf_support", version: "7" },
      state_variables: { locale: "fr", plan: "pro" },
    });
    expect(hostedUser).toBe("idp|alice");
    const { iat, exp, jti } = verified.payload as { iat: number; exp: number; jti: string };
    expect(exp - iat).toBe(ASSERTION_LIFETIME_SECONDS);
    expect(exp - iat).toBeLessThanOrEqual(300);
    expect(Math.abs(iat - nowSeconds())).toBeLessThanOrEqual(2);
    const again = await jwtVerify(second as string, keys, { issuer: BASE, audience: AUDIENCE });
    expect(again.payload.jti).not.toBe(jti);
  });

  it("streams text/event-stream through: the first event arrives before the server has finished", async () => {
    const session = await startSession(gate, alice);
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const encoder = new TextEncoder();
    peers.server = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(encoder.encode('data: {"type":"thread.created"}\n\n'));
            await finished;
            controller.enqueue(encoder.encode('data: {"type":"thread.item.done"}\n\n'));
            controller.close();
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );

    const response = await gate.call(
      "POST",
      "/chatkit",
      chatkitCall(session.client_secret, '{"type":"threads.create","params":{}}'),
    );

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    // The server is still holding its second event: the gate did not wait for the end.
    expect(new TextDecoder().decode(first.value)).toBe('data: {"type":"thread.created"}\n\n');
    finish();
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest += new TextDecoder().decode(chunk.value);
    }
    expect(rest).toBe('data: {"type":"thread.item.done"}\n\n');
  });

  it("aborts the server's request when the browser aborts during the stream (the Stop button)", async () => {
    const session = await startSession(gate, alice);
    peers.server = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('data: {"type":"progress"}\n\n'));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    const browser = new AbortController();
    const request = new Request(`${BASE}/chatkit`, {
      method: "POST",
      headers: { authorization: `Bearer ${session.client_secret}`, "content-type": "application/json" },
      body: '{"type":"threads.create","params":{}}',
      signal: browser.signal,
    });

    const response = await gate.fetch(request);
    await (response.body as ReadableStream<Uint8Array>).getReader().read();
    expect(onlyServerCall().signal.aborted).toBe(false);
    browser.abort();

    expect(onlyServerCall().signal.aborted).toBe(true);
  });

  it("answers 400 and aborts the server's request when the browser aborts before the answer starts", async () => {
    const session = await startSession(gate, alice);
    const browser = new AbortController();
    peers.server = () => {
      browser.abort();
      return new Promise<Response>(() => {});
    };
    const request = new Request(`${BASE}/chatkit`, {
      method: "POST",
      headers: { authorization: `Bearer ${session.client_secret}`, "content-type": "application/json" },
      body: THREADS_LIST,
      signal: browser.signal,
    });

    const response = await gate.fetch(request);

    expect(await errorOf(response)).toMatchObject({ status: 400, code: "invalid_request" });
    expect(onlyServerCall().signal.aborted).toBe(true);
  });

  it("answers 502 upstream_error when the server cannot be reached", async () => {
    const session = await startSession(gate, alice);
    peers.server = () => {
      throw new TypeError("Network connection lost.");
    };

    const response = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));

    expect(await errorOf(response)).toMatchObject({ status: 502, code: "upstream_error" });
    expect(peers.serverCalls()).toHaveLength(1);
  });

  it("answers 504 upstream_timeout when the server sends no headers in time, and aborts its request", async () => {
    const session = await startSession(gate, alice);
    const slow = gateWith({ env: SELF_HOSTED_ENV, deps: { upstreamTimeoutMs: 50 } });
    peers.server = () => new Promise<Response>(() => {});

    const response = await slow.call("POST", "/chatkit", chatkitCall(session.client_secret));

    expect(await errorOf(response)).toMatchObject({ status: 504, code: "upstream_timeout" });
    expect(onlyServerCall().signal.aborted).toBe(true);
  });

  it("costs exactly one KV read and no write, list or delete", async () => {
    const session = await startSession(gate, alice);
    const kv = env.SESSIONS;
    const ops = {
      get: vi.spyOn(kv, "get"),
      put: vi.spyOn(kv, "put"),
      list: vi.spyOn(kv, "list"),
      delete: vi.spyOn(kv, "delete"),
      getWithMetadata: vi.spyOn(kv, "getWithMetadata"),
    };

    const response = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));

    expect(response.status).toBe(200);
    expect(Object.fromEntries(Object.entries(ops).map(([name, spy]) => [name, spy.mock.calls.length]))).toEqual({
      get: 1,
      put: 0,
      list: 0,
      delete: 0,
      getWithMetadata: 0,
    });
  });
});

describe("POST /chatkit refuses, and nothing reaches the server", () => {
  /** Asserts the refusal and that the server saw nothing. */
  async function expectRefused(response: Response, status: number, code: string) {
    expect(await errorOf(response)).toMatchObject({ status, code });
    expect(peers.serverCalls()).toEqual([]);
    return response;
  }

  it("no Authorization: 401 invalid_token with the bare challenge", async () => {
    const response = await gate.call("POST", "/chatkit", chatkitCall(undefined));
    await expectRefused(response, 401, "invalid_token");
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="chatkit-gate"');
  });

  const attacks: Array<[string, (secret: string) => Promise<string> | string]> = [
    ["a malformed secret", () => "not-a-secret"],
    ["a tampered secret", (secret) => tamper(secret)],
    ["a truncated secret", (secret) => secret.split(".").slice(0, 4).join(".")],
    ["a secret cut short inside its ciphertext", (secret) => secret.slice(0, -30)],
    ["a secret with alg none", () => compact({ alg: "none", typ: "JWT" }, { sid: "cksess_x", sub: "idp|alice" })],
    [
      "a secret with alg none in the JWE header",
      (secret) =>
        `${b64url(JSON.stringify({ alg: "none", enc: "A256GCM", kid: "gate-test-2" }))}${secret.slice(secret.indexOf("."))}`,
    ],
    ["the user's IdP token", () => alice],
    [
      "a secret sealed by another gate (another key with the same kid)",
      async () => {
        const other = gateWith({
          env: { ...SELF_HOSTED_ENV, GATE_SIGNING_KEY: JSON.stringify(signingKeys.otherGate) },
        });
        return (await startSession(other, alice)).client_secret;
      },
    ],
    [
      "a secret naming another user's session (sealed with the gate's own key, as only a key leak allows)",
      async () => {
        const bobs = await startSession(gate, await mintToken({ sub: "bob" }));
        const keyring = await keyringFor([{ kty: "EC", crv: "P-256", ...signingKeys.current } as never]);
        const [entry] = (await kvEntries()).filter((e) => e.name.endsWith(bobs.session_id));
        const aliceOwner = (await kvEntries()).find((e) => !e.name.endsWith(bobs.session_id))?.name.split(":")[1];
        expect(entry).toBeDefined();
        return sealClientSecret(keyring, {
          sessionId: bobs.session_id,
          ownerKey: aliceOwner as string,
          user: "idp|alice",
          expiresAt: nowSeconds() + 300,
        });
      },
    ],
  ];
  it.each(attacks)("%s: 401 invalid_token", async (_name, make) => {
    const session = await startSession(gate, alice);
    const secret = await make(session.client_secret);
    peers.calls.length = 0;

    const response = await gate.call("POST", "/chatkit", chatkitCall(secret));

    await expectRefused(response, 401, "invalid_token");
    expect(response.headers.get("www-authenticate")).toBe(INVALID);
  });

  it("a secret used after its session was cancelled: 401, from the very next request", async () => {
    const session = await startSession(gate, alice);
    expect((await gate.call("POST", "/chatkit", chatkitCall(session.client_secret))).status).toBe(200);

    const cancelled = await gate.call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice });
    expect(cancelled.status).toBe(200);
    const next = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));

    expect(await errorOf(next)).toMatchObject({
      status: 401,
      code: "invalid_token",
      message: "The session has ended; start a new session",
    });
    expect(next.headers.get("www-authenticate")).toBe(INVALID);
    expect(peers.serverCalls()).toHaveLength(1);
  });

  it.each([
    ["not JSON", "{type:threads.list"],
    ["an unknown type", '{"type":"threads.export_everything"}'],
    ["attachments.create while uploads are off", '{"type":"attachments.create","params":{}}'],
  ])(
    "a cancelled session's secret with a body that is %s: 401, the session is refused before the body",
    async (_name, body) => {
      const session = await startSession(gate, alice);
      expect(
        (await gate.call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice })).status,
      ).toBe(200);

      const response = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret, body));

      await expectRefused(response, 401, "invalid_token");
      expect(
        (await errorOf(await gate.call("POST", "/chatkit", chatkitCall(session.client_secret, body)))).message,
      ).toBe("The session has ended; start a new session");
    },
  );

  it("a secret used after cancel_all: 401 for every session of the user, another user's still works", async () => {
    const first = await startSession(gate, alice);
    const second = await startSession(gate, alice);
    const bobs = await startSession(gate, await mintToken({ sub: "bob" }));

    const all = await gate.call("POST", "/v1/chatkit/sessions/cancel_all", { token: alice });
    expect(await all.json()).toEqual({ cancelled: 2, pending: 0, complete: true });

    for (const session of [first, second]) {
      expect((await gate.call("POST", "/chatkit", chatkitCall(session.client_secret))).status).toBe(401);
    }
    expect(peers.serverCalls()).toEqual([]);
    expect((await gate.call("POST", "/chatkit", chatkitCall(bobs.client_secret))).status).toBe(200);
  });

  it("a secret used after its session expired: 401", async () => {
    const session = await startSession(gate, alice);
    const later = gateWith({ env: SELF_HOSTED_ENV, deps: { now: () => session.expires_at } });

    const response = await later.call("POST", "/chatkit", chatkitCall(session.client_secret));

    await expectRefused(response, 401, "invalid_token");
    expect((await errorOf(await later.call("POST", "/chatkit", chatkitCall(session.client_secret)))).message).toBe(
      "The session has expired; start a new session",
    );
  });

  it("a secret whose record is gone (never recorded, or another gate's KV): 401", async () => {
    const session = await startSession(gate, alice);
    await clearKv();

    await expectRefused(await gate.call("POST", "/chatkit", chatkitCall(session.client_secret)), 401, "invalid_token");
  });

  it.each([
    ["not JSON", "{type:threads.list"],
    ["JSON without a type", '{"params":{}}'],
    ["a type that is not a string", '{"type":7}'],
    ["a JSON array", '[{"type":"threads.list"}]'],
    ["a type the gate does not know", '{"type":"threads.export_everything"}'],
  ])("a body that is %s: 400 invalid_request", async (_name, body) => {
    const session = await startSession(gate, alice);
    await expectRefused(
      await gate.call("POST", "/chatkit", chatkitCall(session.client_secret, body)),
      400,
      "invalid_request",
    );
  });

  it("a body over CHATKIT_MAX_REQUEST_BYTES, with or without Content-Length: 413", async () => {
    const capped = gateWith({ env: { ...SELF_HOSTED_ENV, CHATKIT_MAX_REQUEST_BYTES: "2048" } });
    const session = await startSession(capped, alice);
    const body = `{"type":"threads.list","params":{"pad":"${"x".repeat(2048)}"}}`;
    const atCap = `{"type":"threads.list","params":{"pad":"${"x".repeat(2048 - 43)}"}}`;
    expect(new TextEncoder().encode(atCap).byteLength).toBe(2048);
    const headers = { authorization: `Bearer ${session.client_secret}`, "content-type": "application/json" };
    const streamed = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(body.slice(0, 1500)));
          controller.enqueue(new TextEncoder().encode(body.slice(1500)));
          controller.close();
        },
      });

    const declaredRequest = new Request(`${BASE}/chatkit`, {
      method: "POST",
      headers: { ...headers, "content-length": String(new TextEncoder().encode(body).byteLength) },
      body,
    });
    expect(declaredRequest.headers.get("content-length")).toBe("2091");
    const declared = await capped.fetch(declaredRequest);
    const undeclared = await capped.fetch(
      new Request(`${BASE}/chatkit`, { method: "POST", headers, body: streamed(), duplex: "half" } as RequestInit),
    );

    await expectRefused(declared, 413, "payload_too_large");
    await expectRefused(undeclared, 413, "payload_too_large");
    expect((await capped.call("POST", "/chatkit", chatkitCall(session.client_secret, atCap))).status).toBe(200);
  });

  it("attachments.create while uploads are off: 403 forbidden", async () => {
    const session = await startSession(gate, alice);
    const body = '{"type":"attachments.create","params":{"name":"a.png","size":10,"mime_type":"image/png"}}';

    await expectRefused(
      await gate.call("POST", "/chatkit", chatkitCall(session.client_secret, body)),
      403,
      "forbidden",
    );
  });

  it(`more than SESSION_MAX_REQUESTS_PER_MINUTE (${TEST_ENV.SESSION_MAX_REQUESTS_PER_MINUTE}) in a minute on one session: 429 with Retry-After`, async () => {
    const limit = Number(TEST_ENV.SESSION_MAX_REQUESTS_PER_MINUTE);
    const session = await startSession(gate, alice);
    const other = await startSession(gate, alice);
    for (let i = 0; i < limit; i++) {
      expect((await gate.call("POST", "/chatkit", chatkitCall(session.client_secret))).status).toBe(200);
    }

    const refused = await gate.call("POST", "/chatkit", chatkitCall(session.client_secret));

    expect(await errorOf(refused)).toMatchObject({ status: 429, code: "rate_limited" });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    expect(peers.serverCalls()).toHaveLength(limit);
    expect((await gate.call("POST", "/chatkit", chatkitCall(other.client_secret))).status).toBe(200);
  });
});

describe("GET /.well-known/jwks.json", () => {
  it("publishes every configured key with public members only, cacheable, without a token", async () => {
    const response = await gate.call("GET", "/.well-known/jwks.json");

    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    const published = (await response.json()) as { keys: Array<Record<string, unknown>> };
    expect(published.keys).toEqual(
      [signingKeys.current, signingKeys.previous].map(({ x, y, kid }) => ({
        kty: "EC",
        crv: "P-256",
        x,
        y,
        kid,
        alg: "ES256",
        use: "sig",
      })),
    );
    for (const key of published.keys) expect(key).not.toHaveProperty("d");
    expect(JSON.stringify(published)).not.toContain(signingKeys.current.d as string);
    expect(peers.calls).toEqual([]);
  });
});

describe("CORS for /chatkit", () => {
  it("answers an allowed origin's preflight with the headers ChatKit sends", async () => {
    const response = await gate.call("OPTIONS", "/chatkit", {
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,accept-language,chatkit-frame-instance-id",
      },
    });

    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(response.headers.get("access-control-allow-headers")?.split(",")).toEqual(
      expect.arrayContaining(["authorization", "content-type", "accept-language", "chatkit-frame-instance-id"]),
    );
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("labels answers for an allowed origin only", async () => {
    const session = await startSession(gate, alice);
    const allowed = await gate.call(
      "POST",
      "/chatkit",
      chatkitCall(session.client_secret, THREADS_LIST, { origin: "http://localhost:5173" }),
    );
    const other = await gate.call(
      "POST",
      "/chatkit",
      chatkitCall(session.client_secret, THREADS_LIST, { origin: "https://evil.example" }),
    );

    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("Hosted mode serves none of the self-hosted routes", () => {
  it.each([
    ["POST", "/chatkit"],
    ["POST", "/chatkit/upload"],
    ["GET", "/.well-known/jwks.json"],
  ])("%s %s is 404 not_found", async (method, path) => {
    const hosted = gateWith();
    const session = (await (await hosted.call("POST", "/v1/chatkit/sessions", { token: alice })).json()) as {
      client_secret: string;
    };

    const response = await hosted.call(method, path, method === "GET" ? {} : chatkitCall(session.client_secret));

    expect(await errorOf(response)).toMatchObject({ status: 404, code: "not_found" });
    expect(peers.serverCalls()).toEqual([]);
  });
});
