import { LruMap } from "../auth/lru";
import { GateError } from "../http/errors";

/** The window `SESSION_MAX_REQUESTS_PER_MINUTE` counts in. */
export const SESSION_WINDOW_SECONDS = 60;
/**
 * Sessions tracked per isolate. An entry is two numbers and a short key, so
 * this is well under 1 MB; past it, the session idle longest is forgotten.
 */
export const MAX_TRACKED_SESSIONS = 10_000;

interface Window {
  /** Unix seconds the window opened. */
  start: number;
  count: number;
}

/**
 * `SESSION_MAX_REQUESTS_PER_MINUTE` for `/chatkit`, enforced by the gate.
 *
 * A Workers rate limiting binding takes its limit from wrangler.toml, not
 * from a var, so this is a per-isolate fixed window per session: a session
 * gets `limit` requests in the 60 s after its first one, then waits for the
 * window to end (`Retry-After` says when).
 *
 * Accuracy: the count lives in one isolate's memory. Requests of one session
 * that land on several isolates (or locations) are counted in each, and an
 * isolate that restarts, or forgets a session to stay under
 * {@link MAX_TRACKED_SESSIONS}, starts it afresh; like any fixed window, a
 * burst across a window's end can see up to twice the limit within 60 s. It
 * bounds a runaway client cheaply; it is not a billing-grade quota, which
 * the ChatKit server should keep if it needs one.
 */
export class SessionRequestLimit {
  /** By session id; past `maxSessions`, the session idle longest is forgotten. */
  private readonly windows: LruMap<string, Window>;

  constructor(
    readonly limit: number,
    maxSessions = MAX_TRACKED_SESSIONS,
  ) {
    this.windows = new LruMap(maxSessions);
  }

  /** Counts one request of the session; throws 429 `rate_limited` with `Retry-After` past the limit. */
  take(sessionId: string, nowSeconds: number): void {
    // Reading marks the session as just used, so a busy one is never the one forgotten.
    let window = this.windows.get(sessionId);
    if (window === undefined || nowSeconds >= window.start + SESSION_WINDOW_SECONDS) {
      window = { start: nowSeconds, count: 0 };
      this.windows.set(sessionId, window);
    }
    if (window.count >= this.limit) {
      const retryAfter = Math.max(1, window.start + SESSION_WINDOW_SECONDS - nowSeconds);
      throw new GateError("rate_limited", "Too many requests in this session; wait before sending more", {
        "Retry-After": String(retryAfter),
      });
    }
    window.count += 1;
  }
}

/** One limiter per isolate and limit, so every request of an isolate counts in the same windows. */
const limiters = new Map<number, SessionRequestLimit>();

export function sessionRequestLimit(limit: number): SessionRequestLimit {
  let limiter = limiters.get(limit);
  if (limiter === undefined) {
    limiter = new SessionRequestLimit(limit);
    limiters.set(limit, limiter);
  }
  return limiter;
}
