import type { Context, Handler } from "hono";
import type { RetryDeps } from "../chatkit/retry";
import type { GateEnv } from "../http/context";
import type { CreateRequest } from "../sessions/create-request";

/**
 * What differs between hosted and self-hosted mode, behind one interface, so
 * the session routes, cancels and the sweep are written once for both:
 * the same records, KV layout, statuses and answers, whoever holds the
 * session upstream.
 */
export interface SessionMode {
  /** Starts a session for the verified caller (`c.var.user`, `c.var.ownerKey`). */
  start(c: Context<GateEnv>, request: CreateRequest): Promise<StartedSession>;
  /** Ends sessions where they live: cancel, `cancel_all` and the sweep. */
  readonly upstream: SessionUpstream;
  /**
   * Takes back a session the caller will never hear of (it could not be
   * recorded, or its answer was wrong), after the response.
   */
  withdraw(c: Context<GateEnv>, sessionId: string): void;
  /** Routes only this mode serves, by {@link RouteKey}; in the other mode they are 404. */
  readonly routes: Readonly<Partial<Record<RouteKey, Handler<GateEnv>>>>;
}

/** A session just started, before it is recorded. */
export interface StartedSession {
  id: string;
  /** Handed to the caller once; never stored or logged. */
  clientSecret: string;
  /** Unix seconds. */
  expiresAt: number;
  /** The workflow recorded with the session, when it has one. */
  workflowId?: string;
}

/** What bounds the upstream side of one request's cancels. */
export interface EndLimits {
  /** Milliseconds since the epoch by which the cancel must be settled. */
  deadline: number;
  retry: RetryDeps;
  /** Called with the upstream request id of each attempt, for the request log. */
  onUpstream?: (requestId: string | undefined) => void;
}

/** The upstream side of ending a session. */
export interface SessionUpstream {
  /**
   * True when ending a session needs no call: it always succeeds at once,
   * costs none of the invocation's upstream calls, and so never leaves a
   * cancel owed to the sweep.
   */
  readonly immediate: boolean;
  /**
   * Ends a session with bounded retries inside `limits`. Resolves once
   * nothing is left upstream that could be used; throws the
   * `UpstreamError` of an end that was not confirmed.
   */
  end(sessionId: string, limits: EndLimits): Promise<void>;
  /** One attempt, for the cron sweep (which is itself the retry loop). */
  endOnce(sessionId: string): Promise<void>;
}

/** The extra routes a mode can serve; app.ts registers each of them for every mode. */
export const MODE_ROUTES = {
  chatkit: { method: "POST", path: "/chatkit" },
  upload: { method: "POST", path: "/chatkit/upload" },
  jwks: { method: "GET", path: "/.well-known/jwks.json" },
} as const;

export type RouteKey = keyof typeof MODE_ROUTES;
