import type { AuthConfig } from "../config/auth";
import { AuthFailed, type AuthFailure } from "./failures";
import { JWKS_MAX_AGE_SECONDS, type KeyPersistence, type KeyStamp, stampHolds } from "./keys";
import { LruMap } from "./lru";
import { type VerifiedUser, verifyToken } from "./verify";

/**
 * Verified tokens kept per configuration, like Envoy's `jwt_cache_size`
 * (100 by default there).
 * Measured on V8, 1,000 entries take 13 MiB for tokens of the full
 * {@link MAX_CACHED_TOKEN_LENGTH} whose claims are a long array of short
 * strings (the worst shape), and 3.7 MiB for usual 1 KiB tokens; this bound
 * keeps the cache near 6.5 MiB at worst, 5% of an isolate's 128 MiB. When
 * full, the token used least recently is forgotten, which costs one fresh
 * verification when it comes back.
 */
export const MAX_CACHED_TOKENS = 500;

/**
 * The longest token cached, in characters: Envoy's jwt_authn caches no
 * token over 4 KiB either. Tokens of the common IdPs are 0.8-2 KiB; a
 * longer one (Entra ID with many groups) is verified on every request, so
 * no one can fill the memory with 16 KiB tokens.
 */
export const MAX_CACHED_TOKEN_LENGTH = 4_096;

/**
 * The longest a verification is reused, in seconds, counted from when it was
 * done: the JWKS max age. The key stamp (below) already ends an entry when
 * its provider's key set changes or falls due for a refresh; this bound also
 * covers HS256, whose secret has no key set, and costs one verification per
 * token every ten minutes.
 */
export const MAX_CACHED_SECONDS = JWKS_MAX_AGE_SECONDS;

interface CachedToken {
  /** The outcome of the fresh verification, frozen: it is handed to every request with the token. */
  readonly verified: VerifiedUser;
  readonly exp: number;
  readonly nbf?: number;
  readonly iat?: number;
  /** Unix seconds after which the token is verified afresh ({@link MAX_CACHED_SECONDS}). */
  readonly reuseUntil: number;
  /** The key material that verified the token (JWKS providers); the entry holds only while it does. */
  readonly stamp?: KeyStamp;
}

/**
 * Caches by configuration: a WeakMap keyed by the parsed AuthConfig, which
 * `loadConfig` makes once per environment object. A new environment (another
 * issuer, audience, secret or clock tolerance) gets a new, empty cache, so an
 * entry verified under one configuration is never accepted under another;
 * a dropped configuration takes its cache with it.
 */
const caches = new WeakMap<AuthConfig, LruMap<string, CachedToken>>();

/**
 * Verifies a bearer token, answering from the isolate's cache when the exact
 * token string was verified before under this configuration. Only successes
 * are cached; a refused token is verified again each time it is sent.
 *
 * A hit re-checks what can change while the token sits in the cache: the
 * time. `exp` with the clock tolerance, `nbf` and `iat` are compared with
 * `nowSeconds` exactly as a fresh verification compares them, and a token
 * that fails is refused with the same failure and dropped.
 *
 * A hit also re-checks what depends on the outside world: the provider's
 * key set. Each entry keeps the stamp of the key material that verified it
 * (keys.ts), and a hit holds only while the provider still has that same
 * generation of its key set and the set is not due for a refresh. When the
 * set changed (a key removed, or a kid reused for a new key) or is stale, the
 * token goes to a fresh verification, which refetches or refuses exactly as
 * it would for a token never seen. Every other check (header, issuer,
 * algorithm, audience, signature, user mapping) is a pure function of the
 * token string, the configuration (the cache's two keys) and those keys, so
 * it cannot turn out differently.
 *
 * A hit costs a Map lookup and no WebCrypto call: the user, the owner key and
 * the claims are kept with the token.
 *
 * @param nowSeconds the current unix time, injected so tests control the clock
 * @param verify the fresh verification, injectable for unit tests
 */
export async function authenticate(
  token: string,
  auth: AuthConfig,
  nowSeconds: number,
  persistence: KeyPersistence,
  verify: typeof verifyToken = verifyToken,
): Promise<VerifiedUser> {
  const cacheable = token.length <= MAX_CACHED_TOKEN_LENGTH;
  const cache = cacheable ? cacheFor(auth) : undefined;
  const cached = cache?.get(token);
  if (cache !== undefined && cached !== undefined) {
    const failure = timeFailure(cached, nowSeconds, auth.clockToleranceSeconds);
    if (failure === undefined && nowSeconds < cached.reuseUntil && keysHold(cached)) return cached.verified;
    cache.delete(token);
    if (failure !== undefined) throw new AuthFailed(failure);
  }
  const { stamp, ...verified } = await verify(token, auth, nowSeconds, persistence);
  if (cache === undefined) return verified;
  const entry = entryFor(verified, stamp, nowSeconds);
  cache.set(token, entry);
  return entry.verified;
}

/** HS256 entries have no stamp: the secret is the configuration's, and a new one is a new cache. */
const keysHold = (cached: CachedToken) => cached.stamp === undefined || stampHolds(cached.stamp);

function cacheFor(auth: AuthConfig): LruMap<string, CachedToken> {
  let cache = caches.get(auth);
  if (cache === undefined) {
    cache = new LruMap(MAX_CACHED_TOKENS);
    caches.set(auth, cache);
  }
  return cache;
}

function entryFor(verified: VerifiedUser, stamp: KeyStamp | undefined, nowSeconds: number): CachedToken {
  const { exp, nbf, iat } = verified.claims;
  return {
    stamp,
    verified: Object.freeze({ ...verified, claims: deepFreeze(verified.claims) }),
    // A fresh verification requires a numeric exp (and numeric nbf and iat when present).
    exp: exp as number,
    nbf,
    iat,
    reuseUntil: nowSeconds + MAX_CACHED_SECONDS,
  };
}

/**
 * The time checks of a fresh verification, in its order and with its
 * comparisons: jose's `nbf` and `exp` against the whole second of `now`
 * (jose floors the date it is given), then verify.ts's `iat`.
 */
function timeFailure(cached: CachedToken, nowSeconds: number, tolerance: number): AuthFailure | undefined {
  const now = Math.floor(nowSeconds);
  if (cached.nbf !== undefined && cached.nbf > now + tolerance) return "not_yet_valid";
  if (cached.exp <= now - tolerance) return "expired";
  if (cached.iat !== undefined && cached.iat > nowSeconds + tolerance) return "issued_in_future";
  return undefined;
}

/** Freezes the claims and everything in them, so no request can change what the next one with the token sees. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
