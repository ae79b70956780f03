import { SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pseudonymousUser } from "../../src/auth/claims";
import { base64url, hmacSha256, sha256 } from "../../src/auth/encoding";
import { callWith } from "../support/app";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { keys, mintToken, nowSeconds, Peers } from "../support/peers";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  // Provider B publishes only its own key, so A's tokens can never verify as B's.
  peers.jwksByHost.set("idp-b.test", { keys: [keys.otherProvider.jwk] });
  peers.jwksByHost.set("idp-a.test", { keys: [keys.rs256.jwk] });
});
afterEach(() => vi.restoreAllMocks());

const A = "https://idp-a.test";
const B = "https://idp-b.test";
const twoProviders = {
  env: {
    AUTH_ISSUER: "",
    AUTH_AUDIENCE: "",
    AUTH_USER_PREFIX: "",
    AUTH_PROVIDERS: JSON.stringify([
      { issuer: A, audience: "app-a", user_prefix: "a|" },
      { issuer: B, audience: ["app-b"], algorithms: ["ES256"], user_prefix: "b|", user_claim: "uid" },
    ]),
  },
};
const sentUsers = () => peers.upstreamCalls().map((c) => (c.body as { user: string }).user);

describe("Should accept tokens from every configured provider, keeping their users apart", () => {
  it("maps the same subject from two issuers to two ChatKit users", async () => {
    const fromA = await mintToken({ iss: A, aud: "app-a", sub: "42" });
    const fromB = await mintToken({ iss: B, aud: "app-b", uid: "42" }, { key: keys.otherProvider });

    const a = await callWith(twoProviders, "POST", "/v1/chatkit/sessions", { token: fromA });
    const b = await callWith(twoProviders, "POST", "/v1/chatkit/sessions", { token: fromB });

    expect([a.status, b.status]).toEqual([201, 201]);
    expect(sentUsers()).toEqual(["a|42", "b|42"]);
    const owners = new Set((await kvEntries()).map((e) => e.name.split(":")[1]));
    expect(owners.size).toBe(2);
    const listedByA = await callWith(twoProviders, "GET", "/v1/chatkit/sessions", { token: fromA });
    expect(((await listedByA.json()) as { data: unknown[] }).data).toHaveLength(1);
  });
});

describe("Should not authorize across providers", () => {
  it.each([
    ["a token from A presented with B's iss", () => mintToken({ iss: B, aud: "app-b", uid: "42" })],
    ["B's audience with A's iss", () => mintToken({ iss: A, aud: "app-b" })],
    ["RS256 at B, which allows only ES256", () => mintToken({ iss: B, aud: "app-b", uid: "42" })],
    ["an issuer in neither entry", () => mintToken({ iss: "https://idp-c.test", aud: "app-a" })],
    [
      "B's token whose user claim is A's (sub instead of uid)",
      () => mintToken({ iss: B, aud: "app-b", sub: "42" }, { key: keys.otherProvider }),
    ],
  ])("%s", async (_name, build) => {
    const response = await callWith(twoProviders, "POST", "/v1/chatkit/sessions", { token: await build() });

    expect(await errorOf(response)).toMatchObject({ status: 401, code: "invalid_token" });
    expect(peers.upstreamCalls()).toEqual([]);
  });

  it("never fetches keys for an issuer that is not configured", async () => {
    await callWith(twoProviders, "GET", "/v1/chatkit/sessions", {
      token: await mintToken({ iss: "https://idp-c.test" }),
    });

    expect(peers.calls).toEqual([]);
  });
});

describe("Should support a shared HS256 secret, and only on its own", () => {
  const SECRET = "supabase-legacy-jwt-secret-0123456789abcdef";
  const hs = {
    env: { AUTH_HS256_SECRET: SECRET, AUTH_ALGORITHMS: "HS256", AUTH_ISSUER: "https://project.supabase.test/auth/v1" },
  };
  const sign = (secret: string, claims: Record<string, unknown> = {}) =>
    new SignJWT({
      aud: "chatkit-gate",
      sub: "user-1",
      iss: "https://project.supabase.test/auth/v1",
      exp: nowSeconds() + 60,
      ...claims,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(secret));

  it("accepts a token signed with the secret, without fetching any keys", async () => {
    const response = await callWith(hs, "POST", "/v1/chatkit/sessions", { token: await sign(SECRET) });

    expect(response.status).toBe(201);
    expect(sentUsers()).toEqual(["idp|user-1"]);
    expect(peers.idpCalls("https://project.supabase.test")).toEqual([]);
  });

  it.each([
    ["signed with another secret", () => sign(`${SECRET}x`)],
    ["an RS256 token from the JWKS", () => mintToken({ iss: "https://project.supabase.test/auth/v1" })],
    ["expired", () => sign(SECRET, { exp: nowSeconds() - 60 })],
  ])("refuses a token %s", async (_name, build) => {
    const response = await callWith(hs, "POST", "/v1/chatkit/sessions", { token: await build() });

    expect(await errorOf(response)).toMatchObject({ status: 401, code: "invalid_token" });
    expect(peers.calls).toEqual([]);
  });
});

describe("Should pseudonymise users only when USER_ID_MODE=hmac, and fail closed", () => {
  const SECRET = "user-id-secret-0123456789abcdef0123456789";
  const hmac = { env: { USER_ID_MODE: "hmac", USER_ID_SECRET: SECRET } };
  /** Computed here from the documented formula, independently of src/auth/claims.ts. */
  const pseudonym = async (prefix: string, claim: string) =>
    `u_${base64url(await hmacSha256(SECRET, JSON.stringify(["chatkit-gate/user-id/v1", prefix, claim])))}`;

  it("sends u_ + base64url(HMAC-SHA256(secret, JSON [label, prefix, claim])), stable across sessions", async () => {
    const token = await mintToken({ sub: "alice@example.com" });

    await callWith(hmac, "POST", "/v1/chatkit/sessions", { token });
    await callWith(hmac, "POST", "/v1/chatkit/sessions", { token });

    const expected = await pseudonym("idp|", "alice@example.com");
    expect(sentUsers()).toEqual([expected, expected]);
    expect(expected).toMatch(/^u_[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(peers.upstreamCalls())).not.toContain("alice@example.com");
  });

  it("keys KV names and log ids with the secret, under a label distinct from the pseudonym's", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const token = await mintToken({ sub: "alice@example.com" });

    const created = await callWith(hmac, "POST", "/v1/chatkit/sessions", { token });
    const listed = await callWith(hmac, "GET", "/v1/chatkit/sessions", { token });

    expect(created.status).toBe(201);
    const { session_id } = (await created.json()) as { session_id: string };
    expect(((await listed.json()) as { data: Array<{ session_id: string }> }).data.map((s) => s.session_id)).toEqual([
      session_id,
    ]);
    const user = await pseudonym("idp|", "alice@example.com");
    const ownerKey = base64url(await hmacSha256(SECRET, JSON.stringify(["chatkit-gate/owner-key/v1", user])));
    expect((await kvEntries()).map((e) => e.name)).toEqual([`session:${ownerKey}:${session_id}`]);
    // Neither unkeyed hash a list of emails could be checked against appears anywhere.
    const unkeyed = [user, "idp|alice@example.com"].map(async (text) => base64url(await sha256(text)).slice(0, 16));
    const logged = lines.map((line) => JSON.parse(line) as { user?: string }).map((entry) => entry.user);
    expect(logged).toEqual([ownerKey.slice(0, 16), ownerKey.slice(0, 16)]);
    for (const hash of await Promise.all(unkeyed)) expect(logged).not.toContain(hash);
  });

  it("gives the same claim from two providers two pseudonyms, and keeps (prefix, claim) apart", async () => {
    const setup = { env: { ...twoProviders.env, ...hmac.env } };
    const fromA = await mintToken({ iss: A, aud: "app-a", sub: "42" });
    const fromB = await mintToken({ iss: B, aud: "app-b", uid: "42" }, { key: keys.otherProvider });

    await callWith(setup, "POST", "/v1/chatkit/sessions", { token: fromA });
    await callWith(setup, "POST", "/v1/chatkit/sessions", { token: fromB });

    expect(sentUsers()).toEqual([await pseudonym("a|", "42"), await pseudonym("b|", "42")]);
    // The encoding, not just the prefixes, separates them: these two would both be "a|b|c" if concatenated.
    expect(await pseudonymousUser(SECRET, "a|", "b|c")).not.toBe(await pseudonymousUser(SECRET, "a|b|", "c"));
  });

  it.each([
    ["USER_ID_SECRET set without USER_ID_MODE", { USER_ID_SECRET: SECRET }],
    ["USER_ID_SECRET with USER_ID_MODE=raw", { USER_ID_MODE: "raw", USER_ID_SECRET: SECRET }],
    ["USER_ID_MODE=hmac without USER_ID_SECRET", { USER_ID_MODE: "hmac" }],
    ["USER_ID_MODE=hmac with a short USER_ID_SECRET", { USER_ID_MODE: "hmac", USER_ID_SECRET: "short" }],
    [
      "USER_ID_SECRET equal to AUTH_HS256_SECRET",
      {
        USER_ID_MODE: "hmac",
        USER_ID_SECRET: SECRET,
        AUTH_HS256_SECRET: SECRET,
        AUTH_ALGORITHMS: "HS256",
      },
    ],
  ])("refuses to start with %s: 503 config_invalid, never a raw id upstream", async (_name, env) => {
    const response = await callWith({ env }, "POST", "/v1/chatkit/sessions", {
      token: await mintToken({ sub: "alice@example.com" }),
    });

    expect(await errorOf(response)).toMatchObject({ status: 503, code: "config_invalid" });
    expect(peers.calls).toEqual([]);
    expect(await kvEntries()).toEqual([]);
  });
});

describe("Should refuse provider prefixes that are not prefix-free", () => {
  it("acme and acme: would map acme's :bob and acme:'s bob to one user, so the configuration is refused", async () => {
    const setup = {
      env: {
        ...twoProviders.env,
        AUTH_PROVIDERS: JSON.stringify([
          { issuer: A, audience: "app-a", user_prefix: "acme" },
          { issuer: B, audience: "app-b", algorithms: ["ES256"], user_prefix: "acme:" },
        ]),
      },
    };

    const response = await callWith(setup, "POST", "/v1/chatkit/sessions", {
      token: await mintToken({ iss: A, aud: "app-a", sub: ":bob" }),
    });

    expect(await errorOf(response)).toMatchObject({ status: 503, code: "config_invalid" });
    expect(peers.calls).toEqual([]);
  });
});

describe("Should fill workflow state from verified claims, which the client cannot override", () => {
  const setup = {
    env: { CHATKIT_STATE_FROM_CLAIMS: JSON.stringify({ plan: "app_metadata.plan", tenant: "org_id" }) },
  };
  const withClaims = () => mintToken({ app_metadata: { plan: "pro" }, org_id: "org_7" });

  it("sends the claim values alongside the client's allowed variables", async () => {
    const response = await callWith(setup, "POST", "/v1/chatkit/sessions", {
      token: await withClaims(),
      body: { state_variables: { locale: "fr" } },
    });

    expect(response.status).toBe(201);
    expect(peers.upstreamCalls().map((c) => (c.body as { workflow: unknown }).workflow)[0]).toEqual({
      id: "wf_default",
      version: "3",
      state_variables: { locale: "fr", plan: "pro", tenant: "org_7" },
    });
  });

  it("refuses a client that tries to set a claim-filled variable", async () => {
    const response = await callWith(setup, "POST", "/v1/chatkit/sessions", {
      token: await withClaims(),
      body: { state_variables: { plan: "enterprise" } },
    });

    expect(await errorOf(response)).toMatchObject({ status: 400, code: "invalid_request" });
    expect(peers.upstreamCalls()).toEqual([]);
  });

  it.each([
    ["missing", { org_id: "org_7" }],
    ["an object", { app_metadata: { plan: { tier: "pro" } }, org_id: "org_7" }],
  ])("fails closed with 401 when a claim is %s", async (_name, claims) => {
    const response = await callWith(setup, "POST", "/v1/chatkit/sessions", { token: await mintToken(claims) });

    expect(await errorOf(response)).toMatchObject({ status: 401, code: "invalid_token" });
    expect(peers.upstreamCalls()).toEqual([]);
  });
});
