import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { base64url, hmacSha256, sha256 } from "../../src/auth/encoding";
import { JWKS_MAX_AGE_SECONDS } from "../../src/auth/keys";
import { MAX_CACHED_SECONDS, MAX_CACHED_TOKEN_LENGTH, MAX_CACHED_TOKENS } from "../../src/auth/token-cache";
import { type CallOptions, clearKv, errorOf, kvEntries, requestFor } from "../support/http";
import { keys, mintToken, nowSeconds, Peers, type SigningKey } from "../support/peers";

/**
 * The token cache seen from outside: a workerd app with one environment
 * object (as an isolate has) and an injected clock. A fresh verification is
 * observable as a call to crypto.subtle.verify, which jose makes for every
 * signature it checks and the cache never makes.
 */

let peers: Peers;
let verifications: ReturnType<typeof vi.spyOn>;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  verifications = vi.spyOn(crypto.subtle, "verify");
});
afterEach(() => vi.restoreAllMocks());

const SESSIONS = "/v1/chatkit/sessions";
const EXPIRED = "The token has expired";
const TOLERANCE = 30;

/** One isolate's view: a single app and a single env object, so the parsed configuration (and its cache) lives across calls. */
function isolate(settings: Record<string, unknown> = {}, start = nowSeconds()) {
  const clock = { now: start };
  const app = createApp({ now: () => clock.now });
  const bindings = { ...env, ...settings };
  const call = async (method: string, path: string, options: CallOptions = {}) => {
    const ctx = createExecutionContext();
    const response = await app.fetch(requestFor(method, path, options), bindings, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
  return { clock, call, app, bindings };
}

const sentUsers = () => peers.upstreamCalls().map((c) => (c.body as { user: string }).user);
const owners = async () => (await kvEntries()).map((entry) => entry.name.split(":")[1]);

describe("Should answer a repeated token from the cache, with no cryptography", () => {
  it("verifies a token once, then serves get, list and cancel without any WebCrypto call", async () => {
    const gate = isolate();
    const token = await mintToken();
    const created = await gate.call("POST", SESSIONS, { token });
    expect(created.status).toBe(201);
    expect(verifications).toHaveBeenCalledTimes(1);
    const { session_id: id } = (await created.json()) as { session_id: string };

    const subtle = (["verify", "sign", "digest", "importKey"] as const).map((name) => vi.spyOn(crypto.subtle, name));
    subtle.forEach((spy) => {
      spy.mockClear();
    });
    const got = await gate.call("GET", `${SESSIONS}/${id}`, { token });
    const listed = await gate.call("GET", SESSIONS, { token });
    const cancelled = await gate.call("POST", `${SESSIONS}/${id}/cancel`, { token });

    expect([got.status, listed.status, cancelled.status]).toEqual([200, 200, 200]);
    expect(((await listed.json()) as { data: Array<{ session_id: string }> }).data.map((s) => s.session_id)).toEqual([
      id,
    ]);
    for (const spy of subtle) expect(spy).not.toHaveBeenCalled();
    expect(peers.idpCalls()).toHaveLength(2); // discovery and JWKS, once, for the first request
  });

  it("verifies afresh every time a token longer than the cached length is sent", async () => {
    const gate = isolate();
    const token = await mintToken({ pad: "x".repeat(MAX_CACHED_TOKEN_LENGTH) });
    expect(token.length).toBeGreaterThan(MAX_CACHED_TOKEN_LENGTH);

    const answers = [await gate.call("GET", SESSIONS, { token }), await gate.call("GET", SESSIONS, { token })];

    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(verifications).toHaveBeenCalledTimes(2);
  });

  it(`verifies afresh once an entry is ${MAX_CACHED_SECONDS} s old, even though its exp is further away`, async () => {
    const gate = isolate();
    const token = await mintToken({ exp: gate.clock.now + 86_400 });
    await gate.call("GET", SESSIONS, { token });
    gate.clock.now += MAX_CACHED_SECONDS - 1;
    await gate.call("GET", SESSIONS, { token });
    expect(verifications).toHaveBeenCalledTimes(1);

    gate.clock.now += 1;
    const late = await gate.call("GET", SESSIONS, { token });
    gate.clock.now += 1;
    const again = await gate.call("GET", SESSIONS, { token });

    expect([late.status, again.status]).toEqual([200, 200]);
    expect(verifications).toHaveBeenCalledTimes(2);
  });
});

describe("Should refuse from the cache exactly what a fresh verification refuses", () => {
  it("refuses a cached token once exp + tolerance has passed with 401 expired, and drops it", async () => {
    const gate = isolate();
    const start = gate.clock.now;
    const token = await mintToken({ exp: start + 60 });
    expect((await gate.call("POST", SESSIONS, { token })).status).toBe(201);
    const stored = await kvEntries();

    gate.clock.now = start + 60 + TOLERANCE - 1;
    const lastSecond = await gate.call("GET", SESSIONS, { token });
    expect(lastSecond.status).toBe(200);
    expect(verifications).toHaveBeenCalledTimes(1);

    gate.clock.now = start + 60 + TOLERANCE;
    const expired = await gate.call("POST", SESSIONS, { token });
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toBe('Bearer realm="chatkit-gate", error="invalid_token"');
    expect(await errorOf(expired)).toEqual({ status: 401, code: "invalid_token", message: EXPIRED });
    expect(verifications).toHaveBeenCalledTimes(1);
    expect(peers.upstreamCalls()).toHaveLength(1);
    expect(await kvEntries()).toEqual(stored);

    // Dropped: with the clock back inside the token's life, it is verified afresh rather than found.
    gate.clock.now = start;
    expect((await gate.call("GET", SESSIONS, { token })).status).toBe(200);
    expect(verifications).toHaveBeenCalledTimes(2);
  });

  it.each([
    ["exp, last second within the tolerance", { exp: 60 }, 60 + TOLERANCE - 1],
    ["exp, first second beyond the tolerance", { exp: 60 }, 60 + TOLERANCE],
    ["exp, a fraction of a second beyond (jose floors the clock)", { exp: 60 }, 60 + TOLERANCE + 0.5],
    ["nbf, the clock set back to just inside the tolerance", { nbf: 0 }, -TOLERANCE],
    ["nbf, the clock set back beyond the tolerance", { nbf: 0 }, -TOLERANCE - 1],
    ["iat, the clock set back to just inside the tolerance", { iat: 0 }, -TOLERANCE],
    ["iat, the clock set back beyond the tolerance", { iat: 0 }, -TOLERANCE - 1],
  ])("%s: the cached and the fresh answer are the same", async (_name, offsets, at) => {
    const start = nowSeconds();
    const claims = Object.fromEntries(Object.entries(offsets).map(([name, offset]) => [name, start + offset]));
    const token = await mintToken({ exp: start + 300, iat: start, ...claims });
    const cached = isolate({}, start);
    expect((await cached.call("GET", SESSIONS, { token })).status).toBe(200);

    cached.clock.now = start + at;
    const fromCache = await cached.call("GET", SESSIONS, { token });
    const fresh = await isolate({}, start + at).call("GET", SESSIONS, { token });

    expect(verifications).toHaveBeenCalledTimes(2); // the first call and the fresh isolate's; never the hit
    expect(await errorOf(fromCache.clone())).toEqual(await errorOf(fresh.clone()));
    expect(fromCache.status).toBe(fresh.status);
  });

  it("verifies afresh, and refuses, the same claims re-signed with an unpublished key or with a flipped signature byte", async () => {
    const gate = isolate();
    const start = gate.clock.now;
    const claims = { iss: env.AUTH_ISSUER, aud: "chatkit-gate", sub: "alice", iat: start, exp: start + 300 };
    const genuine = await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: keys.rs256.kid, typ: "JWT" })
      .sign(keys.rs256.privateKey);
    expect((await gate.call("POST", SESSIONS, { token: genuine })).status).toBe(201);
    const stored = await kvEntries();
    const upstream = peers.upstreamCalls().length;

    const resigned = await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: keys.rs256.kid, typ: "JWT" })
      .sign(keys.unpublished.privateKey);
    const [head, body, signature] = genuine.split(".") as [string, string, string];
    const bytes = Uint8Array.from(atob(signature.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    bytes[0] = (bytes[0] as number) ^ 0x01;
    const flipped = `${head}.${body}.${base64url(bytes)}`;
    expect(new Set([genuine, resigned, flipped]).size).toBe(3);

    for (const forged of [resigned, flipped]) {
      verifications.mockClear();
      for (const method of ["GET", "POST"]) {
        const answer = await gate.call(method, SESSIONS, { token: forged });
        expect(answer.status).toBe(401);
        expect((await errorOf(answer)).message).toBe("The token's signature is invalid");
      }
      expect(verifications).toHaveBeenCalled();
    }
    expect(peers.upstreamCalls()).toHaveLength(upstream);
    expect(await kvEntries()).toEqual(stored);
    // The genuine token is still served from the cache.
    verifications.mockClear();
    expect((await gate.call("GET", SESSIONS, { token: genuine })).status).toBe(200);
    expect(verifications).not.toHaveBeenCalled();
  });

  it("caches no refusal: a forged token is verified (and refused) each time, a token not yet valid passes once it is", async () => {
    const gate = isolate();
    const start = gate.clock.now;
    const forged = await mintToken({}, { key: keys.unpublished });
    const early = await mintToken({ nbf: start + 120 });

    for (let i = 0; i < 3; i++) expect((await gate.call("GET", SESSIONS, { token: forged })).status).toBe(401);
    expect(verifications).toHaveBeenCalledTimes(3);

    const before = await gate.call("GET", SESSIONS, { token: early });
    gate.clock.now = start + 120;
    const after = await gate.call("GET", SESSIONS, { token: early });

    expect(await errorOf(before)).toMatchObject({ status: 401, message: "The token is not valid yet (nbf)" });
    expect(after.status).toBe(200);
    expect(peers.upstreamCalls()).toEqual([]);
  });
});

describe("Should never accept a cached token once its provider's keys would refuse it", () => {
  /** src/auth/keys.ts's refetch cooldown, and a step past it. */
  const PAST_COOLDOWN_SECONDS = 31;
  /** A provider max-age well under JWKS_MAX_AGE_SECONDS, so a stale key set is not hidden by the entry's own age limit. */
  const SHORT_MAX_AGE_SECONDS = 120;
  const UNKNOWN_KEY = "The token was signed with a key the identity provider does not publish";
  const BAD_SIGNATURE = "The token's signature is invalid";

  let offsetMs = 0;
  beforeEach(() => {
    // Key freshness and the refetch cooldown follow Date.now; tokens' times follow the app's injected clock.
    offsetMs = 0;
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + offsetMs);
  });

  /**
   * A provider of its own (the isolate's key state is per issuer) with the
   * usual two keys, and its isolate. `maxAge` is the JWKS's Cache-Control.
   */
  function provider(name: string, maxAge?: number) {
    const host = `${name}.test`;
    const iss = `https://${host}`;
    peers.jwksByHost.set(host, { keys: [keys.rs256.jwk, keys.es256.jwk] });
    if (maxAge !== undefined) {
      peers.idp = (request) => {
        const answer = peers.fakeIdp(request) as Response;
        if (!request.url.endsWith("/keys")) return answer;
        return new Response(answer.body, { headers: { "cache-control": `max-age=${maxAge}` } });
      };
    }
    const gate = isolate({ AUTH_ISSUER: iss });
    return {
      gate,
      publish: (...published: SigningKey[]) => peers.jwksByHost.set(host, { keys: published.map((k) => k.jwk) }),
      mint: (key: SigningKey = keys.rs256) => mintToken({ iss, exp: gate.clock.now + 3_600 }, { key }),
      /** Both clocks forward. */
      advance: (seconds: number) => {
        gate.clock.now += seconds;
        offsetMs += seconds * 1_000;
      },
      /** The answer a fresh verification gives now: a new configuration (empty cache) on the same key state. */
      fresh: (method: string, path: string, token: string) =>
        isolate({ AUTH_ISSUER: iss }, gate.clock.now).call(method, path, { token }),
      jwksFetches: () => peers.idpCalls(iss).filter((c) => c.url.endsWith("/keys")).length,
    };
  }

  it("a removed key: refuses the cached token right after another token's refetch drops the key", async () => {
    const idp = provider("removed-key");
    const old = await idp.mint();
    expect((await idp.gate.call("GET", SESSIONS, { token: old })).status).toBe(200);
    // The provider rotates: rsa-1 is gone, a new key arrives.
    idp.publish(keys.es256, keys.otherProvider);
    idp.advance(PAST_COOLDOWN_SECONDS);
    const rotated = await idp.mint(keys.otherProvider);
    expect((await idp.gate.call("GET", SESSIONS, { token: rotated })).status).toBe(200); // the kid miss refetches
    expect(idp.jwksFetches()).toBe(2);
    verifications.mockClear();

    const got = await idp.gate.call("GET", SESSIONS, { token: old });
    const created = await idp.gate.call("POST", SESSIONS, { token: old });

    const refusal = { status: 401, code: "invalid_token", message: UNKNOWN_KEY };
    expect([await errorOf(got), await errorOf(created)]).toEqual([refusal, refusal]);
    expect(await errorOf(await idp.fresh("GET", SESSIONS, old))).toEqual(refusal);
    expect(peers.upstreamCalls()).toEqual([]);
    expect(await kvEntries()).toEqual([]);
    expect(idp.jwksFetches()).toBe(2); // within the cooldown: refused without another fetch
  });

  it("a stale key set: the first hit after the provider's max-age refetches, and a removed key is refused", async () => {
    const idp = provider("stale-set", SHORT_MAX_AGE_SECONDS);
    const old = await idp.mint();
    expect((await idp.gate.call("GET", SESSIONS, { token: old })).status).toBe(200);
    idp.publish(keys.es256);
    idp.advance(SHORT_MAX_AGE_SECONDS - 1);
    expect((await idp.gate.call("GET", SESSIONS, { token: old })).status).toBe(200); // the set is still fresh
    expect(idp.jwksFetches()).toBe(1);

    idp.advance(1);
    const late = await idp.gate.call("GET", SESSIONS, { token: old });

    const refusal = { status: 401, code: "invalid_token", message: UNKNOWN_KEY };
    expect(await errorOf(late)).toEqual(refusal);
    expect(idp.jwksFetches()).toBe(2);
    expect(await errorOf(await idp.fresh("GET", SESSIONS, old))).toEqual(refusal);
  });

  it("a reused kid with a new key: refuses the cached token once the set holding the new key is fetched", async () => {
    const idp = provider("reused-kid-cache");
    const old = await idp.mint(keys.rs256);
    expect((await idp.gate.call("POST", SESSIONS, { token: old })).status).toBe(201);
    const stored = await kvEntries();
    // The provider replaces rsa-1's key and keeps the kid.
    idp.publish(keys.unpublished, keys.es256);
    idp.advance(PAST_COOLDOWN_SECONDS);
    const rotated = await idp.mint(keys.unpublished);
    expect((await idp.gate.call("GET", SESSIONS, { token: rotated })).status).toBe(200); // a signature miss refetches

    const got = await idp.gate.call("GET", SESSIONS, { token: old });
    const created = await idp.gate.call("POST", SESSIONS, { token: old });

    const refusal = { status: 401, code: "invalid_token", message: BAD_SIGNATURE };
    expect([await errorOf(got), await errorOf(created)]).toEqual([refusal, refusal]);
    expect(await errorOf(await idp.fresh("GET", SESSIONS, old))).toEqual(refusal);
    expect(peers.upstreamCalls()).toHaveLength(1);
    expect(await kvEntries()).toEqual(stored);
  });

  it("keeps its entries when a refresh brings the same key set: one token pays the refetch, the others stay cached", async () => {
    const idp = provider("same-set", SHORT_MAX_AGE_SECONDS);
    const [first, second] = [await idp.mint(keys.rs256), await idp.mint(keys.es256)];
    for (const token of [first, second]) await idp.gate.call("GET", SESSIONS, { token });
    expect(verifications).toHaveBeenCalledTimes(2);

    idp.advance(SHORT_MAX_AGE_SECONDS);
    const answers = [];
    for (const token of [first, second, first, second]) answers.push(await idp.gate.call("GET", SESSIONS, { token }));

    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(idp.jwksFetches()).toBe(2);
    expect(verifications).toHaveBeenCalledTimes(3); // only the first token after the refresh
  });

  it("HS256 is unaffected: its entries follow the secret's configuration and the entry's age, not any key set", async () => {
    const secret = "hs256-secret-for-the-cache-tests-0123456789";
    const gate = isolate({ AUTH_ALGORITHMS: "HS256", AUTH_JWKS_URL: "", AUTH_HS256_SECRET: secret });
    const claims = {
      iss: env.AUTH_ISSUER,
      aud: "chatkit-gate",
      sub: "alice",
      iat: gate.clock.now,
      exp: gate.clock.now + 3_600,
    };
    const hmac = new TextEncoder().encode(secret);
    const token = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(hmac);
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(`${secret}!`));
    expect((await gate.call("GET", SESSIONS, { token })).status).toBe(200);

    gate.clock.now += JWKS_MAX_AGE_SECONDS - 1;
    offsetMs += (JWKS_MAX_AGE_SECONDS - 1) * 1_000;
    const hit = await gate.call("GET", SESSIONS, { token });
    const refused = await gate.call("GET", SESSIONS, { token: forged });

    expect(hit.status).toBe(200);
    expect(await errorOf(refused)).toMatchObject({ status: 401, message: BAD_SIGNATURE });
    expect(verifications).toHaveBeenCalledTimes(2); // the first call and the forged one; the hit made none
    expect(peers.idpCalls()).toEqual([]);
  });
});

describe("Should stay within its bound, forgetting the least recently used token", () => {
  it(`holds ${MAX_CACHED_TOKENS} tokens; the next one evicts the least recently used, which is then verified afresh`, async () => {
    const gate = isolate();
    // ES256 signs fast; each token is another user's, so each is its own cache entry.
    const tokens = await Promise.all(
      Array.from({ length: MAX_CACHED_TOKENS + 1 }, (_, i) => mintToken({ sub: `user-${i}` }, { key: keys.es256 })),
    );
    const get = async (token: string) => {
      // An unknown session: 404 session_not_found says the token passed, at the cost of one KV read.
      const answer = await gate.call("GET", `${SESSIONS}/cksess_unknown`, { token });
      expect(await errorOf(answer)).toMatchObject({ status: 404, code: "session_not_found" });
    };

    for (const token of tokens.slice(0, MAX_CACHED_TOKENS)) await get(token as string);
    expect(verifications).toHaveBeenCalledTimes(MAX_CACHED_TOKENS);
    await get(tokens[0] as string); // a hit, which makes tokens[1] the least recently used
    expect(verifications).toHaveBeenCalledTimes(MAX_CACHED_TOKENS);

    await get(tokens[MAX_CACHED_TOKENS] as string); // one past the bound: verified, evicts tokens[1]
    await get(tokens[0] as string);
    await get(tokens[2] as string);
    expect(verifications).toHaveBeenCalledTimes(MAX_CACHED_TOKENS + 1);

    await get(tokens[1] as string); // evicted: verified afresh
    expect(verifications).toHaveBeenCalledTimes(MAX_CACHED_TOKENS + 2);
    expect(peers.upstreamCalls()).toEqual([]);
  }, 60_000);
});

describe("Should never reuse an entry under another configuration", () => {
  it("verifies afresh under a new env object with the same settings, and keeps each isolate's entries", async () => {
    const first = isolate();
    const second = isolate();
    const token = await mintToken();

    await first.call("GET", SESSIONS, { token });
    await second.call("GET", SESSIONS, { token });
    await first.call("GET", SESSIONS, { token });
    await second.call("GET", SESSIONS, { token });

    expect(verifications).toHaveBeenCalledTimes(2);
  });

  it("refuses a token cached under the old audience once the configuration drops it", async () => {
    const token = await mintToken({ aud: "other-api" });
    const before = isolate();
    expect((await before.call("GET", SESSIONS, { token })).status).toBe(200);

    const after = isolate({ AUTH_AUDIENCE: "chatkit-gate" });
    const refused = await after.call("POST", SESSIONS, { token });

    expect(await errorOf(refused)).toEqual({
      status: 401,
      code: "invalid_token",
      message: "The token's audience is not accepted",
    });
    expect(peers.upstreamCalls()).toEqual([]);
    expect(await kvEntries()).toEqual([]);
  });

  it("refuses a cached token once its issuer is no longer configured", async () => {
    const token = await mintToken();
    expect((await isolate().call("GET", SESSIONS, { token })).status).toBe(200);

    const moved = isolate({ AUTH_ISSUER: "https://other-idp.test" });
    expect(await errorOf(await moved.call("GET", SESSIONS, { token }))).toMatchObject({
      status: 401,
      message: "The token's issuer is not accepted",
    });
  });
});

describe("Should map the user the same way on a hit and on a miss", () => {
  const SECRET = "user-id-secret-for-the-cache-tests-0123456789";
  const pseudonym = async (prefix: string, claim: string) =>
    `u_${base64url(await hmacSha256(SECRET, JSON.stringify(["chatkit-gate/user-id/v1", prefix, claim])))}`;
  const hmacOwner = async (user: string) =>
    base64url(await hmacSha256(SECRET, JSON.stringify(["chatkit-gate/owner-key/v1", user])));

  const modes: Array<[string, Record<string, string>, () => Promise<string>, (user: string) => Promise<string>]> = [
    ["raw", {}, async () => "idp|alice", async (user) => base64url(await sha256(user))],
    ["hmac", { USER_ID_MODE: "hmac", USER_ID_SECRET: SECRET }, () => pseudonym("idp|", "alice"), hmacOwner],
  ];
  it.each(modes)(
    "USER_ID_MODE=%s: the same user upstream and the same owner key in KV",
    async (_mode, settings, expectedUser, expectedOwner) => {
      const gate = isolate(settings);
      const token = await mintToken();
      const refreshed = await mintToken({ iat: gate.clock.now - 1 }); // a new token for the same user

      await gate.call("POST", SESSIONS, { token }); // miss
      await gate.call("POST", SESSIONS, { token }); // hit
      await gate.call("POST", SESSIONS, { token: refreshed }); // miss, known user
      await gate.call("POST", SESSIONS, { token: refreshed }); // hit

      const user = await expectedUser();
      expect(sentUsers()).toEqual([user, user, user, user]);
      expect(await owners()).toEqual(Array(4).fill(await expectedOwner(user)));
      expect(verifications).toHaveBeenCalledTimes(2);
      const listed = await gate.call("GET", SESSIONS, { token });
      expect(((await listed.json()) as { data: unknown[] }).data).toHaveLength(4);
    },
  );

  it.each([
    ["raw", {}],
    ["hmac", { USER_ID_MODE: "hmac", USER_ID_SECRET: SECRET }],
  ])("USER_ID_MODE=%s: keeps the same claim from two providers two users, miss or hit", async (mode, settings) => {
    peers.jwksByHost.set("idp-a.test", { keys: [keys.rs256.jwk] });
    peers.jwksByHost.set("idp-b.test", { keys: [keys.es256.jwk] });
    const gate = isolate({
      ...settings,
      AUTH_ISSUER: "",
      AUTH_AUDIENCE: "",
      AUTH_USER_PREFIX: "",
      AUTH_PROVIDERS: JSON.stringify([
        { issuer: "https://idp-a.test", audience: "app", user_prefix: "a|" },
        { issuer: "https://idp-b.test", audience: "app", user_prefix: "b|" },
      ]),
    });
    const fromA = await mintToken({ iss: "https://idp-a.test", aud: "app", sub: "42" });
    const fromB = await mintToken({ iss: "https://idp-b.test", aud: "app", sub: "42" }, { key: keys.es256 });

    for (const token of [fromA, fromB, fromA, fromB]) await gate.call("POST", SESSIONS, { token });

    const [a, b] = mode === "hmac" ? [await pseudonym("a|", "42"), await pseudonym("b|", "42")] : ["a|42", "b|42"];
    expect(sentUsers()).toEqual([a, b, a, b]);
    expect(new Set(await owners()).size).toBe(2);
    expect(verifications).toHaveBeenCalledTimes(2);
  });

  it("keeps two users apart whose tokens are both cached", async () => {
    const gate = isolate({ USER_ID_MODE: "hmac", USER_ID_SECRET: SECRET });
    const alice = await mintToken({ sub: "alice" });
    const bob = await mintToken({ sub: "bob" });

    for (const token of [alice, bob, alice, bob]) await gate.call("POST", SESSIONS, { token });

    const [a, b] = [await pseudonym("idp|", "alice"), await pseudonym("idp|", "bob")];
    expect(sentUsers()).toEqual([a, b, a, b]);
    expect((await owners()).sort()).toEqual(
      [await hmacOwner(a), await hmacOwner(a), await hmacOwner(b), await hmacOwner(b)].sort(),
    );
    const listedByBob = await gate.call("GET", SESSIONS, { token: bob });
    expect(((await listedByBob.json()) as { data: unknown[] }).data).toHaveLength(2);
  });
});
