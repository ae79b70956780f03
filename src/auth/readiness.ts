import { createMiddleware } from "hono/factory";
import type { GateEnv } from "../http/context";
import { probeKeys } from "./keys";

/**
 * `GET /healthz?ready=1`: checks each JWKS provider's key source (discovery
 * when used, then the JWKS) and reports it without secrets: 200 when every
 * provider is ready, 503 otherwise. Other `/healthz` requests pass on to the
 * cheap, config-only check.
 *
 * Providers are probed in parallel, each with the key documents' 5 s
 * timeouts; at most 16 providers × 2 documents stays under the 50
 * subrequests a request may make. A probe refetches only when the provider's
 * cooldown allows, so the open route cannot make the IdP work more than
 * forged tokens can; within it, the latest outcome is reported.
 */
export const readinessCheck = createMiddleware<GateEnv>(async (c, next) => {
  if (c.req.query("ready") !== "1") return next();
  const persistence = {
    kv: c.env.SESSIONS,
    waitUntil: (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise),
  };
  const jwksProviders = [...c.get("config").auth.providers.values()].filter((provider) => provider.keys === "jwks");
  const reports = await Promise.all(jwksProviders.map((provider) => probeKeys(provider, persistence)));
  const ready = reports.every((report) => report.ready);
  return c.json({ status: ready ? "ready" : "not_ready", providers: reports }, ready ? 200 : 503);
});
