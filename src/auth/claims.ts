import type { JWTPayload } from "jose";

/**
 * The longest claim value accepted as a user id. Real subject ids and emails
 * are far shorter; the bound keeps KV keys, logs and upstream calls small.
 */
export const MAX_USER_CLAIM_LENGTH = 256;

export type UserClaimResult =
  | { ok: true; user: string }
  | { ok: false; reason: "missing" | "not_string" | "empty" | "invalid" | "too_long" };

/**
 * Reads the configured claim (a dot path such as `sub` or `user.id`) and
 * turns it into the ChatKit `user`. That value scopes which threads a
 * session can read, so anything but a clean, non-empty string is refused.
 */
export function userFromClaims(payload: JWTPayload, path: readonly string[], prefix: string): UserClaimResult {
  let value: unknown = payload;
  for (const segment of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, segment)) {
      return { ok: false, reason: "missing" };
    }
    value = (value as Record<string, unknown>)[segment];
  }
  if (typeof value !== "string")
    return { ok: false, reason: value === undefined || value === null ? "missing" : "not_string" };
  if (value.trim() === "") return { ok: false, reason: "empty" };
  if (/\p{Cc}/u.test(value)) return { ok: false, reason: "invalid" };
  if (value.length > MAX_USER_CLAIM_LENGTH) return { ok: false, reason: "too_long" };
  return { ok: true, user: prefix + value };
}
