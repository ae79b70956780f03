import { describe, expect, it } from "vitest";
import { userFromClaims } from "../../src/auth/claims";

describe("userFromClaims", () => {
  it.each([
    ["a top-level claim", { sub: "u1" }, ["sub"], "", "u1"],
    ["a nested claim", { user: { id: "u2" } }, ["user", "id"], "", "u2"],
    ["a namespaced claim name", { "https://example.com/uid": "u3" }, ["https://example.com/uid"], "", "u3"],
    ["with a prefix", { sub: "u4" }, ["sub"], "auth0|", "auth0|u4"],
  ])("maps %s", (_name, payload, path, prefix, user) => {
    expect(userFromClaims(payload, { path, prefix })).toEqual({ ok: true, user, claim: user.slice(prefix.length) });
  });

  it.each([
    ["a missing nested parent", { sub: "x" }, ["user", "id"], "missing"],
    ["an array on the path", { user: ["id"] }, ["user", "0"], "missing"],
    ["an inherited property", {}, ["toString"], "missing"],
    ["null", { sub: null }, ["sub"], "missing"],
    ["a number", { sub: 7 }, ["sub"], "not_string"],
    ["a boolean", { sub: true }, ["sub"], "not_string"],
    ["an empty string", { sub: "" }, ["sub"], "empty"],
    ["a newline", { sub: "a\nb" }, ["sub"], "invalid"],
    ["257 characters", { sub: "x".repeat(257) }, ["sub"], "too_long"],
  ])("refuses %s", (_name, payload, path, reason) => {
    expect(userFromClaims(payload as never, { path, prefix: "" })).toEqual({ ok: false, reason });
  });
});

describe("userFromClaims with an email claim that must be verified", () => {
  const email = { path: ["email"], prefix: "g|", requireVerifiedEmail: true };

  it("maps an email whose email_verified is true", () => {
    expect(userFromClaims({ email: "alice@example.com", email_verified: true }, email)).toEqual({
      ok: true,
      user: "g|alice@example.com",
      claim: "alice@example.com",
    });
  });

  it.each([
    ["false", false],
    ["missing", undefined],
    ['the string "true"', "true"],
    ["1", 1],
    ["null", null],
  ])("refuses an email whose email_verified is %s", (_name, verified) => {
    expect(userFromClaims({ email: "alice@example.com", email_verified: verified } as never, email)).toEqual({
      ok: false,
      reason: "email_unverified",
    });
  });

  it("maps an unverified email when the provider opted out", () => {
    expect(userFromClaims({ email: "alice@example.com" }, { ...email, requireVerifiedEmail: false })).toMatchObject({
      ok: true,
      user: "g|alice@example.com",
    });
  });
});
