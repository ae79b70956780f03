import { type JSONWebKeySet, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTVerifyResult, jwtVerify } from "jose";
import type { AuthProvider } from "../config/auth";
import { log } from "../http/log";
import { base64url, sha256 } from "./encoding";
import { joseCode } from "./jose-code";
import {
  describeFailure,
  discoverJwksUrl,
  type FetchedKeys,
  fetchKeySet,
  KEY_DOCUMENT_TIMEOUT_MS,
  KeysUnavailable,
  localKeySet,
} from "./key-source";
import { boundedWait, SingleFlight, TIMED_OUT } from "./single-flight";

export { KeysUnavailable } from "./key-source";

/**
 * A provider's keys are fetched at most once per this long, counted from when
 * a fetch starts: kid misses, signature failures and failed fetches all wait
 * for it, so forged tokens and IdP outages cost one fetch per cooldown.
 */
const JWKS_COOLDOWN_MS = 30_000;
/**
 * Keys are refreshed at least this often, so a rotated-out key stops working
 * within it; the token cache (token-cache.ts) bounds its entries by it too.
 */
export const JWKS_MAX_AGE_SECONDS = 600;
/**
 * KV refuses an expirationTtl under 60 seconds; keys are also kept in memory
 * at least this long (longer than the cooldown), whatever the provider says.
 */
const MIN_KEY_AGE_SECONDS = 60;
/**
 * Isolates that adopt the same persisted key set would all go stale at the
 * same instant and refetch together; aging each adoption by up to this much
 * spreads their refreshes over a minute.
 */
const ADOPTION_JITTER_MS = 60_000;
/**
 * How long a request waits for a fetch another request started. A healthy
 * fetch ends within its own timeouts (discovery, then JWKS); past that, only
 * a fetch stalled with its request is left, and the waiter fails closed.
 */
const FLIGHT_BOUND_MS = 2 * KEY_DOCUMENT_TIMEOUT_MS + 1_000;
/** The KV read of a cold isolate has no timeout of its own; this bounds it. */
const KV_READ_BOUND_MS = KEY_DOCUMENT_TIMEOUT_MS;

/** Where key sets are persisted for other isolates, and how to wait for the write. */
export interface KeyPersistence {
  kv: KVNamespace;
  waitUntil: (promise: Promise<unknown>) => void;
}

/** What is persisted in KV: the key set, when it was fetched, and from where. */
interface PersistedKeys {
  url: string;
  uat: number;
  jwks: JSONWebKeySet;
  /** The provider's max-age in seconds, when it gave one. */
  max_age?: number;
}

interface HeldKeys extends FetchedKeys {
  /** When they were fetched (for adopted sets: when another isolate fetched them, minus jitter). */
  fetchedAt: number;
  maxAgeMs: number;
  /**
   * Which key material this is: a new number whenever the set's text
   * changes (a key added, removed, or replaced under the same kid), kept
   * when a refresh brings the same set. See {@link KeyStamp}.
   */
  generation: number;
}

/** The last generation handed out in this isolate; generations are never reused. */
let generations = 0;

/**
 * The key material that verified a token: its provider's key state and the
 * generation of the set it was verified with. The token cache keeps it with
 * each entry and asks {@link stampHolds} on every hit, so a cached token
 * never outlives the key set that verified it.
 */
export interface KeyStamp {
  readonly state: object;
  readonly generation: number;
}

/** A verification with a provider's keys, and the key material it used. */
export interface ProviderVerification extends JWTVerifyResult {
  readonly stamp: KeyStamp;
}

/** One provider's keys in this isolate. */
interface ProviderKeys {
  readonly issuer: string;
  readonly storageKey: Promise<string>;
  /** The configured JWKS URL, or the discovered or adopted one. */
  jwksUrl?: string;
  keys?: HeldKeys;
  /** The set's text as last written to (or adopted from) KV, so unchanged sets are not rewritten. */
  persisted?: string;
  /** The KV read of a cold isolate: once, shared by the requests that arrive together. */
  adopted?: Promise<void>;
  /** The KV read has settled: later verifications skip the bounded wait (a timer each) altogether. */
  adoptionSettled?: boolean;
  readonly refresh: SingleFlight;
  /** When the last refresh started; the cooldown counts from here. */
  lastStart?: number;
  /** The last refresh's failure, until a refresh succeeds: served to requests during the cooldown. */
  failure?: KeysUnavailable;
  /** The last discovery's outcome, for readiness. */
  discovery: "ok" | "failed" | "not_used" | "unchecked";
}

/** Keys by provider, at module scope, so imported CryptoKeys and the cooldown live for the whole isolate. */
const providers = new Map<string, ProviderKeys>();

/** jose errors that mean "this token names no usable key", which is the token's fault. */
const TOKEN_KEY_ERRORS = new Set([
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
  "ERR_JOSE_NOT_SUPPORTED",
]);

/**
 * Verifies a token with a JWKS provider's keys. A cold isolate first adopts
 * a key set another isolate persisted in KV, and fetches only without one.
 * An unknown kid refetches, and so does a known kid whose signature fails
 * (some IdPs reuse a kid across rotations), then verifies once more; both
 * at most once per cooldown. Failures of the key source surface as
 * {@link KeysUnavailable} (logged with their cause); a token's own faults
 * keep jose's errors.
 */
export async function verifyWithProviderKeys(
  token: string,
  provider: AuthProvider,
  persistence: KeyPersistence,
  options: JWTVerifyOptions,
): Promise<ProviderVerification> {
  const state = stateFor(provider);
  // Milliseconds, not the request's whole-second clock: a cooldown counted in whole seconds runs up to 1 s short.
  const now = Date.now();
  // The set the last key came from: after a retry with a refreshed set, that set verified the token.
  let used: HeldKeys | undefined;
  const getKey: JWTVerifyGetKey = async (header, jws) => {
    const found = await keyFor(state, header, jws, now, persistence);
    used = found.held;
    return found.key;
  };
  const stamped = (result: JWTVerifyResult): ProviderVerification => ({
    ...result,
    stamp: { state, generation: (used as HeldKeys).generation },
  });
  try {
    try {
      return stamped(await jwtVerify(token, getKey, options));
    } catch (error) {
      if (joseCode(error) !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") throw error;
      const before = state.keys;
      if ((await refreshIfAllowed(state, now, persistence, "signature")) !== "refreshed") throw error;
      // The same set again cannot verify differently: refuse without a second verification.
      if (state.keys === undefined || state.keys.text === before?.text) throw error;
      return stamped(await jwtVerify(token, getKey, options));
    }
  } catch (error) {
    if (error instanceof KeysUnavailable) logUnavailable(state, error);
    throw error;
  }
}

/**
 * Whether a token verified with `stamp`'s keys would still meet the same
 * keys in a fresh verification now: its provider holds the same generation
 * of the key set, and that set is not due for a refresh. Anything else (the
 * set changed, or it is stale and a fresh verification would refetch it
 * first) sends the caller to a fresh verification. `now` is in milliseconds,
 * the clock the key state keeps.
 */
export function stampHolds(stamp: KeyStamp, now: number = Date.now()): boolean {
  const held = fresh(stamp.state as ProviderKeys, now);
  return held !== undefined && held.generation === stamp.generation;
}

/** A provider's key source as a readiness probe sees it; no secrets, nothing from tokens. */
export interface KeyReadiness {
  issuer: string;
  discovery: "ok" | "failed" | "not_used" | "unchecked";
  jwks: "ok" | "failed";
  keys: number;
  /** What failed, in words, when something did. */
  cause?: string;
  ready: boolean;
}

/**
 * Refreshes a provider's keys (rediscovering the JWKS URL when discovery is
 * used) unless a refresh started within the cooldown, and reports the
 * outcome. The cooldown keeps an open readiness route from becoming a way to
 * make the IdP work.
 */
export async function probeKeys(provider: AuthProvider, persistence: KeyPersistence): Promise<KeyReadiness> {
  const state = stateFor(provider);
  const now = Date.now();
  await adopt(state, persistence);
  await refreshIfAllowed(state, now, persistence, "probe").catch(() => {});
  const held = fresh(state, now);
  const ready = held !== undefined && state.failure === undefined;
  const failure = state.failure;
  return {
    issuer: state.issuer,
    discovery: state.discovery,
    jwks: ready ? "ok" : "failed",
    keys: held?.jwks.keys.length ?? 0,
    ...(failure === undefined ? {} : { cause: `${failure.stage} ${failure.url}: ${describeFailure(failure.failure)}` }),
    ready,
  };
}

function stateFor(provider: AuthProvider): ProviderKeys {
  const configured = provider.jwksUrl?.href;
  const id = `${provider.issuer}\n${configured ?? ""}`;
  let state = providers.get(id);
  if (state === undefined) {
    state = {
      issuer: provider.issuer,
      storageKey: sha256(id).then((hash) => `jwks:${base64url(hash)}`),
      jwksUrl: configured,
      refresh: new SingleFlight(),
      discovery: configured === undefined ? "unchecked" : "not_used",
    };
    providers.set(id, state);
  }
  return state;
}

async function keyFor(
  state: ProviderKeys,
  header: Parameters<JWTVerifyGetKey>[0],
  jws: Parameters<JWTVerifyGetKey>[1],
  now: number,
  persistence: KeyPersistence,
): Promise<{ key: CryptoKey; held: HeldKeys }> {
  await adopt(state, persistence);
  if (fresh(state, now) === undefined) {
    await refreshIfAllowed(state, now, persistence, "stale");
  }
  const held = fresh(state, now);
  if (held === undefined)
    throw state.failure ?? new KeysUnavailable("jwks", state.jwksUrl ?? state.issuer, { kind: "stalled" });
  try {
    return { key: await match(state, held, header, jws), held };
  } catch (error) {
    if (joseCode(error) !== "ERR_JWKS_NO_MATCHING_KEY") throw error;
    // An unknown kid may be a new key: look once per cooldown, else it is the token's fault.
    if ((await refreshIfAllowed(state, now, persistence, "kid")) !== "refreshed") throw error;
    const refreshed = fresh(state, now);
    if (refreshed === undefined || refreshed === held) throw error;
    return { key: await match(state, refreshed, header, jws), held: refreshed };
  }
}

async function match(
  state: ProviderKeys,
  held: HeldKeys,
  header: Parameters<JWTVerifyGetKey>[0],
  jws: Parameters<JWTVerifyGetKey>[1],
): Promise<CryptoKey> {
  try {
    return (await held.local(header, jws)) as CryptoKey;
  } catch (error) {
    const code = joseCode(error);
    if (code !== undefined && TOKEN_KEY_ERRORS.has(code)) throw error;
    // A published key jose cannot import (e.g. a private key in the set): the IdP's fault.
    throw new KeysUnavailable("jwks", state.jwksUrl ?? state.issuer, { kind: "unusable_key" }, { cause: error });
  }
}

function fresh(state: ProviderKeys, now: number): HeldKeys | undefined {
  const held = state.keys;
  return held !== undefined && now < held.fetchedAt + held.maxAgeMs ? held : undefined;
}

/**
 * Starts a refresh unless one is in flight (then joins it) or one started
 * within the cooldown ("refused"). Throws the refresh's failure, or
 * {@link KeysUnavailable} "stalled" when the flight outlived its bound.
 */
async function refreshIfAllowed(
  state: ProviderKeys,
  now: number,
  persistence: KeyPersistence,
  reason: "stale" | "kid" | "signature" | "probe",
): Promise<"refreshed" | "refused"> {
  let flight = state.refresh.current;
  if (flight === undefined) {
    if (state.lastStart !== undefined && now - state.lastStart < JWKS_COOLDOWN_MS) return "refused";
    state.lastStart = now;
    flight = state.refresh.start(now, FLIGHT_BOUND_MS, () => refresh(state, now, persistence, reason === "probe"));
    // Keep the fetch alive with the request that started it even if that request is answered first.
    persistence.waitUntil(flight.work);
  }
  if ((await state.refresh.wait(flight)) === "stalled") {
    state.failure = new KeysUnavailable("jwks", state.jwksUrl ?? state.issuer, { kind: "stalled" });
    throw state.failure;
  }
  if (state.failure !== undefined) throw state.failure;
  return "refreshed";
}

/** Discovery (when needed), then the JWKS. Records the outcome in `state`; never throws. */
async function refresh(state: ProviderKeys, now: number, persistence: KeyPersistence, rediscover: boolean) {
  try {
    if (state.discovery !== "not_used" && (state.jwksUrl === undefined || rediscover)) {
      try {
        state.jwksUrl = await discoverJwksUrl(state.issuer);
        state.discovery = "ok";
      } catch (error) {
        state.discovery = "failed";
        throw error;
      }
    }
    const url = state.jwksUrl as string;
    const fetched = await fetchKeySet(url);
    const maxAgeSeconds = Math.max(
      MIN_KEY_AGE_SECONDS,
      Math.min(fetched.maxAgeSeconds ?? JWKS_MAX_AGE_SECONDS, JWKS_MAX_AGE_SECONDS),
    );
    const generation = state.keys?.text === fetched.text ? state.keys.generation : ++generations;
    state.keys = { ...fetched, fetchedAt: now, maxAgeMs: maxAgeSeconds * 1000, generation };
    state.failure = undefined;
    if (fetched.text !== state.persisted) {
      state.persisted = fetched.text;
      persist(state, { url, uat: now, jwks: fetched.jwks, max_age: fetched.maxAgeSeconds }, maxAgeSeconds, persistence);
    }
  } catch (error) {
    state.failure =
      error instanceof KeysUnavailable
        ? error
        : new KeysUnavailable("jwks", state.jwksUrl ?? state.issuer, { kind: "unreachable" }, { cause: error });
  }
}

/** Writes a changed key set to KV for cold isolates; best effort. */
function persist(state: ProviderKeys, value: PersistedKeys, ttl: number, persistence: KeyPersistence): void {
  persistence.waitUntil(
    state.storageKey
      .then((key) => persistence.kv.put(key, JSON.stringify(value), { expirationTtl: ttl }))
      .catch(() => {}),
  );
}

/** A cold isolate's first look: a key set another isolate persisted. Once per provider per isolate. */
async function adopt(state: ProviderKeys, persistence: KeyPersistence): Promise<void> {
  if (state.adoptionSettled) return;
  state.adopted ??= (async () => {
    const stored = await state.storageKey
      .then((key) => persistence.kv.get<PersistedKeys>(key, "json"))
      .catch(() => null);
    if (stored === null || typeof stored.url !== "string" || typeof stored.uat !== "number") return;
    if (state.jwksUrl !== undefined && stored.url !== state.jwksUrl) return;
    const local = localKeySet(stored.jwks);
    if (local === undefined || state.keys !== undefined) return;
    const maxAge = typeof stored.max_age === "number" ? stored.max_age : JWKS_MAX_AGE_SECONDS;
    state.jwksUrl = stored.url;
    state.persisted = JSON.stringify(stored.jwks);
    state.keys = {
      jwks: stored.jwks,
      local,
      text: state.persisted,
      fetchedAt: stored.uat - Math.floor(Math.random() * ADOPTION_JITTER_MS),
      maxAgeMs: Math.max(MIN_KEY_AGE_SECONDS, Math.min(maxAge, JWKS_MAX_AGE_SECONDS)) * 1000,
      generation: ++generations,
    };
  })().finally(() => {
    state.adoptionSettled = true;
  });
  // Like any shared work, the read may belong to another request: wait for it within a bound, and
  // after a read that never settles, go without (the keys are then fetched).
  if ((await boundedWait(state.adopted, KV_READ_BOUND_MS)) === TIMED_OUT) state.adopted = Promise.resolve();
}

function logUnavailable(state: ProviderKeys, error: KeysUnavailable): void {
  log("error", "auth_unavailable", {
    issuer: state.issuer,
    stage: error.stage,
    url: error.url,
    cause: describeFailure(error.failure),
  });
}
