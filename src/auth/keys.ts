import {
  createRemoteJWKSet,
  customFetch,
  type JSONWebKeySet,
  type JWKSCacheInput,
  type JWTVerifyGetKey,
  jwksCache,
} from "jose";
import type { AuthProvider } from "../config/auth";
import { checkUrl } from "../config/reader";
import { readCapped } from "../http/body";
import { base64url, sha256 } from "./encoding";

/** jose's default: long enough for a slow IdP, short enough to fail a request fast. */
const JWKS_TIMEOUT_MS = 5_000;
/** A kid miss refetches the JWKS at most this often, so random kids cannot flood the IdP. */
const JWKS_COOLDOWN_MS = 30_000;
/** Keys are refreshed at least this often, so a rotated-out key stops working within it. */
const JWKS_MAX_AGE_SECONDS = 600;
/** KV refuses an expirationTtl under 60 seconds. */
const MIN_KV_TTL_SECONDS = 60;
/** Discovery documents and key sets are a few KiB; the cap bounds memory on a hostile answer. */
const MAX_KEY_DOCUMENT_BYTES = 64 * 1024;
/**
 * Isolates that adopt the same persisted key set would all go stale at the
 * same instant and refetch together; aging each adoption by up to this much
 * spreads their refreshes (and their KV writes to one key) over a minute.
 */
const ADOPTION_JITTER_MS = 60_000;
/** Discovery documents are small; a timeout keeps a hung IdP from holding requests. */
const DISCOVERY_TIMEOUT_MS = 5_000;

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

/** Where a resolver may persist its key set for other isolates, and how to wait for the write. */
export interface KeyPersistence {
  kv: KVNamespace;
  waitUntil: (promise: Promise<unknown>) => void;
}

/** What is persisted in KV: the key set, when jose fetched it, and from where. */
interface PersistedKeys {
  url: string;
  uat: number;
  jwks: JSONWebKeySet;
}

interface Resolver {
  url: string;
  remote: JWTVerifyGetKey;
  /** jose's cache hook object: jose reads it at creation and updates it after each fetch. */
  cache: JWKSCacheInput;
  /** The `uat` last written to KV, so each fetch is persisted once. */
  saved?: number;
  /** Seconds the provider said its keys may be cached (Cache-Control max-age). */
  readonly maxAge?: number;
}

/**
 * Resolvers by provider, at module scope, so jose's key cache, imported
 * CryptoKeys and kid-miss cooldown live for the whole isolate.
 */
const resolvers = new Map<string, Resolver>();

/** jose errors that mean "this token names no usable key", which is the token's fault. */
const TOKEN_KEY_ERRORS = new Set([
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
  "ERR_JOSE_NOT_SUPPORTED",
]);

/**
 * The key resolver for a JWKS provider. A cold isolate first looks for a key
 * set another isolate persisted in KV, and fetches (discovery, then JWKS)
 * only when there is none. Failures of the key source surface as
 * {@link KeysUnavailable}; a token naming no known key keeps jose's error.
 */
export async function keyResolverFor(provider: AuthProvider, persistence: KeyPersistence): Promise<JWTVerifyGetKey> {
  const id = `${provider.issuer}\n${provider.jwksUrl?.href ?? ""}`;
  const resolver = resolvers.get(id) ?? (await createResolver(id, provider, persistence));
  return async (header, token) => {
    let key: Awaited<ReturnType<JWTVerifyGetKey>>;
    try {
      key = await resolver.remote(header, token);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && TOKEN_KEY_ERRORS.has(code)) throw error;
      throw new KeysUnavailable("The signing keys could not be fetched", { cause: error });
    } finally {
      persist(id, resolver, persistence);
    }
    return key;
  };
}

async function createResolver(id: string, provider: AuthProvider, persistence: KeyPersistence): Promise<Resolver> {
  const storageKey = await storageKeyFor(id);
  const stored = await persistence.kv.get<PersistedKeys>(storageKey, "json").catch(() => null);
  const valid =
    stored !== null &&
    typeof stored.url === "string" &&
    typeof stored.uat === "number" &&
    typeof stored.jwks === "object";
  const url = provider.jwksUrl?.href ?? (valid ? stored.url : await discoverJwksUri(provider.issuer));
  const adopted = valid && stored.url === url;
  const cache: JWKSCacheInput = adopted
    ? { uat: stored.uat - Math.floor(Math.random() * ADOPTION_JITTER_MS), jwks: stored.jwks }
    : {};
  const headers: { maxAge?: number } = {};
  const remote = createRemoteJWKSet(new URL(url), {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: JWKS_MAX_AGE_SECONDS * 1000,
    [jwksCache]: cache,
    [customFetch]: async (input: string, init: RequestInit) => {
      const response = await fetch(input, init);
      headers.maxAge = maxAgeOf(response.headers.get("cache-control"));
      return new Response(await capped(response), { status: response.status, headers: response.headers });
    },
  });
  const resolver: Resolver = {
    url,
    remote,
    cache,
    saved: adopted ? cache.uat : undefined,
    get maxAge() {
      return headers.maxAge;
    },
  };
  resolvers.set(id, resolver);
  return resolver;
}

/** Writes a freshly fetched key set to KV once, for cold isolates; best effort. */
function persist(id: string, resolver: Resolver, persistence: KeyPersistence): void {
  const { uat, jwks } = resolver.cache as Partial<PersistedKeys>;
  if (uat === undefined || jwks === undefined || uat === resolver.saved) return;
  resolver.saved = uat;
  const ttl = Math.max(MIN_KV_TTL_SECONDS, Math.min(resolver.maxAge ?? JWKS_MAX_AGE_SECONDS, JWKS_MAX_AGE_SECONDS));
  const value: PersistedKeys = { url: resolver.url, uat, jwks };
  persistence.waitUntil(
    storageKeyFor(id)
      .then((key) => persistence.kv.put(key, JSON.stringify(value), { expirationTtl: ttl }))
      .catch(() => {}),
  );
}

async function storageKeyFor(id: string): Promise<string> {
  return `jwks:${base64url(await sha256(id))}`;
}

function maxAgeOf(cacheControl: string | null): number | undefined {
  const match = /(?:^|,)\s*max-age=(\d+)/i.exec(cacheControl ?? "");
  return match ? Number(match[1]) : undefined;
}

async function capped(response: Response): Promise<Uint8Array> {
  const body = await readCapped(response.body, MAX_KEY_DOCUMENT_BYTES);
  if (body === "too_large") throw new KeysUnavailable("The key document is too large");
  return body;
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
    document = JSON.parse(new TextDecoder().decode(await capped(response)));
  } catch (cause) {
    throw new KeysUnavailable("The identity provider's discovery document could not be fetched", { cause });
  }
  const { issuer: claimed, jwks_uri: jwksUri } = (document ?? {}) as Record<string, unknown>;
  if (claimed !== issuer || typeof jwksUri !== "string" || typeof checkUrl(jwksUri) === "string") {
    throw new KeysUnavailable("The identity provider's discovery document is not usable");
  }
  return jwksUri;
}
