import { GateError } from "../http/errors";

/** Every reason a `/chatkit` client secret is refused before anything reaches the server. */
export type SecretFailure =
  /** No Authorization header at all. */
  | "absent"
  /** Not `Bearer <secret>`, not five base64url segments, or an unreadable header or payload. */
  | "malformed"
  /** Longer than any secret the gate issues. */
  | "too_large"
  /** Not `dir` + `A256GCM`: `alg: none`, a JWS such as the IdP token, or another kind of JWE. */
  | "algorithm"
  /** A segment is missing or cut short. */
  | "truncated"
  /** The `kid` is not one of `GATE_SIGNING_KEY`'s (another gate, or a key rotated out). */
  | "unknown_key"
  /** Authenticated decryption failed: tampered, or sealed under another key. */
  | "undecryptable"
  | "expired"
  /** The session was cancelled, or is not this gate's record (found by the wiring in KV). */
  | "revoked";

/** Messages help a developer without saying which check a forgery came closest to passing. */
const MESSAGES: Record<SecretFailure, string> = {
  absent: "Send the session's client_secret as Authorization: Bearer <client_secret>",
  malformed: "The client secret is not one this gate issues",
  too_large: "The client secret is not one this gate issues",
  algorithm: "The client secret is not one this gate issues; send the session's client_secret, not the user's token",
  truncated: "The client secret is incomplete",
  unknown_key: "The client secret was issued under a key this gate no longer holds; start a new session",
  undecryptable: "The client secret is invalid",
  expired: "The session has expired; start a new session",
  revoked: "The session has ended; start a new session",
};

const REALM = 'Bearer realm="chatkit-gate"';

/**
 * The wire error for a refused secret: 401 `invalid_token`, with the RFC 6750
 * challenge (no `error` parameter when no credential was sent at all).
 */
export function secretError(failure: SecretFailure): GateError {
  const challenge = failure === "absent" ? REALM : `${REALM}, error="invalid_token"`;
  return new GateError("invalid_token", MESSAGES[failure], { "WWW-Authenticate": challenge });
}

/** Every way forwarding to the ChatKit server (or the upload URL) can fail before its answer starts. */
export type ProxyFailure =
  /** No connection, a reset, or a refused redirect. */
  | "unreachable"
  /** No response headers within the upstream timeout. */
  | "timeout"
  /** The browser went away (the Stop button); the server's request was aborted too. */
  | "client_aborted"
  /** An upload passed `file_upload.max_file_size` while it streamed. */
  | "too_large";

export function proxyError(failure: ProxyFailure, maxBytes?: number): GateError {
  switch (failure) {
    case "unreachable":
      return new GateError("upstream_error", "The ChatKit server could not be reached");
    case "timeout":
      return new GateError("upstream_timeout", "The ChatKit server did not answer in time; try again");
    case "client_aborted":
      // Nobody reads this answer; a 4xx keeps a user's Stop button out of 5xx alerts.
      return new GateError("invalid_request", "The request was aborted by the client");
    case "too_large":
      return new GateError(
        "payload_too_large",
        maxBytes === undefined ? "The upload is too large" : `The upload must be at most ${maxBytes} bytes`,
      );
  }
}
