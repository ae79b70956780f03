/**
 * The identity provider recipes of docs/providers.md, each proven here: the
 * documented settings accept tokens shaped exactly like the provider's, and
 * refuse the near-misses its users run into. The settings below are the
 * documented ones with one change: real provider hosts are unreachable from
 * the tests, so every JWKS URL points at a fake host serving that provider's
 * keys (see `keysAt`).
 */
import type { JWK } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { base64url, hmacSha256 } from "../src/auth/encoding";
import { AuthFailed, type AuthFailure } from "../src/auth/failures";
import { callWith } from "./support/app";
import { type CallOptions, clearKv, errorOf, kvEntries } from "./support/http";
import { Peers, UPSTREAM } from "./support/peers";
import {
  ACCESS,
  AUTH0,
  CLERK,
  COGNITO,
  ENTRA,
  FIREBASE,
  GOOGLE,
  OKTA,
  type ProviderKey,
  SUPABASE,
} from "./support/provider-tokens";

/**
 * Where the fake serves one provider's keys. Each provider gets its own host,
 * so the isolate-wide key cache (by issuer and JWKS URL) never hands one
 * provider's keys to another.
 */
const keysAt = (host: string) => `https://${host}.test/keys`;

/** Settings as docs/providers.md gives them; every AUTH_* is set so nothing leaks in from the test defaults. */
type Settings = Record<string, string>;

interface Case {
  /** What the token is; the test's name. */
  name: string;
  token: () => Promise<string>;
  /** Settings changed from the recipe's, for a near-miss in the configuration rather than in the token. */
  env?: Settings;
  /** How the SPA sends the token; `Authorization: Bearer` unless given. */
  send?: (token: string) => CallOptions;
}

interface Recipe {
  provider: string;
  settings: Settings;
  /** The provider's JWKS as the fake serves it; absent for a shared secret. */
  keys?: { url: string; published: ProviderKey[] };
  /** Each with the ChatKit `user` it must become. */
  accepted: Array<Case & { user: string }>;
  /** Each with the reason the gateway must give. */
  refused: Array<Case & { reason: AuthFailure }>;
}

const single = (settings: {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  algorithms: string;
  userClaim: string;
  prefix: string;
}): Settings => ({
  AUTH_PROVIDERS: "",
  AUTH_ISSUER: settings.issuer,
  AUTH_AUDIENCE: settings.audience,
  AUTH_JWKS_URL: settings.jwksUrl ?? "",
  AUTH_ALGORITHMS: settings.algorithms,
  AUTH_USER_CLAIM: settings.userClaim,
  AUTH_USER_PREFIX: settings.prefix,
});

const RECIPES: Recipe[] = [
  {
    provider: "Auth0",
    settings: single({
      issuer: AUTH0.issuer,
      audience: AUTH0.api,
      jwksUrl: keysAt("auth0"),
      algorithms: "RS256",
      userClaim: "sub",
      prefix: "auth0|",
    }),
    keys: { url: keysAt("auth0"), published: [AUTH0.key] },
    accepted: [
      {
        name: "an access token for the API (default profile, typ JWT, aud also naming /userinfo)",
        token: () => AUTH0.accessToken(),
        user: `auth0|${AUTH0.sub}`,
      },
      {
        name: "an access token in the RFC 9068 profile (typ at+jwt, client_id)",
        token: () => AUTH0.rfc9068AccessToken(),
        user: `auth0|${AUTH0.sub}`,
      },
      {
        // Documented pitfall: the gateway does not read gty; keep M2M applications off this API in Auth0.
        name: "a client-credentials token for the API, as the user <client id>@clients",
        token: () => AUTH0.clientCredentialsToken(),
        user: `auth0|${AUTH0.clientId}@clients`,
      },
    ],
    refused: [
      {
        name: "any token when AUTH_ISSUER lacks the trailing slash Auth0 puts in iss",
        token: () => AUTH0.accessToken(),
        env: { AUTH_ISSUER: AUTH0.issuer.replace(/\/$/, "") },
        reason: "issuer",
      },
      {
        name: "a token whose iss lacks the trailing slash",
        token: () => AUTH0.accessToken({ iss: AUTH0.issuer.replace(/\/$/, "") }),
        reason: "issuer",
      },
      { name: "the ID token (aud is the client id)", token: () => AUTH0.idToken(), reason: "audience" },
      {
        name: "an access token for another API",
        token: () => AUTH0.accessToken({ aud: ["https://billing.example.com", `${AUTH0.issuer}userinfo`] }),
        reason: "audience",
      },
      {
        name: "a token from another tenant",
        token: () => AUTH0.accessToken({ iss: "https://other-tenant.eu.auth0.com/" }),
        reason: "issuer",
      },
      {
        // Same keys, same iss and aud; only typ says it is a back-channel logout token (OIDC Back-Channel Logout §2.4).
        name: "a logout token for the API (typ logout+jwt)",
        token: () =>
          AUTH0.accessToken(
            { aud: AUTH0.api, events: { "http://schemas.openid.net/event/backchannel-logout": {} } },
            { typ: "logout+jwt" },
          ),
        reason: "token_type",
      },
    ],
  },
  {
    provider: "Clerk",
    settings: single({
      issuer: CLERK.issuer,
      audience: CLERK.audience,
      jwksUrl: keysAt("clerk"),
      algorithms: "RS256",
      userClaim: "sub",
      prefix: "clerk|",
    }),
    keys: { url: keysAt("clerk"), published: [CLERK.key] },
    accepted: [
      {
        name: "a token from the JWT template that sets aud",
        token: () => CLERK.templateToken(),
        user: `clerk|${CLERK.sub}`,
      },
      {
        // Documented pitfall: azp is not checked; ALLOWED_ORIGINS only stops other origins' browsers reading answers.
        name: "a template token whose azp is another origin",
        token: () => CLERK.templateToken({ azp: "https://evil.example" }),
        user: `clerk|${CLERK.sub}`,
      },
    ],
    refused: [
      { name: "the default session token (no aud)", token: () => CLERK.sessionToken(), reason: "audience" },
      {
        name: "a template token with another audience",
        token: () => CLERK.templateToken({ aud: "convex" }),
        reason: "audience",
      },
      {
        name: "a production instance's token under the development instance's settings",
        token: () => CLERK.templateToken({ iss: "https://clerk.example.com" }),
        reason: "issuer",
      },
    ],
  },
  {
    provider: "Supabase, asymmetric signing keys",
    settings: single({
      issuer: SUPABASE.issuer,
      audience: SUPABASE.audience,
      jwksUrl: keysAt("supabase"),
      algorithms: "ES256",
      userClaim: "sub",
      prefix: "supabase|",
    }),
    keys: { url: keysAt("supabase"), published: [SUPABASE.key] },
    accepted: [
      {
        name: "a user's ES256 access token",
        token: () => SUPABASE.asymmetricToken(),
        user: `supabase|${SUPABASE.sub}`,
      },
      {
        // Documented pitfall: anonymous sign-ins are users too; the gateway does not read is_anonymous.
        name: "an anonymous user's access token",
        token: () => SUPABASE.asymmetricToken({ is_anonymous: true, email: "", amr: [{ method: "anonymous" }] }),
        user: `supabase|${SUPABASE.sub}`,
      },
    ],
    refused: [
      {
        name: "a token still signed with the legacy HS256 secret",
        token: () => SUPABASE.legacyToken(),
        reason: "algorithm",
      },
      {
        name: "another project's token",
        token: () => SUPABASE.asymmetricToken({ iss: "https://otherprojectrefabcd.supabase.co/auth/v1" }),
        reason: "issuer",
      },
    ],
  },
  {
    provider: "Supabase, legacy HS256 JWT secret",
    settings: {
      ...single({
        issuer: SUPABASE.issuer,
        audience: SUPABASE.audience,
        algorithms: "HS256",
        userClaim: "sub",
        prefix: "supabase|",
      }),
      AUTH_HS256_SECRET: SUPABASE.legacySecret,
    },
    accepted: [
      {
        name: "a user's HS256 access token",
        token: () => SUPABASE.legacyToken(),
        user: `supabase|${SUPABASE.sub}`,
      },
    ],
    refused: [
      {
        name: "a token signed with another secret",
        token: () => SUPABASE.legacyToken({}, "another-projects-jwt-secret-0123456789abcdef"),
        reason: "signature",
      },
      {
        // Same secret, so only the exact iss keeps the project's API keys from passing as users.
        name: "the project's anon key",
        token: () => SUPABASE.apiKey("anon"),
        reason: "issuer",
      },
      { name: "the project's service_role key", token: () => SUPABASE.apiKey("service_role"), reason: "issuer" },
      {
        name: "an ES256 token from the new signing keys",
        token: () => SUPABASE.asymmetricToken(),
        reason: "algorithm",
      },
    ],
  },
  {
    provider: "Firebase Auth",
    settings: single({
      issuer: FIREBASE.issuer,
      audience: FIREBASE.projectId,
      jwksUrl: keysAt("firebase"),
      algorithms: "RS256",
      userClaim: "sub",
      prefix: "firebase|",
    }),
    keys: { url: keysAt("firebase"), published: [FIREBASE.key] },
    accepted: [
      {
        name: "an ID token from getIdToken()",
        token: () => FIREBASE.idToken(),
        user: `firebase|${FIREBASE.uid}`,
      },
    ],
    refused: [
      {
        name: "any token when AUTH_AUDIENCE is the web app id instead of the project id",
        token: () => FIREBASE.idToken(),
        env: { AUTH_AUDIENCE: "1:123456789012:web:4f2a1b3c5d6e7f80" },
        reason: "audience",
      },
      { name: "another project's ID token", token: () => FIREBASE.otherProjectIdToken(), reason: "issuer" },
      { name: "a session cookie", token: () => FIREBASE.sessionCookie(), reason: "issuer" },
      { name: "a custom token minted by the Admin SDK", token: () => FIREBASE.customToken(), reason: "issuer" },
    ],
  },
  {
    provider: "Amazon Cognito",
    settings: single({
      issuer: COGNITO.issuer,
      audience: COGNITO.clientId,
      jwksUrl: keysAt("cognito"),
      algorithms: "RS256",
      userClaim: "sub",
      prefix: "cognito|",
    }),
    keys: { url: keysAt("cognito"), published: [COGNITO.key] },
    accepted: [
      {
        name: "an ID token (token_use id, no typ, a base64 kid)",
        token: () => COGNITO.idToken(),
        user: `cognito|${COGNITO.sub}`,
      },
    ],
    refused: [
      { name: "the access token (no aud, only client_id)", token: () => COGNITO.accessToken(), reason: "audience" },
      {
        name: "an ID token for another app client of the pool",
        token: () => COGNITO.idToken({ aud: "7m1c5k9p3x2z8w4v6r0t2y4u6i" }),
        reason: "audience",
      },
      {
        name: "an ID token from another user pool",
        token: () => COGNITO.idToken({ iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_ZyXwVuTsR" }),
        reason: "issuer",
      },
    ],
  },
  {
    provider: "Cloudflare Access",
    settings: single({
      issuer: ACCESS.issuer,
      audience: ACCESS.aud,
      jwksUrl: keysAt("cloudflare-access"),
      algorithms: "RS256",
      userClaim: "sub",
      prefix: "access|",
    }),
    keys: { url: keysAt("cloudflare-access"), published: [ACCESS.key] },
    accepted: [
      {
        name: "the application token forwarded as a Bearer token",
        token: () => ACCESS.appToken(),
        user: `access|${ACCESS.sub}`,
      },
    ],
    refused: [
      {
        name: "another application's token (another AUD tag)",
        token: () => ACCESS.appToken({ aud: ["5d2a8f1c7e4b9a6d3f0c8e5b2a7d4f1c9e6b3a0d8f5c2e7b4a1d9f6c3e0b8a5d"] }),
        reason: "audience",
      },
      {
        name: "another team's token",
        token: () => ACCESS.appToken({ iss: "https://other-team.cloudflareaccess.com" }),
        reason: "issuer",
      },
      { name: "a service token's request (empty sub)", token: () => ACCESS.serviceToken(), reason: "user_empty" },
      {
        name: "the token left in the Cf-Access-Jwt-Assertion header, which the gateway does not read",
        token: () => ACCESS.appToken(),
        send: (token) => ({ headers: { "cf-access-jwt-assertion": token } }),
        reason: "absent",
      },
      {
        name: "the token left in the CF_Authorization cookie, which the gateway does not read",
        token: () => ACCESS.appToken(),
        send: (token) => ({ headers: { cookie: `CF_Authorization=${token}` } }),
        reason: "absent",
      },
    ],
  },
  {
    provider: "Okta",
    settings: single({
      issuer: OKTA.issuer,
      audience: OKTA.audience,
      jwksUrl: keysAt("okta"),
      algorithms: "RS256",
      userClaim: "uid",
      prefix: "okta|",
    }),
    keys: { url: keysAt("okta"), published: [OKTA.key] },
    accepted: [
      {
        name: "an access token from the custom authorization server, as its uid",
        token: () => OKTA.accessToken(),
        user: `okta|${OKTA.uid}`,
      },
    ],
    refused: [
      { name: "the ID token (aud is the client id)", token: () => OKTA.idToken(), reason: "audience" },
      { name: "an org authorization server token", token: () => OKTA.orgServerToken(), reason: "issuer" },
      {
        name: "a client-credentials token (no uid: no user)",
        token: () => OKTA.clientCredentialsToken(),
        reason: "user_missing",
      },
    ],
  },
  {
    provider: "Microsoft Entra ID",
    settings: single({
      issuer: ENTRA.v2Issuer,
      audience: ENTRA.apiClientId,
      jwksUrl: keysAt("entra"),
      algorithms: "RS256",
      userClaim: "oid",
      prefix: "entra|",
    }),
    keys: { url: keysAt("entra"), published: [ENTRA.key] },
    accepted: [
      {
        name: "a v2 access token for the API (x5t header, JWKS without alg)",
        token: () => ENTRA.v2AccessToken(),
        user: `entra|${ENTRA.oid}`,
      },
      {
        name: "a v1 access token under the v1 settings",
        token: () => ENTRA.v1AccessToken(),
        env: { AUTH_ISSUER: ENTRA.v1Issuer, AUTH_AUDIENCE: ENTRA.apiAppIdUri },
        user: `entra|${ENTRA.oid}`,
      },
      {
        // Documented pitfall: scp and roles are not read, so an app-only token maps to its service principal.
        name: "an app-only token, as the calling service principal's oid",
        token: () => ENTRA.appOnlyToken(),
        user: "entra|f0e1d2c3-b4a5-4968-8776-655443322110",
      },
    ],
    refused: [
      { name: "a v1 token under the v2 settings", token: () => ENTRA.v1AccessToken(), reason: "issuer" },
      {
        name: "a v2 token under the v1 settings",
        token: () => ENTRA.v2AccessToken(),
        env: { AUTH_ISSUER: ENTRA.v1Issuer, AUTH_AUDIENCE: ENTRA.apiAppIdUri },
        reason: "issuer",
      },
      { name: "the ID token (aud is the SPA's client id)", token: () => ENTRA.idToken(), reason: "audience" },
      {
        name: "a Microsoft Graph token, even under the v1 settings",
        token: () => ENTRA.graphToken(),
        env: { AUTH_ISSUER: ENTRA.v1Issuer, AUTH_AUDIENCE: ENTRA.apiAppIdUri },
        reason: "audience",
      },
      {
        name: "another tenant's token",
        token: () =>
          ENTRA.v2AccessToken({
            iss: "https://login.microsoftonline.com/9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b/v2.0",
            tid: "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
          }),
        reason: "issuer",
      },
    ],
  },
  {
    provider: "Google",
    settings: single({
      issuer: GOOGLE.issuer,
      audience: GOOGLE.clientId,
      jwksUrl: keysAt("google"),
      algorithms: "RS256",
      userClaim: "sub",
      prefix: "google|",
    }),
    keys: { url: keysAt("google"), published: [GOOGLE.key] },
    accepted: [
      { name: "an ID token for our client id", token: () => GOOGLE.idToken(), user: `google|${GOOGLE.sub}` },
      {
        name: "an ID token mapped by its verified email",
        token: () => GOOGLE.idToken(),
        env: { AUTH_USER_CLAIM: "email" },
        user: "google|ada@example.com",
      },
    ],
    refused: [
      {
        // Google accounts made with another provider's address carry email_verified false.
        name: "an ID token mapped by an email Google has not verified",
        token: () => GOOGLE.idToken({ sub: "attacker-sub", email_verified: false }),
        env: { AUTH_USER_CLAIM: "email" },
        reason: "email_unverified",
      },
      {
        name: "an ID token for another client id",
        token: () =>
          GOOGLE.idToken({
            aud: "987654321098-zyx987wvu654tsr321qpo098nml765kj.apps.googleusercontent.com",
            azp: "987654321098-zyx987wvu654tsr321qpo098nml765kj.apps.googleusercontent.com",
          }),
        reason: "audience",
      },
      {
        name: "an ID token whose iss has no scheme (accounts.google.com)",
        token: () => GOOGLE.idToken({ iss: "accounts.google.com" }),
        reason: "issuer",
      },
      {
        name: "an OAuth access token (opaque, not a JWT)",
        token: async () => "ya29.a0AfB_byDdExampleOpaqueAccessToken0123456789",
        reason: "malformed",
      },
    ],
  },
];

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  // A host without its own entry gets no keys, so a recipe can only pass with its own provider's keys.
  peers.jwks = { keys: [] };
  for (const recipe of RECIPES) {
    if (recipe.keys) peers.jwksByHost.set(new URL(recipe.keys.url).host, jwksOf(recipe.keys.published));
  }
});
afterEach(() => vi.restoreAllMocks());

const jwksOf = (published: ProviderKey[]): { keys: JWK[] } => ({ keys: published.map((key) => key.jwk) });
const sentUsers = () => peers.upstreamCalls().map((c) => (c.body as { user: string }).user);
const idpUrls = () => peers.calls.filter((c) => !c.url.startsWith(UPSTREAM)).map((c) => c.url);
const createSession = (env: Settings, token: string, send?: (token: string) => CallOptions) =>
  callWith({ env }, "POST", "/v1/chatkit/sessions", send ? send(token) : { token });

describe.each(RECIPES)("$provider recipe", (recipe) => {
  it.each(recipe.accepted)("accepts $name", async (accepted) => {
    const response = await createSession(
      { ...recipe.settings, ...accepted.env },
      await accepted.token(),
      accepted.send,
    );

    expect(response.status).toBe(201);
    expect(sentUsers()).toEqual([accepted.user]);
    // Keys come from the configured JWKS only (or are already cached from it): no discovery, no other host.
    expect(idpUrls().filter((url) => url !== recipe.keys?.url)).toEqual([]);
  });

  it.each(recipe.refused)("refuses $name ($reason)", async (refused) => {
    const response = await createSession({ ...recipe.settings, ...refused.env }, await refused.token(), refused.send);

    expect(await errorOf(response)).toEqual({
      status: 401,
      code: "invalid_token",
      message: new AuthFailed(refused.reason).message,
    });
    expect(peers.upstreamCalls()).toEqual([]);
    expect(await kvEntries()).toEqual([]);
  });
});

describe("Should accept two providers at once, keeping their users apart (the combined example)", () => {
  const combined: Settings = {
    ...single({ issuer: "", audience: "", algorithms: "RS256,ES256", userClaim: "sub", prefix: "" }),
    AUTH_PROVIDERS: JSON.stringify([
      {
        issuer: AUTH0.issuer,
        audience: AUTH0.api,
        jwks_url: keysAt("auth0"),
        algorithms: ["RS256"],
        user_prefix: "auth0|",
      },
      {
        issuer: ENTRA.v2Issuer,
        audience: ENTRA.apiClientId,
        jwks_url: keysAt("entra"),
        algorithms: ["RS256"],
        user_claim: "oid",
        user_prefix: "entra|",
      },
    ]),
  };

  it("maps each provider's token to its own prefixed user", async () => {
    const fromAuth0 = await createSession(combined, await AUTH0.accessToken());
    const fromEntra = await createSession(combined, await ENTRA.v2AccessToken());

    expect([fromAuth0.status, fromEntra.status]).toEqual([201, 201]);
    expect(sentUsers()).toEqual([`auth0|${AUTH0.sub}`, `entra|${ENTRA.oid}`]);
  });

  it.each([
    [
      "an Auth0 token relabelled with Entra's issuer and audience",
      () => AUTH0.accessToken({ iss: ENTRA.v2Issuer, aud: ENTRA.apiClientId, oid: ENTRA.oid }),
      "unknown_key",
    ],
    ["an Entra token for Auth0's API audience", () => ENTRA.v2AccessToken({ aud: AUTH0.api }), "audience"],
  ] as const)("refuses %s", async (_name, build, reason) => {
    const response = await createSession(combined, await build());

    expect(await errorOf(response)).toEqual({
      status: 401,
      code: "invalid_token",
      message: new AuthFailed(reason).message,
    });
    expect(peers.upstreamCalls()).toEqual([]);
  });
});

describe("Should keep emails away from OpenAI when the user claim is an email and USER_ID_MODE=hmac", () => {
  const USER_ID_SECRET = "user-id-secret-for-provider-recipes-0123456789";
  const accessByEmail: Settings = {
    ...(RECIPES.find((recipe) => recipe.provider === "Cloudflare Access")?.settings as Settings),
    AUTH_USER_CLAIM: "email",
    // Access tokens carry no email_verified: Access itself authenticated the address (IdP or one-time PIN).
    AUTH_ALLOW_UNVERIFIED_EMAIL: "true",
    USER_ID_MODE: "hmac",
    USER_ID_SECRET,
  };

  it("sends the pseudonym of (prefix, email), and never the email", async () => {
    const response = await createSession(accessByEmail, await ACCESS.appToken());

    expect(response.status).toBe(201);
    const input = JSON.stringify(["chatkit-gate/user-id/v1", "access|", "ada@example.com"]);
    expect(sentUsers()).toEqual([`u_${base64url(await hmacSha256(USER_ID_SECRET, input))}`]);
    expect(JSON.stringify(peers.upstreamCalls())).not.toContain("ada@example.com");
  });

  it("refuses the email without the documented opt-out, since Access sends no email_verified", async () => {
    const response = await createSession(
      { ...accessByEmail, AUTH_ALLOW_UNVERIFIED_EMAIL: "" },
      await ACCESS.appToken(),
    );

    expect(await errorOf(response)).toEqual({
      status: 401,
      code: "invalid_token",
      message: new AuthFailed("email_unverified").message,
    });
    expect(peers.upstreamCalls()).toEqual([]);
  });
});
