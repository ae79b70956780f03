import { cors } from "hono/cors";
import type { GateEnv } from "./context";

/** Browsers may cache a preflight this long (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/**
 * CORS for the exact origins in `ALLOWED_ORIGINS`. A refused origin simply
 * gets no `Access-Control-Allow-Origin`, so the browser blocks the call.
 * Credentials (cookies) are never allowed: the API takes bearer tokens only.
 */
export const gateCors = cors({
  origin: (origin, c) => ((c.var as GateEnv["Variables"]).config.allowedOrigins.includes(origin) ? origin : null),
  allowMethods: ["GET", "POST", "OPTIONS"],
  // accept-language and chatkit-frame-instance-id: what ChatKit's web component sends to /chatkit.
  allowHeaders: ["authorization", "content-type", "accept-language", "chatkit-frame-instance-id"],
  exposeHeaders: ["retry-after", "www-authenticate", "x-request-id"],
  maxAge: PREFLIGHT_MAX_AGE_SECONDS,
});
