import { createMiddleware } from "hono/factory";
import type { UserIdConfig } from "../config/auth";
import type { GateDeps, GateEnv } from "../http/context";
import { OWNER_KEY_LABEL } from "./claims";
import { base64url, hmacSha256, sha256 } from "./encoding";
import { AuthFailed, authError } from "./failures";
import { readBearer } from "./token";
import { type VerifiedUser, verifyToken } from "./verify";

/**
 * Requires a valid bearer JWT and sets `user` and `ownerKey` for the
 * handlers. Every refusal is a {@link GateError}; nothing reaches the
 * upstream or KV without a verified user.
 */
export function requireUser(deps: Pick<GateDeps, "now">) {
  return createMiddleware<GateEnv>(async (c, next) => {
    const bearer = readBearer(c.req.header("authorization"));
    if (bearer.kind !== "token") throw authError(bearer.kind);
    let verified: VerifiedUser;
    try {
      verified = await verifyToken(bearer.token, c.var.config.auth, deps.now(), {
        kv: c.env.SESSIONS,
        waitUntil: (promise) => c.executionCtx.waitUntil(promise),
      });
    } catch (error) {
      if (error instanceof AuthFailed) throw authError(error.failure);
      throw error;
    }
    c.set("user", verified.user);
    c.set("claims", verified.claims);
    c.set("ownerKey", await ownerKeyFor(verified.user, c.var.config.auth.userIds));
    await next();
  });
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
