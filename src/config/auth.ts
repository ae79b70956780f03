import { placeholderProblem, placeholderText } from "./placeholders";
import { type AuthProvider, checkProvider, DEFAULT_ALGORITHMS, DEFAULT_USER_CLAIM } from "./provider";
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

const PROVIDER_FIELDS = [
  "issuer",
  "audience",
  "jwks_url",
  "algorithms",
  "user_claim",
  "user_prefix",
  "allow_unverified_email",
];
const SINGLE_ISSUER_SETTINGS = [
  "AUTH_ISSUER",
  "AUTH_AUDIENCE",
  "AUTH_JWKS_URL",
  "AUTH_USER_PREFIX",
  "AUTH_ALLOW_UNVERIFIED_EMAIL",
];
const SINGLE_ISSUER_NAMES = {
  issuer: "AUTH_ISSUER",
  audience: "AUTH_AUDIENCE",
  jwksUrl: "AUTH_JWKS_URL",
  algorithms: "AUTH_ALGORITHMS",
  userClaim: "AUTH_USER_CLAIM",
  userPrefix: "AUTH_USER_PREFIX",
  allowUnverifiedEmail: "AUTH_ALLOW_UNVERIFIED_EMAIL",
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
  let providers: AuthProvider[] | undefined;
  if (list === undefined) {
    providers = readSingleIssuer(read, hasSecret);
  } else {
    if (usesSingleIssuerSettings(read)) {
      read.problem(
        "AUTH_PROVIDERS",
        "cannot be combined with AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URL, AUTH_ALGORITHMS, AUTH_USER_CLAIM, AUTH_USER_PREFIX or AUTH_ALLOW_UNVERIFIED_EMAIL: move those into the provider entries",
      );
    }
    providers = readProviders(read, list, hasSecret);
  }
  if (providers === undefined || userIds === undefined) return undefined;
  if (hasSecret && !providers.some((p) => p.keys === "secret")) {
    read.problem(
      "AUTH_HS256_SECRET",
      "is set but no provider accepts HS256: set AUTH_ALGORITHMS=HS256 or remove the secret",
    );
  }
  return { providers: new Map(providers.map((p) => [p.issuer, p])), clockToleranceSeconds, hs256Secret, userIds };
}

/** True when a single-issuer setting differs from its empty or contract default. */
function usesSingleIssuerSettings(read: SettingsReader): boolean {
  const algorithms = read.list("AUTH_ALGORITHMS");
  return (
    SINGLE_ISSUER_SETTINGS.some((name) => read.string(name) !== undefined) ||
    (algorithms.length > 0 && algorithms.join() !== DEFAULT_ALGORITHMS.join()) ||
    (read.string("AUTH_USER_CLAIM") ?? DEFAULT_USER_CLAIM) !== DEFAULT_USER_CLAIM
  );
}

function readSingleIssuer(read: SettingsReader, hasSecret: boolean): AuthProvider[] | undefined {
  const issuer = read.required(
    "AUTH_ISSUER",
    "the exact `iss` of your tokens, e.g. https://your-tenant.us.auth0.com/ (docs/providers.md has each provider's)",
  );
  const audiences = read.list("AUTH_AUDIENCE");
  if (audiences.length === 0) {
    read.problem(
      "AUTH_AUDIENCE",
      "is required: the `aud` your tokens carry (Auth0: the API identifier; Firebase: the project id; Cognito ID tokens and Google: the client id; Entra: the API's application id; see docs/providers.md)",
    );
  }
  const provider = checkProvider(read, SINGLE_ISSUER_NAMES, hasSecret, {
    issuer,
    audiences,
    jwksUrl: read.string("AUTH_JWKS_URL"),
    algorithms: read.list("AUTH_ALGORITHMS"),
    userClaim: read.string("AUTH_USER_CLAIM"),
    userPrefix: read.string("AUTH_USER_PREFIX") ?? "",
    allowUnverifiedEmail:
      read.string("AUTH_ALLOW_UNVERIFIED_EMAIL") === undefined
        ? undefined
        : read.boolean("AUTH_ALLOW_UNVERIFIED_EMAIL", false),
  });
  return provider && [provider];
}

function readProviders(read: SettingsReader, list: unknown, hasSecret: boolean): AuthProvider[] | undefined {
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_PROVIDERS) {
    read.problem(
      "AUTH_PROVIDERS",
      `must be a JSON array of 1 to ${MAX_PROVIDERS} entries like {"issuer": "https://...", "audience": "...", "user_prefix": "a|"}`,
    );
    return undefined;
  }
  const providers = list.flatMap((entry: unknown, index) => {
    const provider = readProvider(read, entry, `AUTH_PROVIDERS[${index}]`, hasSecret);
    return provider ? [provider] : [];
  });
  if (providers.length !== list.length) return undefined;

  if (new Set(providers.map((p) => p.issuer)).size !== providers.length) {
    read.problem("AUTH_PROVIDERS", "lists the same issuer twice");
  }
  if (providers.length > 1 && !prefixFree(providers.map((p) => p.userPrefix))) {
    read.problem(
      "AUTH_PROVIDERS",
      "needs a distinct, non-empty user_prefix per provider, none the start of another (not acme and acme:), so no two providers' subjects can ever become one ChatKit user",
    );
  }
  return providers;
}

function readProvider(
  read: SettingsReader,
  entry: unknown,
  where: string,
  hasSecret: boolean,
): AuthProvider | undefined {
  if (!isPlainObject(entry) || !Object.keys(entry).every((key) => PROVIDER_FIELDS.includes(key))) {
    read.problem(where, `must be an object with only ${PROVIDER_FIELDS.join(", ")}`);
    return undefined;
  }
  const text = (field: string): string | undefined => {
    const value = entry[field];
    if (value !== undefined && typeof value !== "string") read.problem(where, `.${field} must be a string`);
    if (typeof value !== "string" || value.trim() === "") return undefined;
    const placeholder = placeholderText(value);
    if (placeholder !== undefined) read.problem(`${where}.${field}`, placeholderProblem(placeholder));
    return value.trim();
  };
  const issuer = text("issuer");
  if (issuer === undefined) read.problem(where, ".issuer is required");
  const audiences = stringList(entry.audience) ?? [];
  if (audiences.length === 0) read.problem(where, ".audience is required: a string or an array of strings");
  const algorithms = entry.algorithms === undefined ? [] : stringList(entry.algorithms);
  if (algorithms === undefined) read.problem(where, ".algorithms must be a string or an array of strings");
  const allowUnverifiedEmail = entry.allow_unverified_email;
  if (allowUnverifiedEmail !== undefined && typeof allowUnverifiedEmail !== "boolean") {
    read.problem(where, ".allow_unverified_email must be true or false");
  }
  return checkProvider(
    read,
    {
      issuer: `${where}.issuer`,
      audience: `${where}.audience`,
      jwksUrl: `${where}.jwks_url`,
      algorithms: `${where}.algorithms`,
      userClaim: `${where}.user_claim`,
      userPrefix: `${where}.user_prefix`,
      allowUnverifiedEmail: `${where}.allow_unverified_email`,
    },
    hasSecret,
    {
      issuer,
      audiences,
      jwksUrl: text("jwks_url"),
      algorithms: algorithms ?? [],
      userClaim: text("user_claim"),
      userPrefix: text("user_prefix") ?? "",
      allowUnverifiedEmail: typeof allowUnverifiedEmail === "boolean" ? allowUnverifiedEmail : undefined,
    },
  );
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

/** A comma list or an array of strings, blanks dropped; undefined for anything else. */
function stringList(value: unknown): string[] | undefined {
  const items = typeof value === "string" ? value.split(",") : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === "string")) return undefined;
  return items.map((item) => item.trim()).filter((item) => item !== "");
}
