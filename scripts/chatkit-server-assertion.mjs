// Verifies chatkit-gate's identity assertion (`ChatKit-Gate-Assertion`) the
// way an app's ChatKit server should: jose against the gate's published JWKS,
// exact issuer and audience, ES256 only, typ JWT, a short lifetime, and each
// jti accepted once. Dev-only: used by the stand-in ChatKit server.
import { createRemoteJWKSet, errors, jwtVerify } from "jose";

/** The header the gate adds to every request it forwards. */
export const ASSERTION_HEADER = "chatkit-gate-assertion";

/** The gate signs assertions with ES256 only; anything else is refused before a key is looked up. */
const ALGORITHMS = ["ES256"];
/** The gate's contract: `exp` at most 300 s after `iat`. A longer-lived assertion is not one the gate made. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Gate and server share a clock on one machine or a data centre; a few seconds cover NTP drift. */
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
/** Longer than any assertion the gate signs, so a real one never approaches it; an assertion is ~1 KiB. */
const MAX_ASSERTION_CHARS = 8192;
/** A JWKS fetch that takes longer than this means the gate is down for this server: 503, not a hang. */
const JWKS_TIMEOUT_MS = 5_000;

/**
 * Every reason an assertion is refused. `jwks_unavailable` is the server's
 * problem (503); every other one is the caller's (401).
 * @typedef {"missing" | "too_large" | "malformed" | "algorithm" | "unknown_key" | "signature" | "expired"
 *   | "issuer" | "audience" | "issued_in_future" | "claim_invalid" | "lifetime_too_long" | "replayed"
 *   | "jwks_unavailable"} AssertionFailure
 */

/**
 * What the server builds its ChatKit `context` from.
 * @typedef {{ sub: string, sid: string, jti: string, iat: number, exp: number, iss: string, aud: string | string[],
 *   workflow?: { id: string, version?: string }, state_variables?: Record<string, unknown> }} AssertionClaims
 */

/** jose's error codes, mapped exhaustively to our failures; an unlisted code is a malformed assertion. */
const JOSE_FAILURES = {
  [errors.JWSInvalid.code]: "malformed",
  [errors.JWTInvalid.code]: "malformed",
  [errors.JOSEAlgNotAllowed.code]: "algorithm",
  [errors.JOSENotSupported.code]: "algorithm",
  [errors.JWKSNoMatchingKey.code]: "unknown_key",
  [errors.JWKSMultipleMatchingKeys.code]: "unknown_key",
  [errors.JWSSignatureVerificationFailed.code]: "signature",
  [errors.JWTExpired.code]: "expired",
  [errors.JWTClaimValidationFailed.code]: "claim_invalid",
  [errors.JWKSTimeout.code]: "jwks_unavailable",
  [errors.JWKSInvalid.code]: "jwks_unavailable",
  // jose reports a non-200 JWKS answer as a generic error.
  [errors.JOSEError.code]: "jwks_unavailable",
};

/** Which claim a JWTClaimValidationFailed names, for the failures worth telling apart. */
const CLAIM_FAILURES = { iss: "issuer", aud: "audience", iat: "issued_in_future" };

function failureOf(error) {
  // fetch() failing (refused, reset) throws a TypeError without a jose code.
  if (!error?.code) return "jwks_unavailable";
  if (error.code === errors.JWTClaimValidationFailed.code) return CLAIM_FAILURES[error.claim] ?? "claim_invalid";
  return JOSE_FAILURES[error.code] ?? "malformed";
}

const isNonEmptyString = (value) => typeof value === "string" && value.length > 0;
const isPlainObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

/** The claims jose does not check for us: the gate's own members, by type. */
function claimsValid(payload) {
  if (!isNonEmptyString(payload.sub) || !isNonEmptyString(payload.sid) || !isNonEmptyString(payload.jti)) return false;
  // The workflow is absent when the gate has none configured (self-hosted mode does not need one).
  if (payload.workflow !== undefined) {
    if (!isPlainObject(payload.workflow) || !isNonEmptyString(payload.workflow.id)) return false;
    if (payload.workflow.version !== undefined && typeof payload.workflow.version !== "string") return false;
  }
  return payload.state_variables === undefined || isPlainObject(payload.state_variables);
}

/**
 * Remembers each accepted jti until its assertion expires, so a copied
 * assertion cannot be replayed straight at the server. The gate signs a
 * fresh one per request. Entries arrive in roughly expiry order, so pruning
 * from the front is enough.
 */
function replayGuard() {
  const seen = new Map();
  return (jti, exp, nowSeconds) => {
    for (const [key, expiry] of seen) {
      if (expiry >= nowSeconds) break;
      seen.delete(key);
    }
    if (seen.has(jti)) return false;
    seen.set(jti, exp);
    return true;
  };
}

/**
 * A verifier for one gate. `verify(token)` resolves to
 * `{ ok: true, claims, kid }` or `{ ok: false, failure }`; it never throws.
 *
 * @param {{ jwksUrl: string | URL, issuer: string, audience: string, clockToleranceSeconds?: number,
 *   jwks?: { cooldownDuration?: number, cacheMaxAge?: number }, now?: () => number }} options
 *   `issuer` is the gate's origin; `audience` its ASSERTION_AUDIENCE; `jwks` tunes jose's cache
 *   (its defaults: 30 s kid-miss cooldown, 10 min max age); `now` is in milliseconds.
 */
export function createAssertionVerifier({
  jwksUrl,
  issuer,
  audience,
  clockToleranceSeconds = DEFAULT_CLOCK_TOLERANCE_SECONDS,
  jwks = {},
  now = Date.now,
}) {
  const keys = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: JWKS_TIMEOUT_MS, ...jwks });
  const fresh = replayGuard();

  /** @returns {Promise<{ ok: true, claims: AssertionClaims, kid: string } | { ok: false, failure: AssertionFailure }>} */
  return async function verify(token) {
    if (token === undefined || token === "") return { ok: false, failure: "missing" };
    if (typeof token !== "string") return { ok: false, failure: "malformed" };
    if (token.length > MAX_ASSERTION_CHARS) return { ok: false, failure: "too_large" };
    const currentDate = new Date(now());
    let result;
    try {
      result = await jwtVerify(token, keys, {
        issuer,
        audience,
        algorithms: ALGORITHMS,
        typ: "JWT",
        requiredClaims: ["iat", "exp", "sub", "jti"],
        // With maxTokenAge jose also refuses an iat in the future (beyond the tolerance).
        maxTokenAge: MAX_ASSERTION_LIFETIME_SECONDS,
        clockTolerance: clockToleranceSeconds,
        currentDate,
      });
    } catch (error) {
      return { ok: false, failure: failureOf(error) };
    }
    const { payload, protectedHeader } = result;
    if (!claimsValid(payload)) return { ok: false, failure: "claim_invalid" };
    if (payload.exp - payload.iat > MAX_ASSERTION_LIFETIME_SECONDS) return { ok: false, failure: "lifetime_too_long" };
    if (!fresh(payload.jti, payload.exp, Math.floor(currentDate.getTime() / 1000) - clockToleranceSeconds)) {
      return { ok: false, failure: "replayed" };
    }
    return { ok: true, claims: /** @type {AssertionClaims} */ (payload), kid: protectedHeader.kid };
  };
}
