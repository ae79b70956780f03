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

/** WebCrypto's ECDSA over P-256 with SHA-256: its signature is r || s, 64 bytes, which is JWS's ES256 form (RFC 7518 §3.4). */
const ES256 = { name: "ECDSA", hash: "SHA-256" } as const;

const encoder = new TextEncoder();

/** The encoded protected header per signing kid: the same bytes on every request, so they are built once. */
const headers = new Map<string, string>();

function encodedHeader(kid: string): string {
  let header = headers.get(kid);
  if (header === undefined) {
    header = base64url(encoder.encode(JSON.stringify({ alg: "ES256", kid, typ: "JWT" })));
    headers.set(kid, header);
  }
  return header;
}

/** The last request URL's origin: a gate serves /chatkit at one URL, so parsing it once saves a URL parse per request. */
let lastUrl: string | undefined;
let lastOrigin = "";

function originOf(url: string): string {
  if (url !== lastUrl) {
    lastOrigin = new URL(url).origin;
    lastUrl = url;
  }
  return lastOrigin;
}

/**
 * Signs the identity assertion for one forwarded request: a compact JWS,
 * ES256, with the signing key's `kid`. It carries exactly the claims above:
 * never the client secret, the IdP token or other claims of it.
 *
 * Written on WebCrypto rather than with jose's SignJWT: the header is fixed,
 * the claims are built here, and all that remains of a JWS is base64url and
 * one signature (RFC 7515 §5.1). jose's general path (claim builders, header
 * checks, key type checks per call) cost about as much again as the
 * signature; test/selfhosted/assertion.test.ts verifies these assertions
 * with jose's jwtVerify.
 */
export async function signAssertion(keyring: Keyring, input: AssertionInput, nowSeconds: number): Promise<string> {
  const claims: AssertionClaims = {
    iss: originOf(input.requestUrl),
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
  const signingInput = `${encodedHeader(keyring.signer.kid)}.${base64url(encoder.encode(JSON.stringify(claims)))}`;
  const signature = await crypto.subtle.sign(ES256, keyring.signer.key, encoder.encode(signingInput));
  return `${signingInput}.${base64url(new Uint8Array(signature))}`;
}
