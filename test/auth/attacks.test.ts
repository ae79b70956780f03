import { exportJWK, exportSPKI, importJWK, SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_TOKEN_LENGTH } from "../../src/auth/token";
import { callWith } from "../support/app";
import { call, clearKv, kvEntries } from "../support/http";
import { b64url, compact, segment, tamper } from "../support/jwt";
import { ISSUER, keys, mintToken, nowSeconds, Peers } from "../support/peers";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

const claims = () => ({ iss: ISSUER, aud: "chatkit-gate", sub: "alice", iat: nowSeconds(), exp: nowSeconds() + 300 });
const hs256 = (secret: Uint8Array, extra: Record<string, unknown> = {}) =>
  new SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: keys.rs256.kid, ...extra }).sign(secret);

/** Each builds a token that must be refused with 401 invalid_token before anything reaches ChatKit. */
const refused: Array<[string, () => Promise<string> | string]> = [
  ...["none", "None", "NONE", "nOnE"].map(
    (alg) => [`alg ${alg}, unsigned`, () => compact({ alg, typ: "JWT" }, claims())] as [string, () => string],
  ),
  ["alg none with a kid and a bogus signature", () => compact({ alg: "none", kid: keys.rs256.kid }, claims(), "c2ln")],
  [
    "HS256 signed with the RSA public key PEM",
    async () => hs256(new TextEncoder().encode(await exportSPKI(keys.rs256.publicKey))),
  ],
  [
    "HS256 signed with the public JWK as the secret",
    () => hs256(new TextEncoder().encode(JSON.stringify(keys.rs256.jwk))),
  ],
  ["HS256 signed with the JWK's modulus", () => hs256(new TextEncoder().encode(keys.rs256.jwk.n as string))],
  ["RS512, a real algorithm outside the allowlist", () => signAs("RS512")],
  ["PS256 over a published RSA key", () => signAs("PS256")],
  ["unknown kid", () => mintToken({}, { key: { ...keys.unpublished, kid: "no-such-kid" } })],
  ["published kid, unpublished key", () => mintToken({}, { key: keys.unpublished })],
  ["tampered RS256 signature", async () => tamper(await mintToken())],
  ["tampered payload, original signature", async () => swapPayload(await mintToken(), { ...claims(), sub: "bob" })],
  [
    "ES256 all-zero signature",
    () => compact({ alg: "ES256", kid: keys.es256.kid }, claims(), b64url(new Uint8Array(64))),
  ],
  [
    "ES256 signature of the wrong length",
    () => compact({ alg: "ES256", kid: keys.es256.kid }, claims(), b64url(new Uint8Array(8))),
  ],
  ["jku header", () => mintToken({}, { header: { jku: "https://evil.example/keys" } })],
  ["x5u header", () => mintToken({}, { header: { x5u: "https://evil.example/cert.pem" } })],
  ["embedded jwk header", () => mintToken({}, { header: { jwk: keys.rs256.jwk } })],
  ["embedded jwk without alg", () => mintToken({}, { header: { jwk: { ...keys.rs256.jwk, alg: undefined } } })],
  ["unknown crit extension", () => signRaw({ crit: ["exp-policy"], "exp-policy": 1 }, JSON.stringify(claims()))],
  // Tokens for another use, signed by the same IdP with the same keys: the typ says so (RFC 8725 §3.11).
  ...["logout+jwt", "secevent+jwt", "dpop+jwt", "application/logout+jwt", "id_token+jwt", "JWE", ""].map(
    (typ) =>
      [`typ ${JSON.stringify(typ)}`, () => mintToken({}, { header: { typ } })] as [string, () => Promise<string>],
  ),
  ["typ that is not a string", () => mintToken({}, { header: { typ: 1 } })],
  ["expired beyond the 30 s tolerance", () => mintToken({ exp: nowSeconds() - 31 })],
  ["nbf beyond the tolerance", () => mintToken({ nbf: nowSeconds() + 60 })],
  ["iat beyond the tolerance", () => mintToken({ iat: nowSeconds() + 60 })],
  ["missing exp", () => mintToken({ exp: undefined })],
  ["exp as a string", () => mintToken({ exp: String(nowSeconds() + 300) as unknown as number })],
  ["issuer with a trailing slash", () => mintToken({ iss: `${ISSUER}/` })],
  ["issuer over http", () => mintToken({ iss: ISSUER.replace("https:", "http:") })],
  ["issuer in another case", () => mintToken({ iss: ISSUER.toUpperCase() })],
  ["a real but unconfigured tenant", () => mintToken({ iss: "https://other-tenant.test" })],
  ["missing iss", () => mintToken({ iss: undefined })],
  ["wrong audience", () => mintToken({ aud: "someone-else" })],
  ["audience array without ours", () => mintToken({ aud: ["a", "b"] })],
  ["empty audience array", () => mintToken({ aud: [] })],
  ["missing aud", () => mintToken({ aud: undefined })],
  ["audience prefix of ours", () => mintToken({ aud: "chatkit" })],
  ["user claim missing", () => mintToken({ sub: undefined })],
  ["user claim empty", () => mintToken({ sub: "" })],
  ["user claim blank", () => mintToken({ sub: "   " })],
  ["user claim numeric", () => mintToken({ sub: 42 as unknown as string })],
  ["user claim an object", () => mintToken({ sub: { id: "alice" } as unknown as string })],
  ["user claim with a control character", () => mintToken({ sub: "alice\u0000bob" })],
  ["user claim 257 characters", () => mintToken({ sub: "a".repeat(257) })],
  ["oversized token", () => mintToken({ pad: "x".repeat(MAX_TOKEN_LENGTH) })],
  ["payload JSON that is an array", () => signRaw({}, "[1,2,3]")],
  ["payload JSON that is a string", () => signRaw({}, '"alice"')],
  ["payload that is not JSON", () => signRaw({}, "not json")],
  ["header that is not JSON", () => `${b64url("not json")}.${segment(claims())}.c2ln`],
  ["bad base64 characters", () => `${segment({ alg: "RS256" })}.ab$c.c2ln`],
  ["two parts", async () => (await mintToken()).split(".").slice(0, 2).join(".")],
  ["four parts", async () => `${await mintToken()}.extra`],
  ["five parts (JWE shape)", () => "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"],
  ["a random string", () => "not-a-jwt"],
];

/** The published RSA key's private half, re-imported for another RSA algorithm. */
async function signAs(alg: "RS512" | "PS256"): Promise<string> {
  const jwk = await exportJWK(keys.rs256.privateKey);
  const key = await importJWK({ ...jwk, alg }, alg);
  return new SignJWT(claims()).setProtectedHeader({ alg, kid: keys.rs256.kid }).sign(key);
}

/** A correctly RS256-signed token over any header and payload bytes, bypassing jose's checks. */
async function signRaw(header: Record<string, unknown>, payload: string): Promise<string> {
  const input = `${segment({ alg: "RS256", kid: keys.rs256.kid, ...header })}.${b64url(payload)}`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    keys.rs256.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

function swapPayload(token: string, payload: unknown): string {
  const [header, , signature] = token.split(".");
  return `${header}.${segment(payload)}.${signature}`;
}

describe("Should not authorize a forged, broken or foreign token", () => {
  it.each(refused)("%s", async (_name, build) => {
    const token = await build();
    const response = await call("POST", "/v1/chatkit/sessions", { token });

    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="chatkit-gate", error="invalid_token"');
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("invalid_token");
    expect(body.error.message).not.toContain(token.slice(0, 20));
    expect(peers.upstreamCalls()).toEqual([]);
    expect(await kvEntries()).toEqual([]);
  });

  it("has a corpus of at least 30 cases", () => {
    expect(refused.length).toBeGreaterThanOrEqual(30);
  });
});

describe("Should authorize a valid token at the edges of the rules", () => {
  const accepted: Array<[string, () => Promise<string>]> = [
    ["RS256", () => mintToken()],
    ["ES256", () => mintToken({}, { key: keys.es256 })],
    ["expired but within the tolerance", () => mintToken({ exp: nowSeconds() - 20 })],
    ["nbf within the tolerance", () => mintToken({ nbf: nowSeconds() + 20 })],
    ["iat within the tolerance", () => mintToken({ iat: nowSeconds() + 20 })],
    ["no iat at all", () => mintToken({ iat: undefined })],
    ["audience array that contains ours", () => mintToken({ aud: ["someone-else", "chatkit-gate"] })],
    ["the second configured audience", () => mintToken({ aud: "other-api" })],
    ["user claim of exactly 256 characters", () => mintToken({ sub: "a".repeat(256) })],
    ...["JWT", "jwt", "at+jwt", "AT+JWT", "application/jwt", "Application/At+JWT"].map(
      (typ) => [`typ ${typ}`, () => mintToken({}, { header: { typ } })] as [string, () => Promise<string>],
    ),
    ["no typ at all", () => mintToken({}, { header: { typ: undefined } })],
    // Control for the hand-signed cases above: the raw signer itself yields tokens that verify.
    ["hand-signed with the raw signer", () => signRaw({}, JSON.stringify(claims()))],
  ];

  it.each(accepted)("%s", async (_name, build) => {
    const response = await call("POST", "/v1/chatkit/sessions", { token: await build() });

    expect(response.status).toBe(201);
    expect(peers.upstreamCalls()).toHaveLength(1);
    expect(await kvEntries()).toHaveLength(1);
  });
});

describe("Should ask for a token when none is sent", () => {
  it.each([
    ["no Authorization header", {}],
    ["an empty Authorization header", { authorization: "" }],
  ])("%s: 401 without an error parameter (RFC 6750 §3.1)", async (_name, headers) => {
    const response = await call("GET", "/v1/chatkit/sessions", { headers });

    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="chatkit-gate"');
    expect(await response.json()).toEqual({
      error: { code: "invalid_token", message: "Send the user's token as Authorization: Bearer <JWT>" },
    });
    expect(peers.calls).toEqual([]);
  });

  it.each([
    ["another scheme", "Basic YWxpY2U6cHc="],
    ["the bare scheme", "Bearer"],
    ["two tokens", "Bearer a.b.c d.e.f"],
  ])("%s: 401 invalid_token", async (_name, authorization) => {
    const response = await call("GET", "/v1/chatkit/sessions", { headers: { authorization } });

    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="chatkit-gate", error="invalid_token"');
    expect(peers.calls).toEqual([]);
  });
});

describe("Should not let an unverified email take over another user's threads", () => {
  const byEmail = { env: { AUTH_USER_CLAIM: "email" } };
  const alice = (claims: Record<string, unknown> = {}) =>
    mintToken({ sub: "alice-id", email: "alice@example.com", email_verified: true, ...claims });

  it.each([
    ["email_verified false", { email_verified: false }],
    ["email_verified missing", { email_verified: undefined }],
    ['email_verified "true" (a string)', { email_verified: "true" }],
  ])("sub attacker, email alice's, %s: 401, nothing upstream, alice's sessions not listed", async (_name, claims) => {
    const created = await callWith(byEmail, "POST", "/v1/chatkit/sessions", { token: await alice() });
    expect(created.status).toBe(201);
    const before = await kvEntries();
    const upstreamBefore = peers.upstreamCalls().length;
    const attacker = await mintToken({ sub: "attacker", email: "alice@example.com", ...claims });

    const listed = await callWith(byEmail, "GET", "/v1/chatkit/sessions", { token: attacker });
    const create = await callWith(byEmail, "POST", "/v1/chatkit/sessions", { token: attacker });

    for (const response of [listed, create]) {
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="chatkit-gate", error="invalid_token"');
      const body = (await response.json()) as { data?: unknown; error: { code: string } };
      expect(body.error.code).toBe("invalid_token");
      expect(body.data).toBeUndefined();
    }
    expect(peers.upstreamCalls()).toHaveLength(upstreamBefore);
    expect(await kvEntries()).toEqual(before);
  });

  it("maps a verified email, and one whose provider opted out with AUTH_ALLOW_UNVERIFIED_EMAIL", async () => {
    const verified = await callWith(byEmail, "POST", "/v1/chatkit/sessions", { token: await alice() });
    const optedOut = await callWith(
      { env: { ...byEmail.env, AUTH_ALLOW_UNVERIFIED_EMAIL: "true" } },
      "POST",
      "/v1/chatkit/sessions",
      { token: await alice({ email_verified: undefined }) },
    );

    expect([verified.status, optedOut.status]).toEqual([201, 201]);
    expect(peers.upstreamCalls().map((c) => (c.body as { user: string }).user)).toEqual([
      "idp|alice@example.com",
      "idp|alice@example.com",
    ]);
  });
});
