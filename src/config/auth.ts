import { checkUrl, isPlainObject, type SettingsReader } from "./reader";

/** More skew than this would hide a broken clock rather than absorb drift. */
const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** A dot path deeper than this is a typo, not a real token layout. */
const MAX_CLAIM_PATH_DEPTH = 8;
/** Keeps the mapped user well inside KV key and log limits. */
const MAX_USER_PREFIX_LENGTH = 64;
/** RFC 7518 §3.2: an HS256 key must have at least 256 bits; shorter secrets are guessable. */
const MIN_SECRET_LENGTH = 32;
/** Enough for every issuer a real app federates; more is a configuration mistake. */
const MAX_PROVIDERS = 16;
/** The defaults `[vars]` in wrangler.toml carry for the single-issuer settings. */
const DEFAULT_ALGORITHMS = ["RS256", "ES256"];
const DEFAULT_USER_CLAIM = "sub";

/**
 * Asymmetric algorithms a JWKS can carry. `none` and HS* are left out on
 * purpose: with a public JWKS they would let anyone forge tokens.
 */
export const JWKS_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** One trusted token issuer. */
export interface AuthProvider {
  /** The exact `iss` its tokens carry; compared byte for byte and used to pick the provider. */
  issuer: string;
  /** Tokens must name at least one of these in `aud`. */
  audiences: readonly string[];
  /** Where its keys come from: its JWKS, or the shared `AUTH_HS256_SECRET`. */
  keys: "jwks" | "secret";
  /** Explicit JWKS location; undefined with `keys: "jwks"` means OIDC discovery. */
  jwksUrl?: URL;
  /** The only `alg` values accepted from it. */
  algorithms: readonly string[];
  /** Path of the claim that becomes the ChatKit `user`, split on dots. */
  userClaim: readonly string[];
  /** Put before the claim value, so the same `sub` from two issuers never maps to one user. */
  userPrefix: string;
}

export interface AuthConfig {
  /** Providers by exact issuer; the token's `iss` picks one, and only from here. */
  providers: ReadonlyMap<string, AuthProvider>;
  /** Skew allowed on `exp`, `nbf` and `iat`. */
  clockToleranceSeconds: number;
  /** The HS256 key for providers with `keys: "secret"`. */
  hs256Secret?: string;
  /** When set, users are pseudonymised: `u_` + base64url(HMAC-SHA256(secret, prefix + claim)). */
  userIdSecret?: string;
}

interface RawProvider {
  issuer?: unknown;
  audience?: unknown;
  jwks_url?: unknown;
  algorithms?: unknown;
  user_claim?: unknown;
  user_prefix?: unknown;
}

const PROVIDER_FIELDS = new Set(["issuer", "audience", "jwks_url", "algorithms", "user_claim", "user_prefix"]);
const SINGLE_ISSUER_SETTINGS = ["AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWKS_URL", "AUTH_USER_PREFIX"];

/** Reads `AUTH_PROVIDERS` or the single-issuer `AUTH_*` settings, and the shared auth secrets. */
export function readAuth(read: SettingsReader): AuthConfig | undefined {
  const hs256Secret = readSecret(read, "AUTH_HS256_SECRET");
  const userIdSecret = readSecret(read, "USER_ID_SECRET");
  const clockToleranceSeconds = read.integer("AUTH_CLOCK_TOLERANCE_SECONDS", 30, 0, MAX_CLOCK_TOLERANCE_SECONDS);
  const list = read.json("AUTH_PROVIDERS");

  let providers: AuthProvider[] | undefined;
  if (list === undefined) {
    providers = readSingleIssuer(read, hs256Secret !== undefined);
  } else {
    const conflicting =
      SINGLE_ISSUER_SETTINGS.some((name) => read.string(name) !== undefined) ||
      !sameList(read.list("AUTH_ALGORITHMS"), DEFAULT_ALGORITHMS, true) ||
      (read.string("AUTH_USER_CLAIM") ?? DEFAULT_USER_CLAIM) !== DEFAULT_USER_CLAIM;
    if (conflicting) {
      read.problem(
        "AUTH_PROVIDERS",
        "cannot be combined with AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URL, AUTH_ALGORITHMS, AUTH_USER_CLAIM or AUTH_USER_PREFIX: move those into the provider entries",
      );
    }
    providers = readProviders(read, list, hs256Secret !== undefined);
  }
  if (providers === undefined) return undefined;

  const usesSecret = providers.some((p) => p.keys === "secret");
  if (hs256Secret !== undefined && !usesSecret) {
    read.problem(
      "AUTH_HS256_SECRET",
      "is set but no provider accepts HS256: set AUTH_ALGORITHMS=HS256 or remove the secret",
    );
  }
  return {
    providers: new Map(providers.map((p) => [p.issuer, p])),
    clockToleranceSeconds,
    hs256Secret,
    userIdSecret,
  };
}

function readSingleIssuer(read: SettingsReader, hasSecret: boolean): AuthProvider[] | undefined {
  const issuer = read.required("AUTH_ISSUER");
  const audiences = read.list("AUTH_AUDIENCE");
  if (audiences.length === 0)
    read.problem("AUTH_AUDIENCE", "is required: the audience your identity provider puts in `aud`");
  const provider = checkProvider(read, "AUTH_*", hasSecret, {
    issuer,
    audiences,
    jwksUrl: read.string("AUTH_JWKS_URL"),
    algorithms: read.list("AUTH_ALGORITHMS"),
    userClaim: read.string("AUTH_USER_CLAIM"),
    userPrefix: read.string("AUTH_USER_PREFIX") ?? "",
  });
  return provider && [provider];
}

function readProviders(read: SettingsReader, list: unknown, hasSecret: boolean): AuthProvider[] | undefined {
  const shape = 'must be a JSON array like [{"issuer": "https://...", "audience": "...", "user_prefix": "a|"}]';
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_PROVIDERS) {
    read.problem("AUTH_PROVIDERS", `${shape}, with 1 to ${MAX_PROVIDERS} entries`);
    return undefined;
  }
  const providers: AuthProvider[] = [];
  list.forEach((entry: RawProvider, index) => {
    const where = `AUTH_PROVIDERS[${index}]`;
    if (!isPlainObject(entry) || !Object.keys(entry).every((key) => PROVIDER_FIELDS.has(key))) {
      read.problem(where, `must be an object with only ${[...PROVIDER_FIELDS].join(", ")}`);
      return;
    }
    const strings = (value: unknown) =>
      typeof value === "string"
        ? value
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : Array.isArray(value) && value.every((v) => typeof v === "string")
          ? value.map((v) => v.trim()).filter(Boolean)
          : undefined;
    const audiences = strings(entry.audience) ?? [];
    if (audiences.length === 0) read.problem(where, ".audience is required: a string or an array of strings");
    const optionalString = (value: unknown, field: string) => {
      if (value === undefined || typeof value === "string") return value?.trim() || undefined;
      read.problem(where, `.${field} must be a string`);
      return undefined;
    };
    const algorithms = entry.algorithms === undefined ? [] : strings(entry.algorithms);
    if (algorithms === undefined) read.problem(where, ".algorithms must be a string or an array of strings");
    const provider = checkProvider(read, where, hasSecret, {
      issuer: typeof entry.issuer === "string" && entry.issuer.trim() !== "" ? entry.issuer.trim() : undefined,
      audiences,
      jwksUrl: optionalString(entry.jwks_url, "jwks_url"),
      algorithms: algorithms ?? [],
      userClaim: optionalString(entry.user_claim, "user_claim"),
      userPrefix: optionalString(entry.user_prefix, "user_prefix") ?? "",
    });
    if (provider) providers.push(provider);
  });
  if (providers.length !== list.length) return undefined;

  const issuers = new Set(providers.map((p) => p.issuer));
  if (issuers.size !== providers.length) read.problem("AUTH_PROVIDERS", "lists the same issuer twice");
  if (providers.length > 1) {
    const prefixes = providers.map((p) => p.userPrefix);
    if (prefixes.some((prefix) => prefix === "") || new Set(prefixes).size !== prefixes.length) {
      read.problem(
        "AUTH_PROVIDERS",
        "needs a distinct, non-empty user_prefix per provider, so the same subject from two issuers never becomes one ChatKit user",
      );
    }
  }
  return providers;
}

interface ProviderInput {
  issuer: string | undefined;
  audiences: string[];
  jwksUrl: string | undefined;
  algorithms: string[];
  userClaim: string | undefined;
  userPrefix: string;
}

/** Validates one provider's fields; `where` names the setting in problems. */
function checkProvider(
  read: SettingsReader,
  where: string,
  hasSecret: boolean,
  input: ProviderInput,
): AuthProvider | undefined {
  const before = read.problems.length;
  const single = where === "AUTH_*";
  const name = (setting: string, field: string) => (single ? setting : `${where}.${field}`);
  const algorithms = input.algorithms.length > 0 ? input.algorithms : DEFAULT_ALGORITHMS;
  const symmetric = algorithms.some((alg) => /^HS/i.test(alg));
  const allowed: readonly string[] = JWKS_ALGORITHMS;

  if (single && input.issuer === undefined) {
    // AUTH_ISSUER's absence is already reported by the caller.
  } else if (input.issuer === undefined) {
    read.problem(where, ".issuer is required");
  }
  let jwksUrl: URL | undefined;
  if (input.jwksUrl !== undefined) {
    const checked = checkUrl(input.jwksUrl);
    if (typeof checked === "string") read.problem(name("AUTH_JWKS_URL", "jwks_url"), checked);
    else jwksUrl = checked;
  }
  if (algorithms.some((alg) => alg.toLowerCase() === "none")) {
    read.problem(name("AUTH_ALGORITHMS", "algorithms"), "must not include none");
  } else if (symmetric) {
    if (algorithms.length !== 1 || algorithms[0] !== "HS256") {
      read.problem(
        name("AUTH_ALGORITHMS", "algorithms"),
        "must be exactly HS256 for a shared-secret provider, never mixed with JWKS algorithms",
      );
    } else if (!hasSecret) {
      read.problem(name("AUTH_ALGORITHMS", "algorithms"), "lists HS256, which needs the AUTH_HS256_SECRET secret");
    } else if (input.jwksUrl !== undefined) {
      read.problem(
        name("AUTH_JWKS_URL", "jwks_url"),
        "must be unset for HS256: a shared secret and a JWKS are never mixed",
      );
    }
  } else if (algorithms.some((alg) => !allowed.includes(alg))) {
    read.problem(name("AUTH_ALGORITHMS", "algorithms"), `may only list ${JWKS_ALGORITHMS.join(", ")} (or HS256 alone)`);
  }
  // Discovery needs an issuer we can fetch from; an explicit JWKS URL or a shared secret lifts that need.
  if (
    !symmetric &&
    input.issuer !== undefined &&
    input.jwksUrl === undefined &&
    typeof checkUrl(input.issuer) === "string"
  ) {
    read.problem(
      name("AUTH_ISSUER", "issuer"),
      `must be an https URL when ${name("AUTH_JWKS_URL", "jwks_url")} is unset, since keys are found by OIDC discovery`,
    );
  }
  const userClaim = (input.userClaim ?? DEFAULT_USER_CLAIM).split(".");
  if (
    userClaim.length > MAX_CLAIM_PATH_DEPTH ||
    userClaim.some(
      (segment) => segment === "" || /\s/.test(segment) || ["__proto__", "prototype", "constructor"].includes(segment),
    )
  ) {
    read.problem(name("AUTH_USER_CLAIM", "user_claim"), "must be a claim name or dot path such as sub or user.id");
  }
  if (input.userPrefix.length > MAX_USER_PREFIX_LENGTH || /\p{Cc}/u.test(input.userPrefix)) {
    read.problem(
      name("AUTH_USER_PREFIX", "user_prefix"),
      `must be at most ${MAX_USER_PREFIX_LENGTH} printable characters`,
    );
  }
  if (read.problems.length > before || input.issuer === undefined) return undefined;
  return {
    issuer: input.issuer,
    audiences: input.audiences,
    keys: symmetric ? "secret" : "jwks",
    jwksUrl,
    algorithms,
    userClaim,
    userPrefix: input.userPrefix,
  };
}

function readSecret(read: SettingsReader, name: string): string | undefined {
  const secret = read.string(name);
  // A short secret is still returned, so the settings that depend on it are judged as if it were set.
  if (secret !== undefined && secret.length < MIN_SECRET_LENGTH)
    read.problem(name, `must be at least ${MIN_SECRET_LENGTH} characters`);
  return secret;
}

function sameList(values: string[], expected: string[], emptyMeansDefault: boolean): boolean {
  if (emptyMeansDefault && values.length === 0) return true;
  return values.length === expected.length && values.every((value, i) => value === expected[i]);
}
