/**
 * The closed set of errors chatkit-gate answers with. Every failure anywhere in
 * the worker ends up as one of these codes, so clients can branch on `code`
 * and operators can alert on it.
 */
export type ErrorCode =
  | "invalid_request"
  | "invalid_token"
  | "forbidden"
  | "session_not_found"
  | "not_found"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "internal_error"
  | "upstream_error"
  | "auth_unavailable"
  | "config_invalid"
  | "storage_unavailable"
  | "upstream_timeout";

/** The HTTP status each code is sent with; exhaustive by construction. */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_token: 401,
  forbidden: 403,
  session_not_found: 404,
  not_found: 404,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  upstream_error: 502,
  auth_unavailable: 503,
  config_invalid: 503,
  storage_unavailable: 503,
  upstream_timeout: 504,
} as const satisfies Record<ErrorCode, number>;

export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/**
 * An error that is safe to show to the caller: its message is written for
 * them and never carries a secret, a token or a configuration value.
 */
export class GateError extends Error {
  readonly code: ErrorCode;
  readonly status: ErrorStatus;
  /** Extra response headers, such as `Retry-After` or `WWW-Authenticate`. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "GateError";
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.headers = headers;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}
