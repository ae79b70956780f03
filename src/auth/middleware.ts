import { createMiddleware } from "hono/factory";
import type { GateDeps, GateEnv } from "../http/context";
import { AuthFailed, authError } from "./failures";
import { readBearer } from "./token";
import { authenticate } from "./token-cache";
import type { VerifiedUser } from "./verify";

export { ownerKeyFor } from "./identity";

/**
 * Requires a valid bearer JWT and sets `user`, `claims` and `ownerKey` for
 * the handlers. Every refusal is a {@link GateError}; nothing reaches the
 * upstream or KV without a verified user. A token already verified in this
 * isolate is answered from the token cache with everything set here, so a
 * repeat request costs no cryptography (see {@link authenticate}).
 */
export function requireUser(deps: Pick<GateDeps, "now">) {
  return createMiddleware<GateEnv>(async (c, next) => {
    const bearer = readBearer(c.req.header("authorization"));
    if (bearer.kind !== "token") throw authError(bearer.kind);
    let verified: VerifiedUser;
    try {
      verified = await authenticate(bearer.token, c.get("config").auth, deps.now(), {
        kv: c.env.SESSIONS,
        waitUntil: (promise) => c.executionCtx.waitUntil(promise),
      });
    } catch (error) {
      if (error instanceof AuthFailed) throw authError(error.failure);
      throw error;
    }
    c.set("user", verified.user);
    c.set("claims", verified.claims);
    c.set("ownerKey", verified.ownerKey);
    await next();
  });
}
