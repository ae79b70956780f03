import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callWith } from "../support/app";
import { clearKv, errorOf } from "../support/http";
import { keys, Peers } from "../support/peers";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

/** Each test uses its own issuers, so the isolate-wide key state of one test never serves another. */
const issuer = (name: string) => `https://${name}.test`;
const single = (name: string, extra: Record<string, unknown> = {}) => ({
  env: { AUTH_ISSUER: issuer(name), ...extra },
});
const ready = (setup: { env: Record<string, unknown> }) => callWith(setup, "GET", "/healthz?ready=1");

describe("Should report each JWKS provider's key source on GET /healthz?ready=1", () => {
  it("answers 200 with discovery and JWKS ok and the key count, after fetching both", async () => {
    const response = await ready(single("ready-ok"));

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: "ready",
      providers: [{ issuer: issuer("ready-ok"), discovery: "ok", jwks: "ok", keys: 2, ready: true }],
    });
    expect(peers.idpCalls(issuer("ready-ok")).map((c) => new URL(c.url).pathname)).toEqual([
      "/.well-known/openid-configuration",
      "/keys",
    ]);
  });

  it("says discovery is not used when AUTH_JWKS_URL is set", async () => {
    const response = await ready(single("ready-explicit", { AUTH_JWKS_URL: `${issuer("ready-explicit")}/keys` }));

    expect(await response.json()).toMatchObject({
      status: "ready",
      providers: [{ discovery: "not_used", jwks: "ok" }],
    });
    expect(peers.idpCalls(issuer("ready-explicit")).map((c) => new URL(c.url).pathname)).toEqual(["/keys"]);
  });

  it.each([
    [
      "the JWKS answers 500",
      (r: Request) => (r.url.endsWith("/keys") ? new Response("", { status: 500 }) : peers.fakeIdp(r)),
      "ok",
      "jwks https://ready-jwks-500.test/keys: status 500",
    ],
    [
      "discovery names another issuer",
      () => Response.json({ issuer: "https://evil.test", jwks_uri: "https://evil.test/keys" }),
      "failed",
      "discovery https://ready-wrong-issuer.test/.well-known/openid-configuration: discovery names another issuer",
    ],
  ])("answers 503 with the cause when %s", async (_, answer, discovery, cause) => {
    const name = cause.includes("500") ? "ready-jwks-500" : "ready-wrong-issuer";
    peers.idp = answer;

    const response = await ready(single(name));

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: "not_ready",
      providers: [{ issuer: issuer(name), discovery, jwks: "failed", keys: 0, cause, ready: false }],
    });
  });

  it("reports every provider, probed in parallel, and is not ready while one is down", async () => {
    peers.jwksByHost.set("ready-a.test", { keys: [keys.rs256.jwk] });
    peers.idp = (r) => (r.url.startsWith(issuer("ready-b")) ? new Response("", { status: 404 }) : peers.fakeIdp(r));
    const setup = {
      env: {
        AUTH_ISSUER: "",
        AUTH_AUDIENCE: "",
        AUTH_USER_PREFIX: "",
        AUTH_PROVIDERS: JSON.stringify([
          { issuer: issuer("ready-a"), audience: "app-a", user_prefix: "a|" },
          { issuer: issuer("ready-b"), audience: "app-b", user_prefix: "b|" },
        ]),
      },
    };

    const response = await ready(setup);

    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      status: "not_ready",
      providers: [
        { issuer: issuer("ready-a"), jwks: "ok", keys: 1, ready: true },
        { issuer: issuer("ready-b"), discovery: "failed", jwks: "failed", keys: 0, ready: false },
      ],
    });
  });

  it("fetches at most once per cooldown however often it is asked", async () => {
    for (let i = 0; i < 5; i++) expect((await ready(single("ready-repeat"))).status).toBe(200);

    expect(peers.idpCalls(issuer("ready-repeat"))).toHaveLength(2);
  });

  it("keeps plain /healthz config-only: no fetch", async () => {
    const response = await callWith(single("ready-plain"), "GET", "/healthz");

    expect(await response.json()).toEqual({ status: "ok" });
    expect(peers.calls).toEqual([]);
  });

  it("still answers config_invalid for a bad configuration, with no fetch", async () => {
    const response = await ready({ env: { AUTH_ISSUER: "" } });

    expect(await errorOf(response)).toMatchObject({ status: 503, code: "config_invalid" });
    expect(peers.calls).toEqual([]);
  });
});
