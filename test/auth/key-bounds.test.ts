import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callWith } from "../support/app";
import { clearKv, errorOf } from "../support/http";
import { keys, mintToken, Peers } from "../support/peers";

/** src/auth/keys.ts's cooldown, and a step just past it. */
const COOLDOWN_MS = 30_000;
const PAST_COOLDOWN_MS = 31_000;

let peers: Peers;
let offsetMs = 0;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  // A movable clock: Date.now drives the worker's `now` (and so the key cooldown) and the tokens' iat/exp.
  offsetMs = 0;
  const realNow = Date.now.bind(Date);
  vi.spyOn(Date, "now").mockImplementation(() => realNow() + offsetMs);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});
const advance = (ms: number) => {
  offsetMs += ms;
};

/** Each test uses its own issuer, so the isolate-wide key state of one test never serves another. */
const issuer = (name: string) => `https://${name}.test`;

/** The app with `name`'s issuer, and the `jwks:` KV writes it makes counted. */
function gate(name: string) {
  const jwksWrites: string[] = [];
  const kv = env.SESSIONS;
  // Every call goes to the real namespace; `put`s of `jwks:` keys are counted on the way.
  const SESSIONS = new Proxy(kv, {
    get(target, property) {
      if (property === "put") {
        return (key: string, ...rest: unknown[]) => {
          if (key.startsWith("jwks:")) jwksWrites.push(key);
          return (target.put as (...args: unknown[]) => Promise<void>)(key, ...rest);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const setup = { env: { AUTH_ISSUER: issuer(name), SESSIONS } };
  return {
    jwksWrites,
    get: async (token: string) => callWith(setup, "GET", "/v1/chatkit/sessions", { token }),
    fetches: () => {
      const paths = peers.idpCalls(issuer(name)).map((c) => new URL(c.url).pathname);
      return {
        discovery: paths.filter((p) => p === "/.well-known/openid-configuration").length,
        jwks: paths.filter((p) => p === "/keys").length,
      };
    },
  };
}

/** A token a forger can make: the configured iss, an allowed alg, a random kid, any key. */
const forged = (name: string) =>
  mintToken({ iss: issuer(name) }, { key: { ...keys.unpublished, kid: `random-${crypto.randomUUID()}` } });
/** A forged token that names a published kid but is signed with another key. */
const wrongKey = (name: string) => mintToken({ iss: issuer(name) }, { key: keys.unpublished });

const statuses = (responses: Response[]) => responses.map((r) => r.status);

describe("Should fetch at most one discovery and one JWKS per cooldown for forged tokens", () => {
  it("25 concurrent forged tokens at a cold isolate cause 1 discovery and 1 JWKS fetch", async () => {
    const g = gate("cold-forged");
    const tokens = await Promise.all(Array.from({ length: 25 }, () => forged("cold-forged")));

    const responses = await Promise.all(tokens.map((t) => g.get(t)));

    expect(statuses(responses)).toEqual(Array(25).fill(401));
    expect(await errorOf(responses[0] as Response)).toMatchObject({ code: "invalid_token" });
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 1 });
  });

  it("20 concurrent valid tokens at a cold isolate cause 1 discovery and 1 JWKS fetch", async () => {
    const g = gate("cold-valid");
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => mintToken({ iss: issuer("cold-valid"), sub: `u${i}` })),
    );

    const responses = await Promise.all(tokens.map((t) => g.get(t)));

    expect(statuses(responses)).toEqual(Array(20).fill(200));
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 1 });
  });

  it("30 concurrent forged tokens after the cooldown cause 1 JWKS fetch at a warm isolate", async () => {
    const g = gate("warm-forged");
    expect((await g.get(await mintToken({ iss: issuer("warm-forged") }))).status).toBe(200);
    advance(PAST_COOLDOWN_MS);
    const tokens = await Promise.all(Array.from({ length: 30 }, () => forged("warm-forged")));

    const responses = await Promise.all(tokens.map((t) => g.get(t)));

    expect(statuses(responses)).toEqual(Array(30).fill(401));
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 2 });
  });

  it("counts the cooldown from when a fetch starts, for kid misses spread over time", async () => {
    const g = gate("spread-forged");
    await g.get(await mintToken({ iss: issuer("spread-forged") }));

    for (let i = 0; i < 6; i++) {
      advance(COOLDOWN_MS / 3);
      expect((await g.get(await forged("spread-forged"))).status).toBe(401);
    }

    // 60 s of misses after a fetch at 0 s: refetches at 30 s and 60 s, none in between.
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 3 });
  });
});

describe("Should write the persisted key set to KV only when its content changed", () => {
  it("5 forged tokens 31 s apart cause no KV write beyond the first", async () => {
    const g = gate("spaced");
    await g.get(await mintToken({ iss: issuer("spaced") }));

    for (let i = 0; i < 5; i++) {
      advance(PAST_COOLDOWN_MS);
      expect((await g.get(await forged("spaced"))).status).toBe(401);
    }

    expect(g.fetches()).toEqual({ discovery: 1, jwks: 6 });
    expect(g.jwksWrites).toHaveLength(1);
  });

  it("writes again when a refetch brings a different key set", async () => {
    const g = gate("changed");
    await g.get(await mintToken({ iss: issuer("changed") }));
    peers.jwks = { keys: [keys.es256.jwk, { ...keys.otherProvider.jwk, kid: "new-1" }] };
    advance(PAST_COOLDOWN_MS);

    const response = await g.get(
      await mintToken({ iss: issuer("changed") }, { key: { ...keys.otherProvider, kid: "new-1" } }),
    );

    expect(response.status).toBe(200);
    expect(g.jwksWrites).toHaveLength(2);
  });
});

describe("Should cache failures briefly, so an outage costs one fetch per cooldown", () => {
  it("discovery down: 20 requests cost 1 discovery fetch, then 1 more per cooldown, and recovery follows", async () => {
    const g = gate("discovery-down");
    peers.idp = () => new Response("", { status: 503 });
    const token = await mintToken({ iss: issuer("discovery-down") });

    const concurrent = await Promise.all(Array.from({ length: 10 }, () => g.get(token)));
    const sequential: Response[] = [];
    for (let i = 0; i < 10; i++) sequential.push(await g.get(token));
    expect(statuses([...concurrent, ...sequential])).toEqual(Array(20).fill(503));
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 0 });

    advance(PAST_COOLDOWN_MS);
    expect((await g.get(token)).status).toBe(503);
    expect((await g.get(token)).status).toBe(503);
    expect(g.fetches()).toEqual({ discovery: 2, jwks: 0 });

    peers.idp = undefined;
    expect((await g.get(token)).status).toBe(503);
    advance(PAST_COOLDOWN_MS);
    expect((await g.get(token)).status).toBe(200);
    expect(g.fetches()).toEqual({ discovery: 3, jwks: 1 });
  });

  it("JWKS down: 20 requests cost 1 discovery and 1 JWKS fetch", async () => {
    const g = gate("jwks-down");
    peers.idp = (r) => (r.url.endsWith("/keys") ? new Response("", { status: 500 }) : peers.fakeIdp(r));
    const token = await mintToken({ iss: issuer("jwks-down") });

    const responses = await Promise.all(Array.from({ length: 20 }, () => g.get(token)));

    expect(statuses(responses)).toEqual(Array(20).fill(503));
    expect(await errorOf(responses[19] as Response)).toMatchObject({ code: "auth_unavailable" });
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 1 });
  });

  it("keys already cached and fresh keep verifying during an outage", async () => {
    const g = gate("outage-warm");
    const token = await mintToken({ iss: issuer("outage-warm") });
    expect((await g.get(token)).status).toBe(200);
    peers.idp = () => new Response("", { status: 502 });
    advance(PAST_COOLDOWN_MS);

    // The first unknown kid looks, finds the IdP down and says so; later ones wait for the cooldown.
    expect((await g.get(await forged("outage-warm"))).status).toBe(503);
    const during = await Promise.all([
      ...Array.from({ length: 10 }, () => g.get(token)),
      ...Array.from({ length: 5 }, async () => g.get(await forged("outage-warm"))),
    ]);

    expect(statuses(during)).toEqual([...Array(10).fill(200), ...Array(5).fill(401)]);
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 2 });
  });
});

describe("Should refetch once per cooldown when a known kid fails its signature (a reused kid)", () => {
  it("accepts a token signed by a rotated key under the same kid after one refetch", async () => {
    const g = gate("reused-kid");
    const before = await mintToken({ iss: issuer("reused-kid") });
    expect((await g.get(before)).status).toBe(200);
    // The IdP rotates rsa-1 to a new key, keeping the kid.
    peers.jwks = { keys: [keys.unpublished.jwk, keys.es256.jwk] };
    advance(PAST_COOLDOWN_MS);

    const rotated = await g.get(await mintToken({ iss: issuer("reused-kid") }, { key: keys.unpublished }));
    const old = await g.get(await mintToken({ iss: issuer("reused-kid") }));

    expect(rotated.status).toBe(200);
    expect(await errorOf(old)).toMatchObject({ status: 401, code: "invalid_token" });
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 2 });
  });

  it("a cold isolate adopting a persisted set with a reused kid refetches once (the restarted demo)", async () => {
    await gate("restarted").get(await mintToken({ iss: issuer("restarted") }));
    peers.jwks = { keys: [keys.unpublished.jwk] };
    const token = await mintToken({ iss: issuer("restarted") }, { key: keys.unpublished });

    vi.resetModules();
    const { createApp } = await import("../../src/app");
    const ctx = createExecutionContext();
    const response = await createApp().fetch(
      new Request("https://gate.test/v1/chatkit/sessions", { headers: { authorization: `Bearer ${token}` } }),
      { ...env, AUTH_ISSUER: issuer("restarted") },
      ctx,
    );
    await waitOnExecutionContext(ctx);

    expect(response.status).toBe(200);
    expect(peers.idpCalls(issuer("restarted")).filter((c) => c.url.endsWith("/keys"))).toHaveLength(2);
  });

  it("forged tokens naming a published kid cause at most 1 refetch per cooldown", async () => {
    const g = gate("wrong-key");
    await g.get(await mintToken({ iss: issuer("wrong-key") }));
    advance(PAST_COOLDOWN_MS);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => wrongKey("wrong-key")));

    const responses = await Promise.all(tokens.map((t) => g.get(t)));
    for (let i = 0; i < 5; i++) responses.push(await g.get(await wrongKey("wrong-key")));

    expect(statuses(responses)).toEqual(Array(25).fill(401));
    expect(await errorOf(responses[0] as Response)).toMatchObject({ message: "The token's signature is invalid" });
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 2 });
  });
});

describe("Should never leave a request waiting on another request's fetch", () => {
  it("releases every waiter of a fetch that never settles within the bound, with 503", async () => {
    const g = gate("stalled");
    const fakeIdp = peers.fakeIdp;
    let stalled = true;
    // Like a promise whose I/O belonged to a request that has ended: it ignores its own timeout and never settles.
    vi.mocked(globalThis.fetch).mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      peers.calls.push({ url: request.url, method: request.method, headers: {}, body: undefined });
      if (stalled && request.url.endsWith("/keys")) return new Promise<Response>(() => {});
      return fakeIdp(request);
    });
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const token = await mintToken({ iss: issuer("stalled") });

    const pending = Promise.all(Array.from({ length: 3 }, () => g.get(token)));
    // Far past any bound the worker may choose; nothing else would ever release these requests.
    await vi.advanceTimersByTimeAsync(60_000);
    const responses = await pending;

    expect(statuses(responses)).toEqual([503, 503, 503]);
    expect(await errorOf(responses[0] as Response)).toMatchObject({ code: "auth_unavailable" });
    expect(g.fetches()).toEqual({ discovery: 1, jwks: 1 });

    // The stalled fetch is dropped: once the cooldown is over, a healthy IdP is asked again.
    stalled = false;
    vi.useRealTimers();
    advance(PAST_COOLDOWN_MS);
    expect((await g.get(token)).status).toBe(200);
  });
});

describe("Should log the cause of auth_unavailable, never a token", () => {
  it.each([
    [
      "the JWKS answers 500",
      (r: Request) => (r.url.endsWith("/keys") ? new Response("", { status: 500 }) : peers.fakeIdp(r)),
      "jwks",
      "/keys",
      "status 500",
    ],
    [
      "the JWKS is not JSON",
      (r: Request) => (r.url.endsWith("/keys") ? new Response("<html>") : peers.fakeIdp(r)),
      "jwks",
      "/keys",
      "not JSON",
    ],
    [
      "the JWKS is too large",
      (r: Request) => (r.url.endsWith("/keys") ? new Response("x".repeat(70_000)) : peers.fakeIdp(r)),
      "jwks",
      "/keys",
      "larger than 64 KiB",
    ],
    [
      "the JWKS is not a key set",
      (r: Request) => (r.url.endsWith("/keys") ? Response.json({ keys: "no" }) : peers.fakeIdp(r)),
      "jwks",
      "/keys",
      "not a JSON Web Key Set",
    ],
    [
      "discovery answers 404",
      () => new Response("", { status: 404 }),
      "discovery",
      "/.well-known/openid-configuration",
      "status 404",
    ],
    [
      "discovery names another issuer",
      () => Response.json({ issuer: "https://evil.test", jwks_uri: "https://evil.test/keys" }),
      "discovery",
      "/.well-known/openid-configuration",
      "discovery names another issuer",
    ],
    [
      "the IdP is unreachable",
      () => {
        throw new TypeError("Network connection lost.");
      },
      "discovery",
      "/.well-known/openid-configuration",
      "unreachable",
    ],
  ])("%s", async (name, answer, stage, path, cause) => {
    const tenant = `log-${name.toLowerCase().replace(/\W+/g, "-")}`;
    peers.idp = answer as (r: Request) => Response;
    const lines: string[] = [];
    for (const level of ["log", "warn", "error"] as const) {
      vi.spyOn(console, level).mockImplementation((line: unknown) => {
        lines.push(String(line));
      });
    }
    const token = await mintToken({ iss: issuer(tenant) });

    const response = await gate(tenant).get(token);

    expect(response.status).toBe(503);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged.filter((l) => l.event === "auth_unavailable")).toEqual([
      {
        level: "error",
        event: "auth_unavailable",
        issuer: issuer(tenant),
        stage,
        url: `${issuer(tenant)}${path}`,
        cause,
      },
    ]);
    expect(lines.join("\n")).not.toContain(token.split(".")[2]);
  });
});
