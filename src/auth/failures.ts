import { GateError } from "../http/errors";

/** Every reason a request can fail authentication. */
export type AuthFailure =
  | "absent"
  | "malformed"
  | "too_large"
  | "forbidden_header"
  | "token_type"
  | "algorithm"
  | "unknown_key"
  | "signature"
  | "expired"
  | "not_yet_valid"
  | "issued_in_future"
  | "issuer"
  | "audience"
  | "claims"
  | "user_missing"
  | "user_not_string"
  | "user_empty"
  | "user_invalid"
  | "user_too_long"
  | "email_unverified"
  | "keys_unavailable";

/** What the caller is told; messages help a developer without revealing configuration. */
const MESSAGES: Record<AuthFailure, string> = {
  absent: "Send the user's token as Authorization: Bearer <JWT>",
  malformed: "The token is not a well-formed JWT",
  too_large: "The token is too large",
  forbidden_header: "The token names its own key (jku, x5u, jwk or x5c), which is never trusted",
  token_type: "The token's typ says it is not an access or ID token (only JWT and at+jwt are accepted)",
  algorithm: "The token's signing algorithm is not accepted",
  unknown_key: "The token was signed with a key the identity provider does not publish",
  signature: "The token's signature is invalid",
  expired: "The token has expired",
  not_yet_valid: "The token is not valid yet (nbf)",
  issued_in_future: "The token was issued in the future (iat)",
  issuer: "The token's issuer is not accepted",
  audience: "The token's audience is not accepted",
  claims: "The token's claims are invalid or incomplete",
  user_missing: "The token has no user claim",
  user_not_string: "The token's user claim is not a string",
  user_empty: "The token's user claim is empty",
  user_invalid: "The token's user claim contains control characters",
  user_too_long: "The token's user claim is too long",
  email_unverified: "The token's email is not verified (email_verified is not true)",
  keys_unavailable: "The identity provider's signing keys are unavailable; try again shortly",
};

const REALM = 'Bearer realm="chatkit-gate"';

/**
 * Maps a failure to the wire error. RFC 6750 §3.1: no `error` parameter when
 * the request carried no token at all.
 */
export function authError(failure: AuthFailure): GateError {
  if (failure === "keys_unavailable") return new GateError("auth_unavailable", MESSAGES[failure]);
  const challenge = failure === "absent" ? REALM : `${REALM}, error="invalid_token"`;
  return new GateError("invalid_token", MESSAGES[failure], { "WWW-Authenticate": challenge });
}

export class AuthFailed extends Error {
  readonly failure: AuthFailure;
  constructor(failure: AuthFailure) {
    super(MESSAGES[failure]);
    this.name = "AuthFailed";
    this.failure = failure;
  }
}
