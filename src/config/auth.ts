import {
  type AuthProvider,
  DEFAULT_ALGORITHMS,
  DEFAULT_USER_CLAIM,
  PROVIDER_FIELDS,
  type ProviderField,
  readProvider,
} from "./provider";
import { isPlainObject, type SettingsReader } from "./reader";
import { readSecret, readUserIds, type UserIdConfig } from "./user-id";

export type { AuthProvider } from "./provider";
export type { UserIdConfig } from "./user-id";

/** More skew than this would hide a broken clock rather than absorb drift. */
const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** The contract's default skew. */
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
/** Enough for every issuer a real app federates; more is a configuration mistake. */
const MAX_PROVIDERS = 16;

export interface AuthConfig {
  /** Providers by exact issuer; the token's `iss` picks one, and only from here. */
  providers: ReadonlyMap<string, AuthProvider>;
  /** Skew allowed on `exp`, `nbf` and `iat`. */
  clockToleranceSeconds: number;
  /** The HS256 key for providers with `keys: "secret"`. */
  hs256Secret?: string;
  /** `USER_ID_MODE`: raw `prefix + claim`, or keyed pseudonyms (with keyed KV names and log ids). */
  userIds: UserIdConfig;
}

/** A provider field's single-issuer setting: `jwks_url` is `AUTH_JWKS_URL`. */
const single = (field: ProviderField) => `AUTH_${field.toUpperCase()}`;
/** Set to their defaults (which `[vars]` in wrangler.toml carries), these two say nothing. */
const SINGLE_ISSUER_DEFAULTS: Partial<Record<ProviderField, string>> = {
  algorithms: DEFAULT_ALGORITHMS.join(),
  user_claim: DEFAULT_USER_CLAIM,
};

/** Reads `AUTH_PROVIDERS` or the single-issuer `AUTH_*` settings, and the shared auth secrets. */
export function readAuth(read: SettingsReader): AuthConfig | undefined {
  const hs256Secret = readSecret(read, "AUTH_HS256_SECRET");
  const userIds = readUserIds(read, hs256Secret);
  const clockToleranceSeconds = read.integer(
    "AUTH_CLOCK_TOLERANCE_SECONDS",
    DEFAULT_CLOCK_TOLERANCE_SECONDS,
    0,
    MAX_CLOCK_TOLERANCE_SECONDS,
  );
  const list = read.json("AUTH_PROVIDERS");
  const hasSecret = hs256Secret !== undefined;
  // The single-issuer settings as one provider entry; a comma list is read as a list.
  const entry: Record<string, unknown> = {};
  for (const field of PROVIDER_FIELDS) {
    const value = read.string(single(field));
    if (value !== undefined && value.replace(/\s/g, "") !== SINGLE_ISSUER_DEFAULTS[field]) entry[field] = value;
  }
  if (entry.allow_unverified_email !== undefined) {
    entry.allow_unverified_email = read.boolean(single("allow_unverified_email"), false);
  }
  let providers: AuthProvider[] | undefined;
  if (list === undefined) {
    const provider = readProvider(read, single, entry, hasSecret);
    providers = provider && [provider];
  } else {
    const mixed = Object.keys(entry).map((field) => single(field as ProviderField));
    if (mixed.length > 0) {
      read.problem("AUTH_PROVIDERS", `cannot be combined with ${mixed.join(", ")}: move them into its entries`);
    }
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_PROVIDERS) {
      read.problem("AUTH_PROVIDERS", `must be a JSON array of 1 to ${MAX_PROVIDERS} provider objects`);
    } else {
      providers = readProviders(read, list, hasSecret);
    }
  }
  if (providers === undefined || userIds === undefined) return undefined;
  if (hasSecret && !providers.some((p) => p.keys === "secret")) {
    read.problem("AUTH_HS256_SECRET", "is set but no provider accepts HS256 (AUTH_ALGORITHMS=HS256)");
  }
  return { providers: new Map(providers.map((p) => [p.issuer, p])), clockToleranceSeconds, hs256Secret, userIds };
}

function readProviders(read: SettingsReader, list: unknown[], hasSecret: boolean): AuthProvider[] | undefined {
  const providers = list.flatMap((entry: unknown, index) => {
    const where = `AUTH_PROVIDERS[${index}]`;
    if (
      !isPlainObject(entry) ||
      !Object.keys(entry).every((key) => (PROVIDER_FIELDS as readonly string[]).includes(key))
    ) {
      read.problem(where, `must be an object with only ${PROVIDER_FIELDS.join(", ")}`);
      return [];
    }
    return readProvider(read, (field) => `${where}.${field}`, entry, hasSecret) ?? [];
  });
  if (providers.length !== list.length) return undefined;
  if (new Set(providers.map((p) => p.issuer)).size !== providers.length) {
    read.problem("AUTH_PROVIDERS", "lists the same issuer twice");
  }
  if (providers.length > 1 && !prefixFree(providers.map((p) => p.userPrefix))) {
    // Otherwise two providers' subjects could become one ChatKit user (see docs/security.md).
    read.problem("AUTH_PROVIDERS", "needs a non-empty user_prefix per provider, none the start of another");
  }
  return providers;
}

/**
 * True when every prefix is non-empty and none starts another. Distinct is
 * not enough: with `acme` and `acme:`, the claim `:bob` from the first and
 * `bob` from the second are both `acme:bob`.
 */
function prefixFree(prefixes: readonly string[]): boolean {
  return prefixes.every(
    (prefix, i) => prefix !== "" && prefixes.every((other, j) => i === j || !other.startsWith(prefix)),
  );
}
