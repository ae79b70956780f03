import type { AuthConfig, UserIdConfig } from "../config/auth";
import { OWNER_KEY_LABEL, pseudonymousUser } from "./claims";
import { base64url, hmacSha256, sha256 } from "./encoding";
import { LruMap } from "./lru";

/** Who a verified caller is, in the two forms the gate uses. */
export interface Identity {
  /** The ChatKit `user`: prefix + claim, or its pseudonym with USER_ID_MODE=hmac. */
  user: string;
  /** The caller's key in KV names and logs (see {@link ownerKeyFor}). */
  ownerKey: string;
}

/**
 * Identities kept per configuration. One is at most about 2 KiB (a claim of
 * at most 256 characters and a prefix of at most 64, in the key and in the
 * user, two bytes a character at worst, and a 43-character owner key), so
 * the memo stays near 2 MiB whatever callers send, and holds every user a
 * single isolate is likely to serve between recycles.
 */
export const MAX_CACHED_IDENTITIES = 1_000;

/**
 * Identities by configuration: a WeakMap keyed by the parsed AuthConfig, so a
 * new configuration (another secret, other prefixes) starts empty and never
 * reuses an identity computed under the old one.
 */
const memos = new WeakMap<AuthConfig, LruMap<string, Identity>>();

/**
 * The ChatKit `user` and owner key for a verified claim from the provider
 * with `prefix`. Both are pure functions of (configuration, prefix, claim),
 * so they are computed once per isolate and reused, also across the new
 * tokens a user's session refresh brings: a known user costs no WebCrypto
 * call. Keyed by the JSON array [prefix, claim], an unambiguous encoding.
 */
export async function identityFor(auth: AuthConfig, prefix: string, claim: string): Promise<Identity> {
  let memo = memos.get(auth);
  if (memo === undefined) {
    memo = new LruMap(MAX_CACHED_IDENTITIES);
    memos.set(auth, memo);
  }
  const key = JSON.stringify([prefix, claim]);
  const known = memo.get(key);
  if (known !== undefined) return known;
  const user =
    auth.userIds.mode === "hmac" ? await pseudonymousUser(auth.userIds.secret, prefix, claim) : prefix + claim;
  const identity = Object.freeze({ user, ownerKey: await ownerKeyFor(user, auth.userIds) });
  memo.set(key, identity);
  return identity;
}

/**
 * The caller's key in KV names and logs: fixed length and free of
 * separators, so it is safe inside a KV key whatever the claim holds, and it
 * keeps raw emails and ids out of KV key names and logs.
 *
 * - `raw`: base64url(SHA-256(user)). Anyone with KV or log access can
 *   confirm a guessed user against it, which is why `hmac` exists.
 * - `hmac`: base64url(HMAC-SHA256(secret, ["chatkit-gate/owner-key/v1", user]
 *   as JSON)), a label distinct from the pseudonym's, so the key is neither
 *   the pseudonym nor computable without the secret.
 */
export async function ownerKeyFor(user: string, userIds: UserIdConfig): Promise<string> {
  if (userIds.mode === "raw") return base64url(await sha256(user));
  return base64url(await hmacSha256(userIds.secret, JSON.stringify([OWNER_KEY_LABEL, user])));
}
