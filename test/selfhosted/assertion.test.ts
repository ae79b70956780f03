import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { ASSERTION_LIFETIME_SECONDS, type AssertionInput, signAssertion } from "../../src/selfhosted/assertion";
import { keyringFor, publicJwks } from "../../src/selfhosted/signing-keys";
import { gateKeys, selfHosted } from "./support";

const NOW = 1_800_000_000;
const config = selfHosted();
const keyring = await keyringFor(config.signingKeys);
const published = createLocalJWKSet(publicJwks(config.signingKeys));

const input: AssertionInput = {
  requestUrl: "https://gate.example.com/chatkit?x=1",
  audience: "https://chat.example.com",
  user: "idp|alice",
  sessionId: "cksess_abc",
  workflow: { id: "wf_support", version: "7" },
  stateVariables: { plan: "pro", locale: "de", seats: 3, beta: true },
};

/** Verifies as a ChatKit server would: against the published keys, ES256 only, issuer and audience pinned. */
const verify = (token: string, now = NOW) =>
  jwtVerify(token, published, {
    algorithms: ["ES256"],
    issuer: "https://gate.example.com",
    audience: "https://chat.example.com",
    currentDate: new Date(now * 1000),
  });

describe("Should sign an assertion a server verifies with the published keys", () => {
  it("with exactly the documented claims", async () => {
    const token = await signAssertion(keyring, input, NOW);
    const { payload, protectedHeader } = await verify(token);

    expect(protectedHeader).toEqual({ alg: "ES256", kid: "gate-2026-12", typ: "JWT" });
    expect(payload).toEqual({
      iss: "https://gate.example.com",
      aud: "https://chat.example.com",
      sub: "idp|alice",
      sid: "cksess_abc",
      iat: NOW,
      exp: NOW + ASSERTION_LIFETIME_SECONDS,
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      workflow: { id: "wf_support", version: "7" },
      state_variables: { plan: "pro", locale: "de", seats: 3, beta: true },
    });
    expect(ASSERTION_LIFETIME_SECONDS).toBeLessThanOrEqual(300);
  });

  it("with a new jti on every request", async () => {
    const jtis = new Set<unknown>();
    for (let i = 0; i < 20; i++) jtis.add((await verify(await signAssertion(keyring, input, NOW))).payload.jti);
    expect(jtis.size).toBe(20);
  });

  it("without workflow or state_variables when the session has none", async () => {
    const token = await signAssertion(
      keyring,
      {
        requestUrl: "http://localhost:8788/chatkit",
        audience: input.audience,
        user: "anon|x",
        sessionId: "cksess_1",
        stateVariables: {},
      },
      NOW,
    );
    const { payload } = await jwtVerify(token, published, { currentDate: new Date(NOW * 1000) });
    expect(Object.keys(payload).sort()).toEqual(["aud", "exp", "iat", "iss", "jti", "sid", "sub"]);
    expect(payload.iss).toBe("http://localhost:8788");
  });

  it("with a workflow that has no version", async () => {
    const token = await signAssertion(keyring, { ...input, workflow: { id: "wf_sales" } }, NOW);
    expect((await verify(token)).payload.workflow).toEqual({ id: "wf_sales" });
  });

  it("signed with the first key after a rotation, verifiable while the old key is still published", async () => {
    const rotated = selfHosted([gateKeys.previous, gateKeys.current]);
    const token = await signAssertion(await keyringFor(rotated.signingKeys), input, NOW);
    expect(decodeProtectedHeader(token).kid).toBe("gate-2026-06");
    await expect(verify(token)).resolves.toBeDefined();
  });
});

describe("Should make an assertion useless elsewhere", () => {
  it("refused once its lifetime is over", async () => {
    const token = await signAssertion(keyring, input, NOW);
    await expect(verify(token, NOW + ASSERTION_LIFETIME_SECONDS)).rejects.toBeInstanceOf(errors.JWTExpired);
  });

  it("refused by another audience", async () => {
    const token = await signAssertion(keyring, input, NOW);
    await expect(
      jwtVerify(token, published, { audience: "https://other.example.com", currentDate: new Date(NOW * 1000) }),
    ).rejects.toBeInstanceOf(errors.JWTClaimValidationFailed);
  });

  it("refused by a server that trusts another gate's keys", async () => {
    const token = await signAssertion(keyring, input, NOW);
    const strangers = createLocalJWKSet(publicJwks(selfHosted([gateKeys.stranger]).signingKeys));
    await expect(jwtVerify(token, strangers, { currentDate: new Date(NOW * 1000) })).rejects.toBeInstanceOf(
      errors.JWSSignatureVerificationFailed,
    );
  });
});
