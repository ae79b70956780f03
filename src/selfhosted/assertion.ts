import { SignJWT } from "jose";
import { base64url } from "../auth/encoding";
import type { StateValue } from "../chatkit/types";
import type { Workflow } from "../config/workflows";
import type { Keyring } from "./signing-keys";

/** The request header that carries the assertion to the ChatKit server. */
export const ASSERTION_HEADER = "ChatKit-Gate-Assertion";

/**
 * How long an assertion is valid. The server checks it as the request
 * arrives, moments after it is signed, so the lifetime only has to cover
 * clock skew between the gate and the server; anything longer makes an
 * assertion copied from a server log useful for longer. The issue allows at
 * most 300 s.
 */
export const ASSERTION_LIFETIME_SECONDS = 60;

/** 128 bits: a `jti` repeats by chance about once in 2^64 assertions. */
const JTI_BYTES = 16;

/** What the gate asserts about one request. */
export interface AssertionInput {
  /** The URL of the request the gate received; its origin becomes `iss`. */
  requestUrl: string;
  /** `ASSERTION_AUDIENCE`. */
  audience: string;
  /** Exactly the ChatKit `user` hosted mode would send, prefix or pseudonym included. */
  user: string;
  sessionId: string;
  /** The session's workflow, when it has one. */
  workflow?: Workflow;
  /** The session's workflow state, from claims and the client, as in hosted mode. */
  stateVariables?: Readonly<Record<string, StateValue>>;
}

/** The claims a ChatKit server reads from `ChatKit-Gate-Assertion`. */
export interface AssertionClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  iat: number;
  exp: number;
  jti: string;
  workflow?: Workflow;
  state_variables?: Record<string, StateValue>;
}

/**
 * Signs the identity assertion for one forwarded request: a compact JWS,
 * ES256, with the signing key's `kid`. It carries exactly the claims above:
 * never the client secret, the IdP token or other claims of it.
 */
export function signAssertion(keyring: Keyring, input: AssertionInput, nowSeconds: number): Promise<string> {
  const claims: AssertionClaims = {
    iss: new URL(input.requestUrl).origin,
    aud: input.audience,
    sub: input.user,
    sid: input.sessionId,
    iat: nowSeconds,
    exp: nowSeconds + ASSERTION_LIFETIME_SECONDS,
    jti: base64url(crypto.getRandomValues(new Uint8Array(JTI_BYTES))),
  };
  if (input.workflow !== undefined) {
    const { id, version } = input.workflow;
    claims.workflow = version === undefined ? { id } : { id, version };
  }
  if (input.stateVariables !== undefined && Object.keys(input.stateVariables).length > 0) {
    claims.state_variables = { ...input.stateVariables };
  }
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "ES256", kid: keyring.signer.kid, typ: "JWT" })
    .sign(keyring.signer.key);
}
