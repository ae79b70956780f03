import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AuthConfig } from "../config/auth";
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
    const verified = await verifiedBearer(c, c.get("config").auth, deps.now());
    c.set("user", verified.user);
    c.set("claims", verified.claims);
    c.set("ownerKey", verified.ownerKey);
    await next();
  });
}

/**
 * The request's `Authorization: Bearer <JWT>`, verified against `auth` (the
 * users' providers, or the operators' for the admin API); every refusal is
 * thrown as the wire's 401 or 503 {@link GateError}.
 */
export async function verifiedBearer(c: Context<GateEnv>, auth: AuthConfig, now: number): Promise<VerifiedUser> {
  const bearer = readBearer(c.req.header("authorization"));
  if (bearer.kind !== "token") throw authError(bearer.kind);
  try {
    return await authenticate(bearer.token, auth, now, {
      kv: c.env.SESSIONS,
      waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    });
  } catch (error) {
    throw error instanceof AuthFailed ? authError(error.failure) : error;
  }
}
