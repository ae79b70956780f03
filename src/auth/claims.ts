import type { JWTPayload } from "jose";
import { base64url, hmacSha256 } from "./encoding";

/**
 * The longest claim value accepted as a user id. Real subject ids and emails
 * are far shorter; the bound keeps KV keys, logs and upstream calls small.
 */
export const MAX_USER_CLAIM_LENGTH = 256;

/** The value at a dot path of own properties, or undefined. Never walks into prototypes. */
export function claimAt(payload: JWTPayload, path: readonly string[]): unknown {
  let value: unknown = payload;
  for (const segment of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, segment)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

export type UserClaimResult =
  | { ok: true; user: string; claim: string }
  | { ok: false; reason: "missing" | "not_string" | "empty" | "invalid" | "too_long" | "email_unverified" };

/** What the mapping needs to know about the provider that issued the token. */
export interface UserMapping {
  /** Dot path of the user claim, split on dots. */
  path: readonly string[];
  prefix: string;
  /** Map the user only when `email_verified` is exactly `true`. */
  requireVerifiedEmail?: boolean;
}

/**
 * Reads the configured claim (a dot path such as `sub` or `user.id`) and
 * turns it into the ChatKit `user` (`prefix + claim`). That value scopes
 * which threads a session can read, so anything but a clean, non-empty
 * string is refused, and so is an email nobody verified: anyone can put
 * alice's address in a token from an IdP that does not check it.
 */
export function userFromClaims(payload: JWTPayload, mapping: UserMapping): UserClaimResult {
  const value = claimAt(payload, mapping.path);
  if (value === undefined || value === null) return { ok: false, reason: "missing" };
  if (typeof value !== "string") return { ok: false, reason: "not_string" };
  if (value.trim() === "") return { ok: false, reason: "empty" };
  if (/\p{Cc}/u.test(value)) return { ok: false, reason: "invalid" };
  if (value.length > MAX_USER_CLAIM_LENGTH) return { ok: false, reason: "too_long" };
  // OIDC Core §5.1: email_verified is a JSON boolean; "true" or 1 is not a verification.
  if (mapping.requireVerifiedEmail && payload.email_verified !== true) return { ok: false, reason: "email_unverified" };
  return { ok: true, user: mapping.prefix + value, claim: value };
}

/**
 * Domain-separation labels. The pseudonym and the owner key use the same
 * secret, so each HMAC input starts with its own label, versioned so a
 * future encoding can never collide with this one.
 */
export const PSEUDONYM_LABEL = "chatkit-gate/user-id/v1";
export const OWNER_KEY_LABEL = "chatkit-gate/owner-key/v1";

/**
 * `u_` + base64url(HMAC-SHA256(secret, ["chatkit-gate/user-id/v1", prefix, claim]
 * as JSON)): stable, so a person keeps their threads, yet OpenAI never sees
 * the raw email or id. The JSON array keeps (prefix, claim) apart, so no
 * two providers' users can share a pseudonym, whatever their prefixes.
 */
export async function pseudonymousUser(secret: string, prefix: string, claim: string): Promise<string> {
  return `u_${base64url(await hmacSha256(secret, JSON.stringify([PSEUDONYM_LABEL, prefix, claim])))}`;
}
