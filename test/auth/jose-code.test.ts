import { errors, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { joseCode } from "../../src/auth/jose-code";

describe("joseCode", () => {
  it("reads the stable code of jose's own errors", async () => {
    const key = new TextEncoder().encode("k".repeat(32));
    const failure = await jwtVerify("a.b.c", key).catch((error: unknown) => error);
    expect(joseCode(failure)).toBe("ERR_JWS_INVALID");
    expect(joseCode(new errors.JWTExpired("expired", {}))).toBe("ERR_JWT_EXPIRED");
    expect(joseCode(new errors.JWSSignatureVerificationFailed())).toBe("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
  });

  it("is undefined for anything that is not a jose error", () => {
    expect(joseCode(new Error("boom"))).toBeUndefined();
    expect(joseCode(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBeUndefined();
    expect(joseCode(Object.assign(new Error("x"), { code: 42 }))).toBeUndefined();
    expect(joseCode(null)).toBeUndefined();
    expect(joseCode(undefined)).toBeUndefined();
    expect(joseCode("ERR_JWT_EXPIRED")).toBeUndefined();
  });
});
