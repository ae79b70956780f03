import { GateError } from "../http/errors";
import type { SessionMismatch } from "./answers";

/** Every way a ChatKit call can fail, as seen from the gateway. */
export type UpstreamFailure =
  | { kind: "timeout" }
  | { kind: "unreachable" }
  | { kind: "rate_limited"; retryAfter?: string }
  /** 4xx other than 429: our key, workflow or request was refused, never the caller's fault. */
  | { kind: "rejected"; status: number }
  | { kind: "server_error"; status: number }
  | { kind: "invalid_response" }
  /** A readable answer about the wrong session, or one not in the state asked for (see answers.ts). */
  | { kind: "unexpected_session"; field: SessionMismatch };

export class UpstreamError extends Error {
  readonly failure: UpstreamFailure;
  readonly requestId?: string;
  constructor(failure: UpstreamFailure, requestId?: string) {
    super(`ChatKit call failed: ${failure.kind}${"status" in failure ? ` ${failure.status}` : ""}`);
    this.name = "UpstreamError";
    this.failure = failure;
    this.requestId = requestId;
  }
}

/**
 * The wire error for an upstream failure. An upstream 401 or 403 concerns
 * our key, not the caller's token, so it is a 502 and never a 401.
 */
export function upstreamGateError(failure: UpstreamFailure): GateError {
  switch (failure.kind) {
    case "timeout":
      return new GateError("upstream_timeout", "ChatKit did not answer in time; try again");
    case "rate_limited":
      return new GateError(
        "rate_limited",
        "ChatKit is rate limiting requests; retry later",
        failure.retryAfter === undefined ? {} : { "Retry-After": failure.retryAfter },
      );
    case "unreachable":
      return new GateError("upstream_error", "ChatKit could not be reached");
    case "rejected":
      return new GateError("upstream_error", `ChatKit refused the gateway's request (${failure.status})`);
    case "server_error":
      return new GateError("upstream_error", `ChatKit failed (${failure.status})`);
    case "invalid_response":
      return new GateError("upstream_error", "ChatKit sent an answer the gateway could not read");
    case "unexpected_session":
      return new GateError(
        "upstream_error",
        `ChatKit answered with a session whose ${failure.field} is not what was asked`,
      );
  }
}
