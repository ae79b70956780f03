import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callWith, gateWith } from "./support/app";
import { TEST_ENV } from "./support/env";
import { call, clearKv, kvEntries } from "./support/http";
import { mintToken, Peers } from "./support/peers";
import { SELF_HOSTED_ENV, signingKeys, UPLOADS_ON } from "./support/self-hosted";

/** Distinctive, so any leak of it is found. */
const USER_ID_SECRET = "user-id-SECRET-pepper-0123456789abcdef";

let peers: Peers;
let lines: string[];
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  lines = [];
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
  }
});
afterEach(() => vi.restoreAllMocks());

describe("Should keep secrets out of logs, KV and error responses", () => {
  it("through a full flow, a failing upstream and a bad configuration", async () => {
    const alice = await mintToken({ sub: "alice@example.com" });
    const bob = await mintToken({ sub: "bob@example.com" });
    const secrets = new Set<string>([TEST_ENV.OPENAI_API_KEY, USER_ID_SECRET, alice, bob]);
    const bodies: string[] = [];
    const keep = async (response: Response) => {
      bodies.push(await response.text());
      return response;
    };

    const created = await call("POST", "/v1/chatkit/sessions", { token: alice });
    const session = (await created.json()) as { session_id: string; client_secret: string };
    secrets.add(session.client_secret);
    await keep(await call("GET", `/v1/chatkit/sessions/${session.session_id}`, { token: alice }));
    await keep(await call("GET", "/v1/chatkit/sessions", { token: alice }));
    await keep(await call("GET", `/v1/chatkit/sessions/${session.session_id}`, { token: bob }));
    await keep(await call("POST", "/v1/chatkit/sessions", { token: `${alice.slice(0, -4)}AAAA` }));
    peers.chatkit = () => new Response(`{"error":{"message":"bad key ${TEST_ENV.OPENAI_API_KEY}"}}`, { status: 401 });
    await keep(await call("POST", "/v1/chatkit/sessions", { token: alice }));
    peers.chatkit = undefined;
    await keep(await call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice }));
    await keep(await call("POST", "/v1/chatkit/sessions/cancel_all", { token: alice }));
    await keep(await callWith({ env: { OPENAI_API_KEY: `${TEST_ENV.OPENAI_API_KEY} x` } }, "GET", "/healthz"));
    await keep(
      await callWith({ env: { USER_ID_MODE: "hmac", USER_ID_SECRET: USER_ID_SECRET.slice(0, 20) } }, "GET", "/healthz"),
    );
    // A secret without USER_ID_MODE=hmac is refused; the refusal must not echo it either.
    await keep(await callWith({ env: { USER_ID_SECRET } }, "GET", "/healthz"));
    await keep(
      await callWith({ env: { USER_ID_MODE: "hmac", USER_ID_SECRET } }, "POST", "/v1/chatkit/sessions", {
        token: alice,
      }),
    );
    // A placeholder-looking key is refused by name; the refusal must not echo the key.
    await keep(await callWith({ env: { OPENAI_API_KEY: `${TEST_ENV.OPENAI_API_KEY}...` } }, "GET", "/healthz"));
    peers.chatkit = (request) =>
      request.url.endsWith("/cancel") ? new Response("down", { status: 503 }) : peers.fakeChatKit(request);
    const pending = (await (await call("POST", "/v1/chatkit/sessions", { token: bob })).json()) as {
      session_id: string;
      client_secret: string;
    };
    secrets.add(pending.client_secret);
    await keep(await call("POST", `/v1/chatkit/sessions/${pending.session_id}/cancel`, { token: bob }));
    peers.chatkit = undefined;

    const stored = JSON.stringify([...(await kvEntries("")), ...(await kvEntries("pending:"))]);
    expect(lines.length).toBeGreaterThanOrEqual(9);
    for (const secret of secrets) {
      for (const line of lines) expect(line).not.toContain(secret);
      for (const body of bodies) expect(body).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
    for (const raw of ["alice@example.com", "bob@example.com"]) {
      expect(stored).not.toContain(raw);
      for (const line of lines) expect(line).not.toContain(raw);
    }
  });

  it("in self-hosted mode: client secrets, assertions, the signing key and tokens stay out of logs, KV and answers", async () => {
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...UPLOADS_ON } });
    const alice = await mintToken({ sub: "alice@example.com" });
    const secrets = new Set<string>([alice, signingKeys.current.d as string, signingKeys.previous.d as string]);
    const bodies: string[] = [];
    const keep = async (response: Response) => {
      bodies.push(await response.text());
      return response;
    };

    const created = (await (await gate.call("POST", "/v1/chatkit/sessions", { token: alice })).json()) as {
      session_id: string;
      client_secret: string;
    };
    secrets.add(created.client_secret);
    const chatkit = (body: string) => gate.call("POST", "/chatkit", { token: created.client_secret, body });
    await keep(await chatkit('{"type":"threads.list","params":{}}'));
    peers.server = () => new Response("down", { status: 500 });
    await keep(await chatkit('{"type":"threads.list","params":{}}'));
    peers.server = () => {
      throw new TypeError("unreachable");
    };
    await keep(await chatkit('{"type":"threads.list","params":{}}'));
    peers.server = undefined;
    await keep(await chatkit("{not json"));
    await keep(await gate.call("POST", "/chatkit", { token: `${created.client_secret.slice(0, -3)}AAA`, body: "{}" }));
    await keep(await gate.call("GET", "/.well-known/jwks.json"));
    await keep(await gate.call("GET", "/openapi.json"));
    await keep(await gate.call("POST", `/v1/chatkit/sessions/${created.session_id}/cancel`, { token: alice }));
    await keep(await chatkit('{"type":"threads.list","params":{}}'));
    // A broken key set is refused by position, never echoed.
    await keep(
      await callWith(
        { env: { ...SELF_HOSTED_ENV, GATE_SIGNING_KEY: JSON.stringify({ ...signingKeys.current, crv: "P-384" }) } },
        "GET",
        "/healthz",
      ),
    );
    const assertions = peers.serverCalls().map((call) => call.headers["chatkit-gate-assertion"] as string);
    expect(assertions.length).toBeGreaterThanOrEqual(3);
    for (const assertion of assertions) secrets.add(assertion);

    const stored = JSON.stringify([...(await kvEntries("")), ...(await kvEntries("pending:"))]);
    expect(lines.length).toBeGreaterThanOrEqual(9);
    for (const secret of secrets) {
      for (const line of lines) expect(line).not.toContain(secret);
      for (const body of bodies) expect(body).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
    for (const line of lines) expect(line).not.toContain("alice@example.com");
    expect(stored).not.toContain("alice@example.com");
  });
});
