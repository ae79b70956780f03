import { decodeProtectedHeader, errors, jwtVerify } from "jose";
import type { AuthConfig } from "../config/config";
import { userFromClaims } from "./claims";
import { AuthFailed, type AuthFailure } from "./failures";
import { KeysUnavailable, keyResolverFor } from "./keys";

/** Header parameters that point at a key. Honouring them lets a token bring its own key, so they are refused outright. */
const KEY_LOCATING_HEADERS = ["jku", "x5u", "jwk", "x5c"] as const;

const USER_FAILURES = {
  missing: "user_missing",
  not_string: "user_not_string",
  empty: "user_empty",
  invalid: "user_invalid",
  too_long: "user_too_long",
} as const satisfies Record<string, AuthFailure>;

/**
 * Verifies a compact JWT against the configured issuer and returns the
 * ChatKit `user` it maps to. Throws {@link AuthFailed} with the reason.
 *
 * @param nowSeconds the current unix time, injected so tests control the clock
 */
export async function verifyToken(token: string, auth: AuthConfig, nowSeconds: number): Promise<string> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new AuthFailed("malformed");
  }
  if (KEY_LOCATING_HEADERS.some((name) => Object.hasOwn(header, name))) throw new AuthFailed("forbidden_header");
  if (typeof header.alg !== "string" || !auth.algorithms.includes(header.alg)) throw new AuthFailed("algorithm");

  let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
  try {
    const getKey = await keyResolverFor(auth.issuer, auth.jwksUrl);
    ({ payload } = await jwtVerify(token, getKey, {
      issuer: auth.issuer,
      audience: [...auth.audiences],
      algorithms: [...auth.algorithms],
      clockTolerance: auth.clockToleranceSeconds,
      requiredClaims: ["exp"],
      currentDate: new Date(nowSeconds * 1000),
    }));
  } catch (error) {
    throw new AuthFailed(classify(error));
  }
  // jose checks `iat` only together with maxTokenAge; a token from the future means a forged or broken clock.
  if (typeof payload.iat === "number" && payload.iat > nowSeconds + auth.clockToleranceSeconds) {
    throw new AuthFailed("issued_in_future");
  }
  const user = userFromClaims(payload, auth.userClaim, auth.userPrefix);
  if (!user.ok) throw new AuthFailed(USER_FAILURES[user.reason]);
  return user.user;
}

function classify(error: unknown): AuthFailure {
  if (error instanceof KeysUnavailable) return "keys_unavailable";
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iss") return "issuer";
    if (error.claim === "aud") return "audience";
    if (error.claim === "nbf") return "not_yet_valid";
    return "claims";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return "signature";
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
    return "unknown_key";
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return "algorithm";
  // Anything else (bad base64, JSON that is not an object, bad crit, ...) is a malformed token: fail closed.
  return "malformed";
}
