/**
 * The error codes chatkit-gate answers with, as listed in its README
 * ("HTTP API"). test/client keeps this list equal to the worker's own.
 */
export const GATE_ERROR_CODES = [
  "invalid_request",
  "invalid_token",
  "forbidden",
  "session_not_found",
  "not_found",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "internal_error",
  "upstream_error",
  "auth_unavailable",
  "config_invalid",
  "storage_unavailable",
  "upstream_timeout",
] as const;

/** A code from chatkit-gate's `{"error": {"code", "message"}}` answer. */
export type GateErrorCode = (typeof GATE_ERROR_CODES)[number];

/**
 * Every code a {@link ChatKitGateError} can carry: the worker's, plus two of
 * the client's own for when there is no answer from chatkit-gate to read.
 *
 * - `network_error`: the request failed or timed out before an answer came.
 * - `unexpected_response`: something answered, but not in chatkit-gate's
 *   format (a proxy's HTML error page, a captive portal, a wrong `baseUrl`).
 */
export type ChatKitGateErrorCode = GateErrorCode | "network_error" | "unexpected_response";

export interface ChatKitGateErrorDetails {
  /** The HTTP status; 0 when no answer was received. */
  status: number;
  /** Seconds to wait before trying again, from `Retry-After` (on `rate_limited`). */
  retryAfter?: number;
  /** chatkit-gate's `x-request-id`, for matching a report with the worker's logs. */
  requestId?: string;
  cause?: unknown;
}

/**
 * Any failure of a chatkit-gate call. Branch on `code`; `message` is the
 * worker's own explanation, written for the caller and free of secrets.
 */
export class ChatKitGateError extends Error {
  readonly code: ChatKitGateErrorCode;
  /** The HTTP status; 0 when no answer was received (`network_error`). */
  readonly status: number;
  /** Seconds to wait before trying again, when the worker said (`rate_limited`). */
  readonly retryAfter?: number;
  /** chatkit-gate's `x-request-id`, when it answered. */
  readonly requestId?: string;

  constructor(code: ChatKitGateErrorCode, message: string, details: ChatKitGateErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ChatKitGateError";
    this.code = code;
    this.status = details.status;
    if (details.retryAfter !== undefined) this.retryAfter = details.retryAfter;
    if (details.requestId !== undefined) this.requestId = details.requestId;
  }
}

/** True when `error` is a {@link ChatKitGateError}, with `code` if one is given. */
export function isChatKitGateError(error: unknown, code?: ChatKitGateErrorCode): error is ChatKitGateError {
  return error instanceof ChatKitGateError && (code === undefined || error.code === code);
}

const KNOWN_CODES: ReadonlySet<string> = new Set(GATE_ERROR_CODES);

/**
 * `Retry-After` as whole seconds from now: delay-seconds or an HTTP date
 * (RFC 9110, section 10.2.3); undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** The typed error for a non-2xx answer whose body has been read as `text`. */
export function errorFromAnswer(response: Response, text: string, nowMs: number): ChatKitGateError {
  const details: ChatKitGateErrorDetails = { status: response.status };
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"), nowMs);
  if (retryAfter !== undefined) details.retryAfter = retryAfter;
  const requestId = response.headers.get("x-request-id");
  if (requestId) details.requestId = requestId;

  const error = parseErrorBody(text);
  if (error === undefined) {
    return new ChatKitGateError(
      "unexpected_response",
      `Unexpected ${response.status} answer from chatkit-gate`,
      details,
    );
  }
  return new ChatKitGateError(error.code, error.message, details);
}

function parseErrorBody(text: string): { code: GateErrorCode; message: string } | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error?.code !== "string" || !KNOWN_CODES.has(error.code)) return undefined;
  const message = typeof error.message === "string" ? error.message : error.code;
  return { code: error.code as GateErrorCode, message };
}
