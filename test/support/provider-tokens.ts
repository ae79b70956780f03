/**
 * Tokens shaped like the ones real identity providers issue (claim names and
 * formats, `alg`, `kid`, `typ`, `aud` and `iss` layouts), signed with local
 * keys. The tenant names and ids are made up but follow each provider's
 * formats; docs/providers.md explains the settings that accept them.
 */
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { nowSeconds } from "./peers";

export interface ProviderKey {
  alg: "RS256" | "ES256";
  kid: string;
  privateKey: CryptoKey;
  /** The key as the provider's JWKS publishes it. */
  jwk: JWK;
}

/**
 * A key pair with the provider's kid format. `published` lists the JWK members
 * the provider's JWKS carries besides the key itself: Entra ID, for one,
 * publishes no `alg`, so the verifier must infer it from `kty`.
 */
async function providerKey(
  alg: ProviderKey["alg"],
  kid: string,
  published: Record<string, unknown> = { alg, use: "sig" },
): Promise<ProviderKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, ...published } };
}

/** Headers are given in full, so a provider that sets no `typ` sends none. */
type Header = Record<string, unknown>;

/**
 * Signs `claims` with `overrides` applied; an override of `undefined` removes
 * the claim, which is how near-misses drop `aud` or `sub`.
 */
async function sign(key: ProviderKey, header: Header, claims: JWTPayload, overrides: JWTPayload): Promise<string> {
  const payload: JWTPayload = { ...claims, ...overrides };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

/** Auth0: RS256, a random kid, `iss` with a trailing slash, access tokens for an API. */
export const AUTH0 = {
  issuer: "https://chatkit-demo.us.auth0.com/",
  /** The API identifier from Dashboard > Applications > APIs; any string, often a URL. */
  api: "https://chatkit-gate.acme.test",
  clientId: "tP1V9rKpYQ0c8x3dZf6mJ2wH4nL7sA5e",
  /** `<connection>|<id>`: the social or database connection the user signed in with. */
  sub: "google-oauth2|103547991597142817347",
  key: await providerKey("RS256", "xK3pQ8vN1mR7tY2wL9bZ4c"),
  /** An access token in Auth0's default profile: `typ: JWT`, `azp`, and `aud` listing /userinfo as well. */
  accessToken(overrides: JWTPayload = {}, header: Header = { typ: "JWT" }): Promise<string> {
    const now = nowSeconds();
    return sign(
      AUTH0.key,
      header,
      {
        iss: AUTH0.issuer,
        sub: AUTH0.sub,
        aud: [AUTH0.api, `${AUTH0.issuer}userinfo`],
        iat: now,
        exp: now + 86_400,
        scope: "openid profile email",
        azp: AUTH0.clientId,
      },
      overrides,
    );
  },
  /** An access token in the RFC 9068 profile an API can opt into: `typ: at+jwt`, `client_id`, `jti`. */
  rfc9068AccessToken(overrides: JWTPayload = {}): Promise<string> {
    return AUTH0.accessToken(
      {
        aud: AUTH0.api,
        azp: undefined,
        client_id: AUTH0.clientId,
        jti: "b5e0f2f1c3a64d7e9c1a2b3c4d5e6f70",
        ...overrides,
      },
      { typ: "at+jwt" },
    );
  },
  /** The ID token the SPA SDK also holds: `aud` is the client id, and it carries profile claims. */
  idToken(overrides: JWTPayload = {}): Promise<string> {
    return AUTH0.accessToken({
      aud: AUTH0.clientId,
      scope: undefined,
      azp: undefined,
      nonce: "bm9uY2UtZnJvbS10aGUtc3Bh",
      sid: "Yh3kP9vQ2mX7tR1wL8nB5cZ4",
      email: "ada@example.com",
      email_verified: true,
      name: "Ada Lovelace",
      ...overrides,
    });
  },
  /** A machine-to-machine token (client credentials) for the same API: `sub` is `<client id>@clients`. */
  clientCredentialsToken(): Promise<string> {
    return AUTH0.accessToken({
      sub: `${AUTH0.clientId}@clients`,
      aud: AUTH0.api,
      azp: AUTH0.clientId,
      scope: undefined,
      gty: "client-credentials",
    });
  },
};

/** Clerk: RS256 with the instance id as kid, 60-second session tokens, and `azp` instead of `aud`. */
export const CLERK = {
  /** A development instance's Frontend API; production uses your own domain, e.g. https://clerk.example.com. */
  issuer: "https://clean-mole-42.clerk.accounts.dev",
  /** What the recipe's JWT template puts in `aud`. */
  audience: "chatkit-gate",
  sub: "user_2pQ7vXk9LmR3tW8nZ5cB1yH4jF6",
  key: await providerKey("RS256", "ins_2pQ7vXk9LmR3tW8nZ5cB1yH4jF6"),
  /** `getToken({ template: "chatkit" })` with a template whose claims are `{"aud": "chatkit-gate"}`. */
  templateToken(overrides: JWTPayload = {}): Promise<string> {
    const now = nowSeconds();
    return sign(
      CLERK.key,
      { typ: "JWT" },
      {
        aud: CLERK.audience,
        azp: "https://app.example.com",
        exp: now + 60,
        iat: now,
        iss: CLERK.issuer,
        jti: "5c1e7a9b3d2f4e6a8b0c",
        // Clerk backdates nbf a few seconds to absorb clock skew.
        nbf: now - 10,
        sub: CLERK.sub,
      },
      overrides,
    );
  },
  /** `getToken()` with no template: the default session token, which has no `aud` at all. */
  sessionToken(overrides: JWTPayload = {}): Promise<string> {
    return CLERK.templateToken({
      aud: undefined,
      jti: undefined,
      sid: "sess_2pQ8wYl0MnS4uX9oA6dC2zI5kG7",
      fva: [0, -1],
      v: 2,
      ...overrides,
    });
  },
};

/**
 * Supabase Auth: `iss` ends in /auth/v1, `aud` is the role `authenticated`.
 * New projects sign with an asymmetric key (ES256 by default, kid a UUID, JWKS
 * members carrying `key_ops` and `ext` as WebCrypto exports them); older ones
 * with the project's shared HS256 JWT secret.
 */
/** The legacy JWT secret (Project Settings > JWT Keys); Supabase uses its text as the HMAC key. */
const SUPABASE_LEGACY_SECRET = "k9Xr2vLq8mWz4tNb7cHy1pJf6sDg3aEu5oQi0eRw";

export const SUPABASE = {
  issuer: "https://qzxkplmvbnrtyuwieoas.supabase.co/auth/v1",
  audience: "authenticated",
  sub: "8d0f6a4e-2b1c-4e3d-9a7f-5c6b1e2d3f40",
  legacySecret: SUPABASE_LEGACY_SECRET,
  key: await providerKey("ES256", "b1f6e2a0-7c3d-4e5f-8a9b-0c1d2e3f4a5b", {
    alg: "ES256",
    use: "sig",
    key_ops: ["verify"],
    ext: true,
  }),
  claims(overrides: JWTPayload = {}): JWTPayload {
    const now = nowSeconds();
    return {
      iss: SUPABASE.issuer,
      sub: SUPABASE.sub,
      aud: SUPABASE.audience,
      exp: now + 3600,
      iat: now,
      email: "ada@example.com",
      phone: "",
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: { email_verified: true },
      role: "authenticated",
      aal: "aal1",
      amr: [{ method: "password", timestamp: now }],
      session_id: "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b",
      is_anonymous: false,
      ...overrides,
    };
  },
  /** A user's access token signed with the project's asymmetric key. */
  asymmetricToken(overrides: JWTPayload = {}): Promise<string> {
    return sign(SUPABASE.key, { typ: "JWT" }, SUPABASE.claims(), overrides);
  },
  /** A user's access token signed with a legacy HS256 JWT secret. */
  legacyToken(overrides: JWTPayload = {}, secret: string = SUPABASE_LEGACY_SECRET): Promise<string> {
    return new SignJWT(SUPABASE.claims(overrides))
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(secret));
  },
  /**
   * The project's anon or service_role API key: a long-lived JWT signed with
   * the same legacy secret, with `iss: "supabase"` and no user.
   */
  apiKey(role: "anon" | "service_role"): Promise<string> {
    const now = nowSeconds();
    return new SignJWT({ iss: "supabase", ref: "qzxkplmvbnrtyuwieoas", role, iat: now, exp: now + 10 * 365 * 86_400 })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(SUPABASE_LEGACY_SECRET));
  },
};

/** Firebase Auth ID tokens: RS256, 40-hex kid, the project id in both `iss` and `aud`. */
export const FIREBASE = {
  projectId: "chatkit-demo-4f2a1",
  issuer: "https://securetoken.google.com/chatkit-demo-4f2a1",
  uid: "Zq8XvB2nT5mK1yR7wL4cP9hJ3fG6",
  key: await providerKey("RS256", "4a7c1e9f3b5d8a2c6e0f1b3d5a7c9e2f4b6d8a0c"),
  /** What `user.getIdToken()` returns. */
  idToken(overrides: JWTPayload = {}): Promise<string> {
    const now = nowSeconds();
    return sign(
      FIREBASE.key,
      { typ: "JWT" },
      {
        name: "Ada Lovelace",
        iss: FIREBASE.issuer,
        aud: FIREBASE.projectId,
        auth_time: now - 120,
        user_id: FIREBASE.uid,
        sub: FIREBASE.uid,
        iat: now,
        exp: now + 3600,
        email: "ada@example.com",
        email_verified: true,
        firebase: {
          identities: { "google.com": ["103547991597142817347"], email: ["ada@example.com"] },
          sign_in_provider: "google.com",
        },
      },
      overrides,
    );
  },
  /** Another Firebase project's ID token: its own project id in `iss` and `aud`. */
  otherProjectIdToken(): Promise<string> {
    return FIREBASE.idToken({ iss: "https://securetoken.google.com/other-app-91c0e", aud: "other-app-91c0e" });
  },
  /** A session cookie from the Admin SDK: another issuer, and signed with other keys. */
  sessionCookie(): Promise<string> {
    return FIREBASE.idToken({ iss: `https://session.firebase.google.com/${FIREBASE.projectId}` });
  },
  /** The custom token a server mints with the Admin SDK to sign a user in; it is not an ID token. */
  customToken(): Promise<string> {
    const now = nowSeconds();
    const serviceAccount = `firebase-adminsdk-x1y2z@${FIREBASE.projectId}.iam.gserviceaccount.com`;
    return sign(
      FIREBASE.key,
      { typ: "JWT" },
      {
        iss: serviceAccount,
        sub: serviceAccount,
        aud: "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit",
        uid: FIREBASE.uid,
        iat: now,
        exp: now + 3600,
      },
      {},
    );
  },
};

/** Amazon Cognito user pools: RS256, a base64 kid, no `typ`; ID tokens have `aud`, access tokens do not. */
export const COGNITO = {
  issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI",
  clientId: "3q2vba8dq1n7vfj5k0ge6r4c9h",
  sub: "62c5e4a4-80f1-70b3-9e2d-1c4b7a6f3e58",
  key: await providerKey("RS256", "k3XW9rE5Yq2hT7mN+pL4vB8cZ0sD6fG2jH5a/9wE1xU="),
  idToken(overrides: JWTPayload = {}): Promise<string> {
    const now = nowSeconds();
    return sign(
      COGNITO.key,
      {},
      {
        sub: COGNITO.sub,
        email_verified: true,
        iss: COGNITO.issuer,
        "cognito:username": "ada",
        origin_jti: "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
        aud: COGNITO.clientId,
        event_id: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        token_use: "id",
        auth_time: now - 60,
        exp: now + 3600,
        iat: now,
        jti: "0a9b8c7d-6e5f-4a3b-8c1d-2e3f4a5b6c7d",
        email: "ada@example.com",
      },
      overrides,
    );
  },
  /** The access token from the same sign-in: `client_id` and `token_use: access`, and no `aud`. */
  accessToken(overrides: JWTPayload = {}): Promise<string> {
    return COGNITO.idToken({
      aud: undefined,
      email: undefined,
      email_verified: undefined,
      "cognito:username": undefined,
      username: "ada",
      client_id: COGNITO.clientId,
      token_use: "access",
      scope: "aws.cognito.signin.user.admin",
      ...overrides,
    });
  },
};

/**
 * Cloudflare Access application tokens (the `Cf-Access-Jwt-Assertion` header
 * and the `CF_Authorization` cookie): RS256, a 64-hex kid, `aud` an array
 * holding the application's AUD tag.
 */
export const ACCESS = {
  issuer: "https://chatkit-demo.cloudflareaccess.com",
  /** The application's Application Audience (AUD) tag, 64 hex characters. */
  aud: "0b7e4c2f9a1d6e3b8c5f2a7d4e1b9c6f3a8d5e2b7c4f1a9e6d3b8c5f2a7e4d1b",
  sub: "7335d417-61da-459d-899c-0a01c76a2f94",
  key: await providerKey("RS256", "6b1f0c2e9a4d7b3f8e5c1a0d2f6b9e4c7a3d8f1b5e2c0a9d6f4b8e1c3a7d5f02"),
  appToken(overrides: JWTPayload = {}): Promise<string> {
    const now = nowSeconds();
    return sign(
      ACCESS.key,
      { typ: "JWT" },
      {
        aud: [ACCESS.aud],
        email: "ada@example.com",
        exp: now + 86_400,
        iat: now,
        nbf: now,
        iss: ACCESS.issuer,
        type: "app",
        identity_nonce: "6ei69kawdKzMIAPF",
        sub: ACCESS.sub,
        country: "GB",
      },
      overrides,
    );
  },
  /** A request authenticated with a service token: `common_name` is the token's client id and `sub` is empty. */
  serviceToken(): Promise<string> {
    return ACCESS.appToken({ email: undefined, identity_nonce: undefined, sub: "", common_name: "4f1d2c3b.access" });
  },
};

/** Okta custom authorization servers: RS256, a base64url kid, no `typ`; access tokens carry `uid`, `cid`, `scp`. */
export const OKTA = {
  issuer: "https://chatkit-demo.okta.com/oauth2/default",
  audience: "api://default",
  clientId: "0oa8k2j4m6n1p3q5r7s9",
  /** The Okta user id: stable, unlike the login in `sub`. */
  uid: "00u1a2b3c4d5e6f7g8h9",
  key: await providerKey("RS256", "Xq7nP2vR9kT4mW1zL8cB5yH3jF6dS0aG-eU_iO2pQrE"),
  accessToken(overrides: JWTPayload = {}): Promise<string> {
    const now = nowSeconds();
    return sign(
      OKTA.key,
      {},
      {
        ver: 1,
        jti: "AT.p3R9vX2kL7mQ8tW1nZ5cB4yH6jF0dS",
        iss: OKTA.issuer,
        aud: OKTA.audience,
        iat: now,
        exp: now + 3600,
        cid: OKTA.clientId,
        uid: OKTA.uid,
        scp: ["openid", "profile", "email"],
        auth_time: now - 60,
        sub: "ada@example.com",
      },
      overrides,
    );
  },
  /** The ID token from the same sign-in: `aud` is the client id and `sub` the user id. */
  idToken(): Promise<string> {
    return OKTA.accessToken({
      jti: "ID.q4S0wY3lM8nR9uX2oA6dC5zI7kG1eT",
      aud: OKTA.clientId,
      cid: undefined,
      uid: undefined,
      scp: undefined,
      sub: OKTA.uid,
      amr: ["pwd"],
      idp: "00o1b2c3d4e5f6g7h8i9",
      nonce: "bm9uY2UtZnJvbS10aGUtc3Bh",
      email: "ada@example.com",
      preferred_username: "ada@example.com",
    });
  },
  /** An org authorization server token: for Okta's own APIs, not meant to be validated by you. */
  orgServerToken(): Promise<string> {
    return OKTA.accessToken({ iss: "https://chatkit-demo.okta.com", aud: "https://chatkit-demo.okta.com" });
  },
  /** A client-credentials (service) token: `sub` is the client id and there is no user. */
  clientCredentialsToken(): Promise<string> {
    return OKTA.accessToken({ sub: OKTA.clientId, uid: undefined, scp: ["chat.sessions"], auth_time: undefined });
  },
};

/**
 * Microsoft Entra ID: RS256 with `x5t` equal to `kid` (a base64url SHA-1
 * thumbprint), and a JWKS whose members carry no `alg`.
 */
export const ENTRA = {
  tenantId: "3f2b8c1d-5e6a-4b7c-9d0e-1f2a3b4c5d6e",
  v2Issuer: "https://login.microsoftonline.com/3f2b8c1d-5e6a-4b7c-9d0e-1f2a3b4c5d6e/v2.0",
  v1Issuer: "https://sts.windows.net/3f2b8c1d-5e6a-4b7c-9d0e-1f2a3b4c5d6e/",
  /** The API app registration's application (client) id: `aud` of v2 tokens. */
  apiClientId: "8d4e2f1a-6b3c-4d5e-9f0a-1b2c3d4e5f60",
  /** The same registration's Application ID URI: `aud` of v1 tokens. */
  apiAppIdUri: "api://chatkit-gate",
  /** The SPA's own app registration, which requests the token. */
  spaClientId: "c5a1e3f7-2b4d-4e6f-8a0b-9c1d2e3f4a5b",
  /** The user's object id: the same for every app in the tenant. */
  oid: "a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d",
  key: await providerKey("RS256", "pQ9vZ2xK7mR4tW1nL8cB5yH3jF6", {
    use: "sig",
    x5t: "pQ9vZ2xK7mR4tW1nL8cB5yH3jF6",
    issuer: "https://login.microsoftonline.com/{tenantid}/v2.0",
  }),
  header(): Header {
    return { typ: "JWT", x5t: ENTRA.key.kid };
  },
  /** A v2 access token for the API, as MSAL gets it for scope `api://chatkit-gate/chat.access`. */
  v2AccessToken(overrides: JWTPayload = {}, header: Header = ENTRA.header()): Promise<string> {
    const now = nowSeconds();
    return sign(
      ENTRA.key,
      header,
      {
        aud: ENTRA.apiClientId,
        iss: ENTRA.v2Issuer,
        iat: now,
        nbf: now,
        exp: now + 4_500,
        aio: "AWQAm/8YAAAAx1y2z3",
        azp: ENTRA.spaClientId,
        azpacr: "0",
        name: "Ada Lovelace",
        oid: ENTRA.oid,
        preferred_username: "ada@contoso.example",
        rh: "1.AR8AjLwrPxpeDEudDh8qO0xdbg.",
        scp: "chat.access",
        // Pairwise: the same person has another sub in every app, so it is a poor user key.
        sub: "Hk2lN9tQx0vR7mW3pZ8cB1yJ4fG6dS5aE",
        tid: ENTRA.tenantId,
        uti: "xT3kP9vQ2mR7nW1zL8cB5y",
        ver: "2.0",
      },
      overrides,
    );
  },
  /** A v1 access token for the same API: what it gets while its manifest leaves accessTokenAcceptedVersion empty or 1. */
  v1AccessToken(overrides: JWTPayload = {}, header: Header = ENTRA.header()): Promise<string> {
    return ENTRA.v2AccessToken(
      {
        aud: ENTRA.apiAppIdUri,
        iss: ENTRA.v1Issuer,
        azp: undefined,
        azpacr: undefined,
        preferred_username: undefined,
        appid: ENTRA.spaClientId,
        appidacr: "0",
        amr: ["pwd", "mfa"],
        upn: "ada@contoso.example",
        unique_name: "ada@contoso.example",
        ver: "1.0",
        ...overrides,
      },
      header,
    );
  },
  /**
   * A Microsoft Graph token the SPA may also hold: v1, `aud` is Graph's app
   * id, and its header carries a `nonce` that only Graph can check.
   */
  graphToken(): Promise<string> {
    return ENTRA.v1AccessToken(
      { aud: "00000003-0000-0000-c000-000000000000", scp: "User.Read openid profile email" },
      { ...ENTRA.header(), nonce: "Qm9ndXNHcmFwaE5vbmNlVmFsdWU" },
    );
  },
  /** The ID token from the same sign-in: `aud` is the SPA's client id. */
  idToken(): Promise<string> {
    return ENTRA.v2AccessToken({
      aud: ENTRA.spaClientId,
      azp: undefined,
      azpacr: undefined,
      scp: undefined,
      nonce: "n-0S6_WzA2Mj",
    });
  },
  /**
   * An app-only token (client credentials) for the API: `oid` is the calling
   * service principal's, there is no `scp`, and `roles` lists app roles.
   */
  appOnlyToken(): Promise<string> {
    return ENTRA.v2AccessToken({
      azp: "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
      azpacr: "1",
      name: undefined,
      preferred_username: undefined,
      scp: undefined,
      roles: ["Sessions.Create"],
      oid: "f0e1d2c3-b4a5-4968-8776-655443322110",
      sub: "f0e1d2c3-b4a5-4968-8776-655443322110",
      idtyp: "app",
    });
  },
};

/** Google ID tokens (Sign-In, Identity Services): RS256, 40-hex kid, `aud` the OAuth client id. */
export const GOOGLE = {
  issuer: "https://accounts.google.com",
  clientId: "123456789012-abc123def456ghi789jkl012mno345pq.apps.googleusercontent.com",
  /** A numeric string, stable per Google account. */
  sub: "104857392017465839201",
  key: await providerKey("RS256", "c8e2a4f6b0d3e5a7c9f1b2d4e6a8c0f3b5d7e9a1"),
  idToken(overrides: JWTPayload = {}): Promise<string> {
    const now = nowSeconds();
    return sign(
      GOOGLE.key,
      { typ: "JWT" },
      {
        iss: GOOGLE.issuer,
        azp: GOOGLE.clientId,
        aud: GOOGLE.clientId,
        sub: GOOGLE.sub,
        email: "ada@example.com",
        email_verified: true,
        nbf: now - 300,
        name: "Ada Lovelace",
        picture: "https://lh3.googleusercontent.com/a/ACg8ocJ-example=s96-c",
        given_name: "Ada",
        family_name: "Lovelace",
        iat: now,
        exp: now + 3600,
        jti: "3f9a2c7e1b5d8f4a6c0e2b9d7f1a3c5e8b0d2f4a",
      },
      overrides,
    );
  },
};
