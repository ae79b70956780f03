import type { Context } from "hono";
import { matchedRoutes } from "hono/route";

/** What Hono records as the method of `app.use` middleware: it matches every route, so it names none. */
const MIDDLEWARE_METHOD = "ALL";
/** The route of a request that no endpoint matched: a 404, a CORS preflight, an unserved method. */
export const NO_ROUTE = "*";

/**
 * The pattern of the endpoint a request was for, e.g.
 * `/v1/chatkit/sessions/:session_id/cancel`: the last route it matched that
 * is a handler rather than middleware, also when a middleware answered first
 * (a refused token, `config_invalid`). {@link NO_ROUTE} when no endpoint
 * matched, so the answer does not change with how middleware is mounted.
 * Never the raw path: ids and unknown paths stay out of logs and metrics.
 */
export function endpointPattern(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i];
    if (route !== undefined && route.method !== MIDDLEWARE_METHOD) return route.path;
  }
  return NO_ROUTE;
}
