import type { JWTPayload } from "jose";
import type { Config } from "../config/config";
import type { UpstreamTimer } from "../metrics/upstream-timer";
import type { SessionMode } from "../modes/mode";

/** Values the middleware chain hands to later handlers. */
export interface GateVariables {
  config: Config;
  /** What the configured mode does: start and end sessions, and its own routes. */
  mode: SessionMode;
  /** The ChatKit `user` of the verified caller. */
  user: string;
  /** The caller's verified token claims. */
  claims: JWTPayload;
  /**
   * A stable, opaque key derived from `user`, used in KV keys and logs
   * instead of the raw id. On `/chatkit`, the one sealed in the client secret.
   */
  ownerKey: string;
  requestId: string;
  upstreamRequestId?: string;
  /**
   * Times the request's calls to ChatKit for its metric. Set only when the
   * `METRICS` binding is there: absent, nothing is timed.
   */
  upstream?: UpstreamTimer;
  /**
   * The configured workflow alias a create resolved to (a key of
   * `CHATKIT_WORKFLOWS`), for its metric; never the raw body value.
   */
  alias?: string;
}

export interface GateEnv {
  Bindings: Env;
  Variables: GateVariables;
}

/** Injected so tests and benchmarks control time and the network. */
export interface GateDeps {
  /** Current unix time in seconds. */
  now: () => number;
  /** Milliseconds since the epoch, for the request's and its upstream calls' durations (metrics and logs). */
  clock: () => number;
  /** Upper bound on one ChatKit call (and on a cancel's retries together), in milliseconds. */
  upstreamTimeoutMs: number;
  /** Waits between cancel retries. */
  sleep: (ms: number) => Promise<void>;
}
