import { base64url, CompactEncrypt, compactDecrypt, decodeProtectedHeader, SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { GateError } from "../../src/http/errors";
import { signAssertion } from "../../src/selfhosted/assertion";
import {
  authenticateSecret,
  MAX_CLIENT_SECRET_LENGTH,
  MAX_OPENED_SECRETS,
  newSessionId,
  openClientSecret,
  readSecretBearer,
  type SessionGrant,
  sealClientSecret,
} from "../../src/selfhosted/client-secret";
import { type SecretFailure, secretError } from "../../src/selfhosted/failures";
import { keyringFor } from "../../src/selfhosted/signing-keys";
import { gateKeys, privateJwk, selfHosted } from "./support";

const NOW = 1_800_000_000;
const keyring = await keyringFor(selfHosted().signingKeys);

const alice: SessionGrant = {
  sessionId: "cksess_alice1",
  ownerKey: "b3duZXIta2V5LW9mLWFsaWNlLTAxMjM0NTY3ODkwMTI",
  user: "idp|alice",
  expiresAt: NOW + 600,
  workflow: { id: "wf_support", version: "7" },
  stateVariables: { plan: "pro" },
};
const bob: SessionGrant = {
  sessionId: "cksess_bob1",
  ownerKey: "b3duZXIta2V5LW9mLWJvYi0wMTIzNDU2Nzg5MDEyMzQ",
  user: "idp|bob",
  expiresAt: NOW + 600,
};

/** Replaces one character of segment `index` with another that decodes to different bytes. */
function tamper(secret: string, index: number, at = 0): string {
  const parts = secret.split(".");
  const segment = parts[index] as string;
  const swapped = segment[at] === "A" ? "Q" : "A";
  parts[index] = segment.slice(0, at) + swapped + segment.slice(at + 1);
  return parts.join(".");
}

/** A secret each run, since a tampered copy of a cached secret must still fail on its own. */
const fresh = (grant: SessionGrant = alice) => sealClientSecret(keyring, grant);

describe("Should issue an opaque secret that only this gate can open", () => {
  it("opens to exactly the grant it sealed", async () => {
    expect(await openClientSecret(keyring, await fresh(), NOW)).toEqual(alice);
    expect(await openClientSecret(keyring, await fresh(bob), NOW)).toEqual(bob);
  });

  it("is a compact JWE, dir + A256GCM, under the current kid, that jose opens too", async () => {
    const secret = await fresh();
    expect(secret.split(".").map((part) => part.length > 0)).toEqual([true, false, true, true, true]);
    expect(decodeProtectedHeader(secret)).toEqual({ alg: "dir", enc: "A256GCM", kid: "gate-2026-12" });
    const key = keyring.secretKeys.get("gate-2026-12") as CryptoKey;
    const { plaintext } = await compactDecrypt(secret, key, {
      keyManagementAlgorithms: ["dir"],
      contentEncryptionAlgorithms: ["A256GCM"],
    });
    expect(JSON.parse(new TextDecoder().decode(plaintext))).toEqual({
      sid: alice.sessionId,
      own: alice.ownerKey,
      sub: alice.user,
      exp: alice.expiresAt,
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      wf: alice.workflow,
      sv: alice.stateVariables,
    });
  });

  it("shows nothing of the session or the user, and differs every time", async () => {
    const secrets = await Promise.all([fresh(), fresh(), fresh()]);
    expect(new Set(secrets).size).toBe(3);
    for (const secret of secrets) {
      for (const clear of [alice.sessionId, alice.ownerKey, "alice", "wf_support", "plan"]) {
        expect(secret).not.toContain(clear);
        expect(secret).not.toContain(base64url.encode(clear).slice(0, 8));
      }
    }
  });

  it("makes session ids with 128 random bits in the cksess_ shape", () => {
    const ids = new Set(Array.from({ length: 50 }, newSessionId));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^cksess_[A-Za-z0-9_-]{22}$/);
  });

  it("refuses to issue a secret too large to send", async () => {
    const huge = { ...bob, stateVariables: { blob: "x".repeat(MAX_CLIENT_SECRET_LENGTH) } };
    await expect(sealClientSecret(keyring, huge)).rejects.toMatchObject({ code: "invalid_request", status: 400 });
  });
});

describe("Should refuse every forged, damaged or stale secret with its reason", () => {
  const jwsHeader = (alg: string) => base64url.encode(JSON.stringify({ alg, kid: "gate-2026-12" }));
  const cases: Array<[string, () => Promise<string>, SecretFailure]> = [
    ["tampered ciphertext", async () => tamper(await fresh(), 3, 5), "undecryptable"],
    ["tampered tag", async () => tamper(await fresh(), 4, 3), "undecryptable"],
    ["tampered iv", async () => tamper(await fresh(), 2, 2), "undecryptable"],
    [
      "a header swapped for the previous key's kid",
      async () => {
        const [, ...rest] = (await fresh()).split(".");
        const header = base64url.encode(JSON.stringify({ alg: "dir", enc: "A256GCM", kid: "gate-2026-06" }));
        return [header, ...rest].join(".");
      },
      "undecryptable",
    ],
    [
      "a tag with non-canonical trailing bits (same bytes, other text)",
      async () => {
        const parts = (await fresh()).split(".");
        const tag = parts[4] as string;
        const last = "AEIMQUYcgkosw048".indexOf(tag.at(-1) as string);
        parts[4] = tag.slice(0, -1) + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last * 4 + 1];
        return parts.join(".");
      },
      "malformed",
    ],
    ["the tag cut off", async () => (await fresh()).split(".").slice(0, 4).join("."), "truncated"],
    ["the tag cut short", async () => (await fresh()).slice(0, -4), "truncated"],
    ["only the header", async () => (await fresh()).split(".")[0] as string, "truncated"],
    ["cut inside the header", async () => (await fresh()).slice(0, 10), "malformed"],
    ["an encrypted key segment", async () => (await fresh()).replace("..", ".AAAA."), "malformed"],
    ["a sixth segment", async () => `${await fresh()}.AAAA`, "malformed"],
    [
      "sealed by another gate under the same kid",
      async () => sealClientSecret(await keyringFor(selfHosted([gateKeys.stranger]).signingKeys), alice),
      "undecryptable",
    ],
    [
      "sealed under a kid this gate does not hold",
      async () => sealClientSecret(await keyringFor(selfHosted([await privateJwk("elsewhere")]).signingKeys), alice),
      "unknown_key",
    ],
    ["alg none", async () => new UnsecuredJWT({ sid: "cksess_x", sub: "idp|alice" }).encode(), "algorithm"],
    [
      "a JWS: the user's own IdP-style token",
      async () =>
        new SignJWT({ sub: "alice" })
          .setProtectedHeader({ alg: "ES256", kid: "gate-2026-12" })
          .sign(keyring.signer.key),
      "algorithm",
    ],
    [
      "a JWS: an assertion of this gate",
      async () =>
        signAssertion(
          keyring,
          { requestUrl: "https://g.test/", audience: "a", user: "idp|alice", sessionId: "cksess_x" },
          NOW,
        ),
      "algorithm",
    ],
    ["a JWS header with an empty signature", async () => `${jwsHeader("HS256")}.e30.`, "algorithm"],
    [
      "a JWE with another enc, under the right kid",
      async () =>
        new CompactEncrypt(new TextEncoder().encode("{}"))
          .setProtectedHeader({ alg: "dir", enc: "A128GCM", kid: "gate-2026-12" })
          .encrypt(new Uint8Array(16)),
      "algorithm",
    ],
    [
      "a JWE with key wrapping",
      async () =>
        new CompactEncrypt(new TextEncoder().encode("{}"))
          .setProtectedHeader({ alg: "A256KW", enc: "A256GCM", kid: "gate-2026-12" })
          .encrypt(new Uint8Array(32)),
      "algorithm",
    ],
    ["random text", async () => "not-a-secret", "malformed"],
    ["too long", async () => "A".repeat(MAX_CLIENT_SECRET_LENGTH + 1), "too_large"],
    ["expired", async () => fresh({ ...alice, expiresAt: NOW }), "expired"],
  ];

  it.each(cases)("%s", async (_name, make, reason) => {
    const secret = await make();
    expect(await openClientSecret(keyring, secret, NOW)).toBe(reason);
    const refused = await authenticateSecret(keyring, `Bearer ${secret}`, NOW).catch((e) => e);
    expect(refused).toBeInstanceOf(GateError);
    expect(refused).toMatchObject({
      status: 401,
      code: "invalid_token",
      headers: { "WWW-Authenticate": 'Bearer realm="chatkit-gate", error="invalid_token"' },
    });
  });

  it("another user's secret opens to that user's session and owner, never the caller's", async () => {
    // /chatkit knows the caller only through the secret: the wiring looks the record up under
    // session:<own>:<sid> from the secret, so bob's secret can only ever reach bob's record.
    const grant = await openClientSecret(keyring, await fresh(bob), NOW);
    expect(grant).toEqual(bob);
    expect(grant).not.toMatchObject({ ownerKey: alice.ownerKey });
  });

  it("a secret of a key rotated out, even after it was opened and cached under the old keys", async () => {
    const before = await keyringFor(selfHosted([gateKeys.previous]).signingKeys);
    const secret = await sealClientSecret(before, alice);
    expect(await openClientSecret(before, secret, NOW)).toEqual(alice);
    const after = await keyringFor(selfHosted([gateKeys.current]).signingKeys);
    expect(await openClientSecret(after, secret, NOW)).toBe("unknown_key");
  });

  it("a secret of the previous key still opens while that key is configured", async () => {
    const before = await keyringFor(selfHosted([gateKeys.previous]).signingKeys);
    expect(await openClientSecret(keyring, await sealClientSecret(before, bob), NOW)).toEqual(bob);
  });
});

describe("Should cache opened secrets without ever accepting more than a fresh open", () => {
  it("expiry is checked on every use, cached or not", async () => {
    const secret = await fresh();
    expect(await openClientSecret(keyring, secret, alice.expiresAt - 1)).toEqual(alice);
    expect(await openClientSecret(keyring, secret, alice.expiresAt - 1)).toEqual(alice);
    expect(await openClientSecret(keyring, secret, alice.expiresAt)).toBe("expired");
    expect(await openClientSecret(keyring, secret, alice.expiresAt - 1)).toEqual(alice);
  });

  it("a tampered copy of a cached secret is still refused", async () => {
    const secret = await fresh();
    expect(await openClientSecret(keyring, secret, NOW)).toEqual(alice);
    expect(await openClientSecret(keyring, tamper(secret, 3, 1), NOW)).toBe("undecryptable");
  });

  it("a secret evicted from a full cache opens again by decryption", async () => {
    const first = await fresh();
    expect(await openClientSecret(keyring, first, NOW)).toEqual(alice);
    for (let i = 0; i <= MAX_OPENED_SECRETS; i++) await openClientSecret(keyring, await fresh(bob), NOW);
    expect(await openClientSecret(keyring, first, NOW)).toEqual(alice);
    expect(await openClientSecret(keyring, tamper(first, 4, 0), NOW)).toBe("undecryptable");
  });
});

describe("Should read the secret from the Authorization header", () => {
  it.each([
    [undefined, "absent"],
    ["", "absent"],
    ["   ", "absent"],
    ["Basic YWxpY2U6cHc=", "malformed"],
    ["Bearer", "malformed"],
    ["Bearer a b", "malformed"],
    ["a header longer than any secret", "too_large"],
  ])("%j: %s", (label, reason) => {
    const header =
      label === "a header longer than any secret" ? `Bearer ${"A".repeat(MAX_CLIENT_SECRET_LENGTH + 16)}` : label;
    expect(readSecretBearer(header)).toBe(reason);
  });

  it("accepts any case of the scheme", async () => {
    const secret = await fresh();
    expect(readSecretBearer(`bearer ${secret}`)).toBe(secret);
    expect(await authenticateSecret(keyring, `BEARER  ${secret} `, NOW)).toEqual(alice);
  });

  it("a missing header gets the challenge without an error parameter (RFC 6750 §3.1)", async () => {
    const refused = await authenticateSecret(keyring, null, NOW).catch((e) => e);
    expect(refused).toMatchObject({
      status: 401,
      code: "invalid_token",
      headers: { "WWW-Authenticate": 'Bearer realm="chatkit-gate"' },
    });
    expect(secretError("revoked")).toMatchObject({
      status: 401,
      message: "The session has ended; start a new session",
    });
  });
});
