import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { checkUrl } from "../config/reader";
import { readCapped } from "../http/body";

/** jose's default: long enough for a slow IdP, short enough to fail a request fast. */
export const KEY_DOCUMENT_TIMEOUT_MS = 5_000;
/** Discovery documents and key sets are a few KiB; the cap bounds memory on a hostile answer. */
const MAX_KEY_DOCUMENT_BYTES = 64 * 1024;

/** Which document of the identity provider was being read. */
export type KeyStage = "discovery" | "jwks";

/** What went wrong with a key document: a closed list, so logs and readiness say it in the same words. */
export type KeySourceFailure =
  | { kind: "timeout" }
  | { kind: "unreachable" }
  | { kind: "status"; status: number }
  | { kind: "too_large" }
  | { kind: "not_json" }
  | { kind: "issuer_mismatch" }
  | { kind: "bad_jwks_uri" }
  | { kind: "not_key_set" }
  | { kind: "unusable_key" }
  /** A fetch shared with another request did not settle within its bound (see keys.ts). */
  | { kind: "stalled" };

/** The words an operator reads in a log line or the readiness report. */
export function describeFailure(failure: KeySourceFailure): string {
  switch (failure.kind) {
    case "timeout":
      return `no answer within ${KEY_DOCUMENT_TIMEOUT_MS / 1000} s`;
    case "unreachable":
      return "unreachable";
    case "status":
      return `status ${failure.status}`;
    case "too_large":
      return `larger than ${MAX_KEY_DOCUMENT_BYTES / 1024} KiB`;
    case "not_json":
      return "not JSON";
    case "issuer_mismatch":
      return "discovery names another issuer";
    case "bad_jwks_uri":
      return "discovery has no usable jwks_uri";
    case "not_key_set":
      return "not a JSON Web Key Set";
    case "unusable_key":
      return "a published key cannot be used";
    case "stalled":
      return "a shared fetch did not settle in time";
  }
}

/**
 * A key document could not be had. Tokens are then neither valid nor
 * invalid: the caller fails closed with 503. Carries what an operator needs
 * to fix it (never a token or a secret).
 */
export class KeysUnavailable extends Error {
  readonly stage: KeyStage;
  /** The document's URL without query or fragment. */
  readonly url: string;
  readonly failure: KeySourceFailure;
  constructor(stage: KeyStage, url: string, failure: KeySourceFailure, options?: { cause?: unknown }) {
    super(`The identity provider's ${stage === "jwks" ? "JWKS" : "discovery document"} is unusable`, options);
    this.name = "KeysUnavailable";
    this.stage = stage;
    this.url = loggableUrl(url);
    this.failure = failure;
  }
}

/** A URL as logged: an operator-supplied query could carry something private, so only origin and path. */
function loggableUrl(url: string): string {
  try {
    const { origin, pathname } = new URL(url);
    return `${origin}${pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

/** A fetched key set, ready to verify with. */
export interface FetchedKeys {
  jwks: JSONWebKeySet;
  /** jose's matcher over this set; it imports each key once and keeps it. */
  local: JWTVerifyGetKey;
  /** The set as fetched, for telling whether it changed. */
  text: string;
  /** Seconds the provider said the set may be cached (Cache-Control max-age), when it said. */
  maxAgeSeconds?: number;
}

/** Builds jose's matcher over a key set, or undefined when it is not one. */
export function localKeySet(jwks: unknown): JWTVerifyGetKey | undefined {
  try {
    return createLocalJWKSet(jwks as JSONWebKeySet);
  } catch {
    return undefined;
  }
}

/** OIDC Discovery §4: the `jwks_uri` the issuer publishes, checked against the issuer (§4.3). */
export async function discoverJwksUrl(issuer: string): Promise<string> {
  const location = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  const { json } = await fetchDocument("discovery", location, "application/json");
  const { issuer: claimed, jwks_uri: jwksUri } = (json ?? {}) as Record<string, unknown>;
  if (claimed !== issuer) throw new KeysUnavailable("discovery", location, { kind: "issuer_mismatch" });
  if (typeof jwksUri !== "string" || typeof checkUrl(jwksUri) === "string") {
    throw new KeysUnavailable("discovery", location, { kind: "bad_jwks_uri" });
  }
  return jwksUri;
}

/** Fetches and checks a JWKS. */
export async function fetchKeySet(url: string): Promise<FetchedKeys> {
  const { json, maxAgeSeconds } = await fetchDocument("jwks", url, "application/json, application/jwk-set+json");
  const local = localKeySet(json);
  if (local === undefined) throw new KeysUnavailable("jwks", url, { kind: "not_key_set" });
  return { jwks: json as JSONWebKeySet, local, text: JSON.stringify(json), maxAgeSeconds };
}

/** One GET with a timeout, no redirects (a redirect could leave the configured host), a size cap and JSON. */
async function fetchDocument(
  stage: KeyStage,
  url: string,
  accept: string,
): Promise<{ json: unknown; maxAgeSeconds?: number }> {
  const fail = (failure: KeySourceFailure, cause?: unknown) => new KeysUnavailable(stage, url, failure, { cause });
  const signal = AbortSignal.timeout(KEY_DOCUMENT_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept }, redirect: "manual", signal });
  } catch (cause) {
    throw fail(signal.aborted ? { kind: "timeout" } : { kind: "unreachable" }, cause);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw fail({ kind: "status", status: response.status });
  }
  let body: Uint8Array | "too_large";
  try {
    body = await readCapped(response.body, MAX_KEY_DOCUMENT_BYTES);
  } catch (cause) {
    throw fail(signal.aborted ? { kind: "timeout" } : { kind: "unreachable" }, cause);
  }
  if (body === "too_large") throw fail({ kind: "too_large" });
  try {
    return { json: JSON.parse(new TextDecoder().decode(body)), maxAgeSeconds: maxAgeOf(response) };
  } catch (cause) {
    throw fail({ kind: "not_json" }, cause);
  }
}

function maxAgeOf(response: Response): number | undefined {
  const match = /(?:^|,)\s*max-age=(\d+)/i.exec(response.headers.get("cache-control") ?? "");
  return match ? Number(match[1]) : undefined;
}
