import { createRemoteJWKSet, type JWTVerifyGetKey } from "jose";
import { checkUrl } from "../config/reader";
import { readCapped } from "../http/body";

/** jose's default: long enough for a slow IdP, short enough to fail a request fast. */
const JWKS_TIMEOUT_MS = 5_000;
/** A kid miss refetches the JWKS at most this often, so random kids cannot flood the IdP. */
const JWKS_COOLDOWN_MS = 30_000;
/** Keys are refreshed at least this often, so a rotated-out key stops working within it. */
const JWKS_MAX_AGE_MS = 10 * 60_000;
/** Discovery documents are small; a timeout keeps a hung IdP from holding requests. */
const DISCOVERY_TIMEOUT_MS = 5_000;
/** Real discovery documents are a few KiB; the cap bounds memory on a hostile answer. */
const MAX_DISCOVERY_BYTES = 64 * 1024;

/**
 * The key source itself failed (unreachable, timed out, bad answer). Tokens
 * are then neither valid nor invalid: the caller fails closed with 503.
 */
export class KeysUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KeysUnavailable";
  }
}

/**
 * JWKS resolvers by URL, kept at module scope so jose's key cache, imported
 * CryptoKeys and kid-miss cooldown live for the whole isolate, not a request.
 */
const resolvers = new Map<string, JWTVerifyGetKey>();
/** `jwks_uri` found by discovery, by issuer. Only settled strings are kept: Workers forbid sharing pending I/O across requests. */
const discovered = new Map<string, string>();

/** jose errors that mean "this token names no usable key", which is the token's fault. */
const TOKEN_KEY_ERRORS = new Set([
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
  "ERR_JOSE_NOT_SUPPORTED",
]);

/**
 * The key resolver for an issuer: its explicit JWKS URL, or the `jwks_uri`
 * from its OIDC discovery document. Failures of the key source surface as
 * {@link KeysUnavailable}; a token that names no known key keeps jose's error.
 */
export async function keyResolverFor(issuer: string, jwksUrl: URL | undefined): Promise<JWTVerifyGetKey> {
  const url = jwksUrl?.href ?? discovered.get(issuer) ?? (await discoverJwksUri(issuer));
  let resolver = resolvers.get(url);
  if (resolver === undefined) {
    const remote = createRemoteJWKSet(new URL(url), {
      timeoutDuration: JWKS_TIMEOUT_MS,
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_MAX_AGE_MS,
    });
    resolver = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === "string" && TOKEN_KEY_ERRORS.has(code)) throw error;
        throw new KeysUnavailable("The signing keys could not be fetched", { cause: error });
      }
    };
    resolvers.set(url, resolver);
  }
  return resolver;
}

async function discoverJwksUri(issuer: string): Promise<string> {
  // OIDC Discovery §4: the document lives under the issuer, which must match it exactly (§4.3).
  const location = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let document: unknown;
  try {
    const response = await fetch(location, {
      headers: { accept: "application/json" },
      redirect: "manual",
      signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
    });
    if (response.status !== 200) throw new Error(`discovery answered ${response.status}`);
    const body = await readCapped(response.body, MAX_DISCOVERY_BYTES);
    if (body === "too_large") throw new Error("discovery document too large");
    document = JSON.parse(new TextDecoder().decode(body));
  } catch (cause) {
    throw new KeysUnavailable("The identity provider's discovery document could not be fetched", { cause });
  }
  const { issuer: claimed, jwks_uri: jwksUri } = (document ?? {}) as Record<string, unknown>;
  if (claimed !== issuer || typeof jwksUri !== "string" || typeof checkUrl(jwksUri) === "string") {
    throw new KeysUnavailable("The identity provider's discovery document is not usable");
  }
  discovered.set(issuer, jwksUri);
  return jwksUri;
}
