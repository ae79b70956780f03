import { createMiddleware } from "hono/factory";
import type { GateDeps, GateEnv } from "../http/context";
import { AuthFailed, authError } from "./failures";
import { readBearer } from "./token";
import { verifyToken } from "./verify";

/**
 * Requires a valid bearer JWT and sets `user` and `ownerKey` for the
 * handlers. Every refusal is a {@link GateError}; nothing reaches the
 * upstream or KV without a verified user.
 */
export function requireUser(deps: Pick<GateDeps, "now">) {
  return createMiddleware<GateEnv>(async (c, next) => {
    const bearer = readBearer(c.req.header("authorization"));
    if (bearer.kind !== "token") throw authError(bearer.kind);
    let user: string;
    try {
      user = await verifyToken(bearer.token, c.var.config.auth, deps.now());
    } catch (error) {
      if (error instanceof AuthFailed) throw authError(error.failure);
      throw error;
    }
    c.set("user", user);
    c.set("ownerKey", await ownerKeyFor(user));
    await next();
  });
}

/**
 * base64url(SHA-256(user)): fixed length and free of separators, so it is
 * safe inside a KV key whatever the claim holds, and it keeps raw emails and
 * ids out of KV key names and logs.
 */
export async function ownerKeyFor(user: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(user)));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
