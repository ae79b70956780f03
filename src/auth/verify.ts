import { decodeJwt, decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import type { AuthConfig } from "../config/auth";
import { userFromClaims } from "./claims";
import { hmacKey } from "./encoding";
import { AuthFailed, type AuthFailure } from "./failures";
import { type Identity, identityFor } from "./identity";
import { joseCode } from "./jose-code";
import { type KeyPersistence, type KeyStamp, KeysUnavailable, verifyWithProviderKeys } from "./keys";

/** Header parameters that point at a key. Honouring them lets a token bring its own key, so they are refused outright. */
const KEY_LOCATING_HEADERS = ["jku", "x5u", "jwk", "x5c"] as const;

/**
 * `typ` values of tokens meant to authenticate a user to an API: plain JWTs
 * (ID tokens and most access tokens) and RFC 9068 access tokens. Any other
 * declared type is a token for another use (`logout+jwt`, `secevent+jwt`,
 * `dpop+jwt`, ...) that a provider signs with the same keys; no `typ` is fine.
 */
const ACCEPTED_TOKEN_TYPES: ReadonlySet<string> = new Set(["jwt", "at+jwt"]);

const USER_FAILURES = {
  missing: "user_missing",
  not_string: "user_not_string",
  empty: "user_empty",
  invalid: "user_invalid",
  too_long: "user_too_long",
  email_unverified: "email_unverified",
} as const satisfies Record<string, AuthFailure>;

export interface VerifiedUser extends Identity {
  /** The verified claims, for state variables filled from claims. */
  claims: JWTPayload;
}

/** A fresh verification's outcome and, for a JWKS provider, the key material that verified the token. */
export interface FreshVerification extends VerifiedUser {
  /** Undefined for HS256, whose secret is part of the configuration. */
  stamp?: KeyStamp;
}

/**
 * Verifies a compact JWT and returns the ChatKit `user` and owner key it
 * maps to. This is the fresh verification; requests go through
 * `authenticate` (token-cache.ts), which calls it for tokens it has not
 * seen. The unverified `iss` only selects which configured provider's keys
 * and rules apply; every claim is then verified against that provider.
 * Throws {@link AuthFailed} with the reason.
 *
 * @param nowSeconds the current unix time, injected so tests control the clock
 */
export async function verifyToken(
  token: string,
  auth: AuthConfig,
  nowSeconds: number,
  persistence: KeyPersistence,
): Promise<FreshVerification> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token);
  } catch {
    throw new AuthFailed("malformed");
  }
  if (KEY_LOCATING_HEADERS.some((name) => Object.hasOwn(header, name))) throw new AuthFailed("forbidden_header");
  if (Object.hasOwn(header, "typ") && !acceptedType(header.typ)) throw new AuthFailed("token_type");
  const provider = typeof unverified.iss === "string" ? auth.providers.get(unverified.iss) : undefined;
  if (provider === undefined) throw new AuthFailed("issuer");
  if (typeof header.alg !== "string" || !provider.algorithms.includes(header.alg)) throw new AuthFailed("algorithm");

  let claims: JWTPayload;
  let stamp: KeyStamp | undefined;
  try {
    const options = {
      issuer: provider.issuer,
      audience: [...provider.audiences],
      algorithms: [...provider.algorithms],
      clockTolerance: auth.clockToleranceSeconds,
      requiredClaims: ["exp"],
      currentDate: new Date(nowSeconds * 1000),
    };
    if (provider.keys === "secret") {
      ({ payload: claims } = await jwtVerify(token, await hmacKey(auth.hs256Secret as string), options));
    } else {
      ({ payload: claims, stamp } = await verifyWithProviderKeys(token, provider, persistence, options));
    }
  } catch (error) {
    throw new AuthFailed(classify(error));
  }
  // jose checks `iat` only together with maxTokenAge; a token from the future means a forged or broken clock.
  if (typeof claims.iat === "number" && claims.iat > nowSeconds + auth.clockToleranceSeconds) {
    throw new AuthFailed("issued_in_future");
  }
  const mapped = userFromClaims(claims, {
    path: provider.userClaim,
    prefix: provider.userPrefix,
    requireVerifiedEmail: provider.requireVerifiedEmail,
  });
  if (!mapped.ok) throw new AuthFailed(USER_FAILURES[mapped.reason]);
  const { user, ownerKey } = await identityFor(auth, provider.userPrefix, mapped.claim);
  return { user, ownerKey, claims, stamp };
}

/**
 * RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, whose
 * `application/` prefix may be left out; so `JWT`, `application/jwt` and
 * `AT+JWT` all name an accepted type. A `typ` that is not a string is refused.
 */
function acceptedType(typ: unknown): boolean {
  if (typeof typ !== "string") return false;
  return ACCEPTED_TOKEN_TYPES.has(typ.toLowerCase().replace(/^application\//, ""));
}

function classify(error: unknown): AuthFailure {
  if (error instanceof KeysUnavailable) return "keys_unavailable";
  switch (joseCode(error)) {
    case "ERR_JWT_EXPIRED":
      return "expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = (error as { claim?: unknown }).claim;
      return claim === "iss" ? "issuer" : claim === "aud" ? "audience" : claim === "nbf" ? "not_yet_valid" : "claims";
    }
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "signature";
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return "unknown_key";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
    case "ERR_JOSE_NOT_SUPPORTED":
      return "algorithm";
  }
  // Anything else (bad base64, JSON that is not an object, bad crit, ...) is a malformed token: fail closed.
  return "malformed";
}
