import { describe, expect, it } from "vitest";
import { GateError } from "../../src/http/errors";
import { keyringFor, publicJwks } from "../../src/selfhosted/signing-keys";
import { gateKeys, selfHosted } from "./support";

describe("Should publish only public keys", () => {
  it("every configured key, signing key first, with kid, alg ES256 and use sig", () => {
    const config = selfHosted();
    expect(publicJwks(config.signingKeys)).toEqual({
      keys: [gateKeys.current, gateKeys.previous].map(({ x, y, kid }) => ({
        kty: "EC",
        crv: "P-256",
        x,
        y,
        kid,
        alg: "ES256",
        use: "sig",
      })),
    });
  });

  it("never a private member, even when the pasted JWK had extra ones", () => {
    const pasted = { ...gateKeys.current, key_ops: ["sign"], ext: true, p: "x", q: "y", k: "z" };
    const text = JSON.stringify(publicJwks(selfHosted([pasted]).signingKeys));
    for (const member of ['"d"', '"k"', '"p"', '"q"', '"key_ops"', gateKeys.current.d]) {
      expect(text).not.toContain(member);
    }
  });
});

describe("Should import the keys once per configuration", () => {
  it("the first key signs and seals; every key opens secrets", async () => {
    const config = selfHosted();
    const keyring = await keyringFor(config.signingKeys);
    expect(keyring.signer.kid).toBe("gate-2026-12");
    expect(keyring.sealingKid).toBe("gate-2026-12");
    expect([...keyring.secretKeys.keys()]).toEqual(["gate-2026-12", "gate-2026-06"]);
    expect(keyring.signer.key.extractable).toBe(false);
    expect(keyringFor(config.signingKeys)).toBe(keyringFor(config.signingKeys));
  });

  it("a key whose d does not match its x and y is config_invalid, naming only its position", async () => {
    const mismatched = { ...gateKeys.previous, x: gateKeys.current.x, y: gateKeys.current.y };
    const failure = await keyringFor(selfHosted([gateKeys.current, mismatched]).signingKeys).catch((e) => e);
    expect(failure).toBeInstanceOf(GateError);
    expect(failure).toMatchObject({
      code: "config_invalid",
      status: 503,
      message: "GATE_SIGNING_KEY key #2 is not a usable P-256 private key",
    });
  });
});
