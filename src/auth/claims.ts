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
  | { ok: true; user: string }
  | { ok: false; reason: "missing" | "not_string" | "empty" | "invalid" | "too_long" };

/**
 * Reads the configured claim (a dot path such as `sub` or `user.id`) and
 * turns it into the ChatKit `user`. That value scopes which threads a
 * session can read, so anything but a clean, non-empty string is refused.
 */
export function userFromClaims(payload: JWTPayload, path: readonly string[], prefix: string): UserClaimResult {
  const value = claimAt(payload, path);
  if (value === undefined || value === null) return { ok: false, reason: "missing" };
  if (typeof value !== "string") return { ok: false, reason: "not_string" };
  if (value.trim() === "") return { ok: false, reason: "empty" };
  if (/\p{Cc}/u.test(value)) return { ok: false, reason: "invalid" };
  if (value.length > MAX_USER_CLAIM_LENGTH) return { ok: false, reason: "too_long" };
  return { ok: true, user: prefix + value };
}

/**
 * `u_` + base64url(HMAC-SHA256(secret, user)): stable, so a person keeps
 * their threads, yet OpenAI never sees the raw email or id.
 */
export async function pseudonymousUser(secret: string, user: string): Promise<string> {
  return `u_${base64url(await hmacSha256(secret, user))}`;
}
