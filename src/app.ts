import { Hono } from "hono/tiny";
import { adminRoutes } from "./admin/routes";
import { requireUser } from "./auth/middleware";
import { readinessCheck } from "./auth/readiness";
import { type Config, ConfigError, loadConfig } from "./config/config";
import type { GateDeps, GateEnv, GateVariables } from "./http/context";
import { gateCors, setResponseHeaders } from "./http/cors";
import { GateError } from "./http/errors";
import { log } from "./http/log";
import { openApiDocument } from "./http/openapi";
import { metricsBinding, recordRequest } from "./metrics/record";
import { endpointPattern } from "./metrics/route";
import { UpstreamTimer } from "./metrics/upstream-timer";
import { modes } from "./modes";
import { MODE_ROUTES, type RouteKey } from "./modes/mode";
import { keyringFor } from "./selfhosted/signing-keys";
import { sessionRoutes } from "./sessions/routes";
import { sweepHandler } from "./sessions/scheduled";

/** The contract's ceiling on a ChatKit call: a slower answer becomes 504 upstream_timeout. */
export const UPSTREAM_TIMEOUT_MS = 15_000;

/**
 * Configuration failures already logged. {@link loadConfig} keeps one
 * ConfigError per environment, and {@link keyringFor} one refused keyring
 * per configuration, so each isolate logs the cause once, not on every
 * request it answers 503.
 */
const loggedConfigErrors = new WeakSet<Error>();

/**
 * The 503 for a configuration that cannot take effect, logged once; any
 * other error is returned as it is. Problems name settings and what they
 * must be, never a value (ConfigError's contract, and keyringFor names a
 * key by position only).
 */
function configInvalid(error: unknown): unknown {
  const problems =
    error instanceof ConfigError
      ? error.problems
      : error instanceof GateError && error.code === "config_invalid"
        ? [error.message]
        : undefined;
  if (problems === undefined) return error;
  const logged = error as Error;
  if (!loggedConfigErrors.has(logged)) {
    loggedConfigErrors.add(logged);
    log("error", "config_invalid", { problems });
  }
  return error instanceof ConfigError ? new GateError("config_invalid", error.message) : error;
}

const defaultDeps: GateDeps = {
  now: () => Math.floor(Date.now() / 1000),
  clock: Date.now,
  upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The whole worker: HTTP routes and the cron sweep of pending cancels. */
export function createWorker(overrides: Partial<GateDeps> = {}) {
  const deps: GateDeps = { ...defaultDeps, ...overrides };
  const app = createApp(deps);
  return {
    fetch: app.fetch,
    scheduled: sweepHandler(deps),
  } satisfies ExportedHandler<Env>;
}

/** Builds the worker's HTTP app; tests and benchmarks inject the clock and timeout. */
export function createApp(overrides: Partial<GateDeps> = {}) {
  const deps: GateDeps = { ...defaultDeps, ...overrides };
  const modeFor = modes(deps);
  const app = new Hono<GateEnv>();

  app.use(async (c, next) => {
    const started = deps.clock();
    const requestId = crypto.randomUUID();
    c.set("requestId", requestId);
    // Without the METRICS binding this lookup is all the metrics cost: no timer, no data point.
    const metrics = metricsBinding(c.env);
    if (metrics !== undefined) c.set("upstream", new UpstreamTimer(deps.clock));
    try {
      await next();
    } finally {
      // In place: c.header() after the handler copies the whole response.
      setResponseHeaders(c, (headers) => headers.set("x-request-id", requestId));
      const code = c.error instanceof GateError ? c.error.code : c.res.status === 404 ? "not_found" : undefined;
      const durationMs = deps.clock() - started;
      // The endpoint the request was for, also when a middleware refused it; never the raw path.
      const route = endpointPattern(c);
      log(c.res.status >= 500 ? "error" : "info", "request", {
        request_id: requestId,
        method: c.req.method,
        route,
        status: c.res.status,
        code,
        duration_ms: durationMs,
        user: c.get("ownerKey")?.slice(0, 16),
        upstream_request_id: c.get("upstreamRequestId"),
      });
      if (metrics !== undefined) {
        // Each may be unset: the request can fail before the configuration loads or a user is verified.
        const { config, claims, alias, upstream, ownerKey } = c.var as Partial<GateVariables>;
        // Never throws: a failing binding is logged once and the response stands.
        recordRequest(metrics, {
          method: c.req.method,
          routePath: route,
          status: c.res.status,
          code,
          provider: claims?.iss,
          alias,
          mode: config?.mode.kind,
          durationMs,
          upstreamMs: upstream?.ms,
          upstreamCalls: upstream?.calls,
          ownerKey,
        });
      }
    }
  });
  app.use(async (c, next) => {
    let config: Config;
    try {
      config = loadConfig(c.env as unknown as Record<string, unknown>);
      // A signing key that passes the shape checks but that WebCrypto refuses is a configuration problem
      // too: imported here, once per configuration (keyringFor caches it), so every route answers 503.
      if (config.mode.kind === "self-hosted") await keyringFor(config.mode.signingKeys);
    } catch (error) {
      throw configInvalid(error);
    }
    c.set("config", config);
    c.set("mode", modeFor(config));
    await next();
  });
  app.use(gateCors);
  app.use("/v1/*", async (c, next) => {
    await next();
    setResponseHeaders(c, (headers) => headers.set("cache-control", "no-store"));
  });

  app.get("/healthz", readinessCheck);
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/openapi.json", (c) => c.json(openApiDocument(c.get("config"))));
  app.use("/v1/*", requireUser(deps));
  app.route("/v1/chatkit/sessions", sessionRoutes(deps));
  // 404 unless ADMIN_POLICY is set; operator tokens only (src/admin/routes.ts).
  app.route("/admin/v1", adminRoutes(deps));
  // Every mode's extra routes are registered; the configured mode serves its own, the others are 404.
  for (const [key, { method, path }] of Object.entries(MODE_ROUTES)) {
    app.on(method, path, (c, next) => {
      const handler = c.get("mode").routes[key as RouteKey];
      if (handler === undefined) throw new GateError("not_found", "No such route");
      return handler(c, next);
    });
  }

  app.notFound((c) => c.json(new GateError("not_found", "No such route").toBody(), 404));
  app.onError((error, c) => {
    if (error instanceof GateError) return c.json(error.toBody(), error.status, error.headers);
    // Only the error's name is logged: messages of unexpected errors are not vetted for secrets.
    log("error", "unhandled", { request_id: c.get("requestId"), error: error.name });
    const internal = new GateError("internal_error", "Something went wrong; try again");
    c.error = internal;
    return c.json(internal.toBody(), internal.status);
  });
  return app;
}
