import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callWith } from "../support/app";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { keys, mintToken, nowSeconds, Peers } from "../support/peers";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

/** Each test uses its own issuer, so the isolate-wide key cache of one test never serves another. */
const issuer = (name: string) => `https://${name}.test`;
const asIssuer = (name: string) => ({ env: { AUTH_ISSUER: issuer(name) } });

describe("Should fetch keys once and keep them across requests", () => {
  it("discovers the JWKS from the issuer, then serves 20 requests from the cache", async () => {
    const token = await mintToken({ iss: issuer("cache") });

    for (let i = 0; i < 20; i++) {
      expect((await callWith(asIssuer("cache"), "GET", "/v1/chatkit/sessions", { token })).status).toBe(200);
    }

    expect(peers.idpCalls(issuer("cache")).map((c) => new URL(c.url).pathname)).toEqual([
      "/.well-known/openid-configuration",
      "/keys",
    ]);
  });

  it("uses AUTH_JWKS_URL without discovery when it is set", async () => {
    const token = await mintToken({ iss: issuer("explicit") });

    const response = await callWith(
      { env: { AUTH_ISSUER: issuer("explicit"), AUTH_JWKS_URL: `${issuer("explicit")}/keys` } },
      "GET",
      "/v1/chatkit/sessions",
      { token },
    );

    expect(response.status).toBe(200);
    expect(peers.idpCalls(issuer("explicit")).map((c) => new URL(c.url).pathname)).toEqual(["/keys"]);
  });

  it("refetches at most once per cooldown for a storm of unknown kids", async () => {
    const setup = asIssuer("storm");
    await callWith(setup, "GET", "/v1/chatkit/sessions", { token: await mintToken({ iss: issuer("storm") }) });

    for (let i = 0; i < 10; i++) {
      const token = await mintToken({ iss: issuer("storm") }, { key: { ...keys.unpublished, kid: `random-${i}` } });
      expect(await errorOf(await callWith(setup, "GET", "/v1/chatkit/sessions", { token }))).toMatchObject({
        status: 401,
      });
    }

    expect(peers.idpCalls(issuer("storm")).filter((c) => c.url.endsWith("/keys"))).toHaveLength(1);
  });
});

describe("Should share fetched keys with cold isolates through KV", () => {
  it("persists the key set, and a fresh isolate verifies with it without fetching", async () => {
    const token = await mintToken({ iss: issuer("persisted") });
    await callWith(asIssuer("persisted"), "GET", "/v1/chatkit/sessions", { token });
    const [stored] = await kvEntries("jwks:");
    expect(stored?.value).toMatchObject({
      url: `${issuer("persisted")}/keys`,
      uat: expect.any(Number),
      jwks: peers.jwks,
    });
    expect(stored?.expiration).toBeGreaterThan(nowSeconds());
    const fetchedBefore = peers.idpCalls(issuer("persisted")).length;

    // A fresh module graph has empty module-scope caches, like a cold isolate.
    vi.resetModules();
    const { createApp } = await import("../../src/app");
    const ctx = createExecutionContext();
    const response = await createApp().fetch(
      new Request("https://gate.test/v1/chatkit/sessions", { headers: { authorization: `Bearer ${token}` } }),
      { ...env, AUTH_ISSUER: issuer("persisted") },
      ctx,
    );
    await waitOnExecutionContext(ctx);

    expect(response.status).toBe(200);
    expect(fetchedBefore).toBe(2);
    expect(peers.idpCalls(issuer("persisted"))).toHaveLength(2);
    // Adopting a key set (with its jittered age) writes nothing back to KV.
    expect((await kvEntries("jwks:"))[0]?.value).toEqual(stored?.value);

    // Control: without the persisted copy, another fresh isolate must fetch, proving the reset was real.
    await clearKv("jwks:");
    vi.resetModules();
    const fresh = await import("../../src/app");
    const ctx2 = createExecutionContext();
    await fresh
      .createApp()
      .fetch(
        new Request("https://gate.test/v1/chatkit/sessions", { headers: { authorization: `Bearer ${token}` } }),
        { ...env, AUTH_ISSUER: issuer("persisted") },
        ctx2,
      );
    await waitOnExecutionContext(ctx2);
    expect(peers.idpCalls(issuer("persisted"))).toHaveLength(4);
  });

  it("keeps the provider's own cache age when it is shorter", async () => {
    peers.idp = (request) => {
      const answer = peers.fakeIdp(request) as Response;
      return request.url.endsWith("/keys")
        ? new Response(answer.body, { headers: { "cache-control": "public, max-age=120" } })
        : answer;
    };

    await callWith(asIssuer("short-lived"), "GET", "/v1/chatkit/sessions", {
      token: await mintToken({ iss: issuer("short-lived") }),
    });

    const [stored] = await kvEntries("jwks:");
    expect(stored?.expiration).toBeLessThanOrEqual(nowSeconds() + 121);
  });
});

describe("Should fail closed with 503 when keys cannot be had", () => {
  it.each([
    [
      "the JWKS answers 500",
      (r: Request) => (r.url.endsWith("/keys") ? new Response("", { status: 500 }) : peers.fakeIdp(r)),
    ],
    ["the JWKS is not JSON", (r: Request) => (r.url.endsWith("/keys") ? new Response("<html>") : peers.fakeIdp(r))],
    [
      "the JWKS is not a key set",
      (r: Request) => (r.url.endsWith("/keys") ? Response.json({ keys: "no" }) : peers.fakeIdp(r)),
    ],
    ["discovery answers 404", () => new Response("", { status: 404 })],
    [
      "discovery names another issuer",
      () => Response.json({ issuer: "https://evil.test", jwks_uri: "https://evil.test/keys" }),
    ],
    [
      "discovery points the JWKS at plain http",
      (r: Request) => Response.json({ issuer: new URL(r.url).origin, jwks_uri: "http://keys.example.com/jwks" }),
    ],
    [
      "the IdP is unreachable",
      () => {
        throw new TypeError("Network connection lost.");
      },
    ],
  ])("%s", async (name, answer) => {
    const tenant = `down-${name.replace(/\W+/g, "-")}`;
    peers.idp = answer;

    const response = await callWith(asIssuer(tenant), "GET", "/v1/chatkit/sessions", {
      token: await mintToken({ iss: issuer(tenant) }),
    });

    expect(await errorOf(response)).toMatchObject({ status: 503, code: "auth_unavailable" });
    expect(response.headers.get("www-authenticate")).toBeNull();
    expect(peers.upstreamCalls()).toEqual([]);
  });

  it("recovers once the identity provider is back and the failure's cooldown is over", async () => {
    const token = await mintToken({ iss: issuer("flaky") });
    peers.idp = () => new Response("", { status: 503 });
    const down = await callWith(asIssuer("flaky"), "GET", "/v1/chatkit/sessions", { token });
    peers.idp = undefined;
    // The failure is cached for the 30 s cooldown: an outage costs one fetch per cooldown, not one per request.
    const cached = await callWith(asIssuer("flaky"), "GET", "/v1/chatkit/sessions", { token });
    const later = Date.now() + 31_000;
    vi.spyOn(Date, "now").mockReturnValue(later);

    const up = await callWith(asIssuer("flaky"), "GET", "/v1/chatkit/sessions", { token });

    expect([down.status, cached.status, up.status]).toEqual([503, 503, 200]);
  });
});
