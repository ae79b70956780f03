import type { Context, MiddlewareHandler } from "hono";
import type { GateEnv } from "./context";

/** Browsers may cache a preflight this long (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;
const ALLOW_METHODS = "GET,POST,OPTIONS";
/** accept-language and chatkit-frame-instance-id: what ChatKit's web component sends to /chatkit. */
const ALLOW_HEADERS = "authorization,content-type,accept-language,chatkit-frame-instance-id";
const EXPOSE_HEADERS = "retry-after,www-authenticate,x-request-id";

/**
 * Sets headers on the answer as it stands, in place. Hono's `c.header`,
 * once a handler has answered, copies the whole Response on every call
 * (its body, status and every header); this sets them all with no copy.
 * A Response whose headers are immutable (one straight from `fetch`) is
 * copied once, as hono would.
 */
export function setResponseHeaders(c: Context, set: (headers: Headers) => void): void {
  try {
    set(c.res.headers);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const copy = new Response(c.res.body, c.res);
    set(copy.headers);
    // Cleared first: assigning over an answer makes hono copy the old headers onto the new one.
    c.res = undefined;
    c.res = copy;
  }
}

/**
 * CORS for the exact origins in `ALLOWED_ORIGINS`. A refused origin simply
 * gets no `Access-Control-Allow-Origin`, so the browser blocks the call.
 * Credentials (cookies) are never allowed: the API takes bearer tokens only.
 *
 * The same headers as hono's `cors()` with these options, written out so an
 * answered request costs one in-place header update: `cors()` builds an
 * empty Response before the handler runs, which hono then merges into the
 * handler's answer by copying it, and copies it again for `Vary`.
 */
export const gateCors: MiddlewareHandler<GateEnv> = async (c, next) => {
  const origin = c.req.header("origin");
  const allowed = origin !== undefined && c.get("config").allowedOrigins.includes(origin) ? origin : undefined;
  if (c.req.method === "OPTIONS") {
    const headers = new Headers();
    if (allowed !== undefined) headers.set("access-control-allow-origin", allowed);
    headers.set("access-control-expose-headers", EXPOSE_HEADERS);
    headers.set("access-control-max-age", String(PREFLIGHT_MAX_AGE_SECONDS));
    headers.set("access-control-allow-methods", ALLOW_METHODS);
    headers.set("access-control-allow-headers", ALLOW_HEADERS);
    headers.set("vary", "Origin, Access-Control-Request-Headers");
    return new Response(null, { status: 204, statusText: "No Content", headers });
  }
  await next();
  setResponseHeaders(c, (headers) => {
    if (allowed !== undefined) headers.set("access-control-allow-origin", allowed);
    headers.set("access-control-expose-headers", EXPOSE_HEADERS);
    headers.append("vary", "Origin");
  });
};
