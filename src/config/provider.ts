import { placeholderHost, placeholderProblem, placeholderText } from "./placeholders";
import { checkUrl, parseClaimPath, type SettingsReader } from "./reader";

/** Keeps the mapped user well inside KV key and log limits. */
const MAX_USER_PREFIX_LENGTH = 64;
/** The contract's defaults, which `[vars]` in wrangler.toml also carry. */
export const DEFAULT_ALGORITHMS: readonly string[] = ["RS256", "ES256"];
export const DEFAULT_USER_CLAIM = "sub";
/**
 * A claim whose name says it holds an email (`email`, `user.email`,
 * `mail`, `https://example.com/email`). Anyone can put any address in an
 * unverified email, so such a claim maps a user only with `email_verified`.
 */
const EMAIL_LIKE_CLAIM = /mail/i;

/**
 * Asymmetric algorithms a JWKS can carry. `none` and HS* are left out on
 * purpose: with a public JWKS they would let anyone forge tokens.
 */
export const JWKS_ALGORITHMS: readonly string[] = [
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
];

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
  /**
   * The user claim is named like an email, so a token maps to a user only
   * when its `email_verified` claim is `true` (OIDC Core §5.1), unless the
   * operator opted out for a provider that verifies every address itself.
   */
  requireVerifiedEmail: boolean;
}

/** A provider's fields, as `AUTH_PROVIDERS` entries name them. */
export const PROVIDER_FIELDS = [
  "issuer",
  "audience",
  "jwks_url",
  "algorithms",
  "user_claim",
  "user_prefix",
  "allow_unverified_email",
] as const;
export type ProviderField = (typeof PROVIDER_FIELDS)[number];

/** The setting a field is named by in problems: `AUTH_JWKS_URL` (single issuer) or `AUTH_PROVIDERS[1].jwks_url`. */
export type ProviderSettingName = (field: ProviderField) => string;

/**
 * Reads and validates one provider entry: an `AUTH_PROVIDERS` element, or the
 * single-issuer `AUTH_*` settings gathered into one; `name` gives the setting
 * each problem names.
 */
export function readProvider(
  read: SettingsReader,
  name: ProviderSettingName,
  entry: Record<string, unknown>,
  hasSecret: boolean,
): AuthProvider | undefined {
  const text = (field: ProviderField) => read.text(name(field), entry[field]);
  const issuer = text("issuer");
  if (issuer === undefined) read.missing(name("issuer"), "the exact iss of your tokens (see docs/providers.md)");
  const audiences = stringList(entry.audience) ?? [];
  if (audiences.length === 0) read.missing(name("audience"), "the aud your tokens carry (see docs/providers.md)");
  const listed = entry.algorithms === undefined ? [] : stringList(entry.algorithms);
  if (listed === undefined) read.problem(name("algorithms"), "must be a string or an array of strings");
  const algorithms = listed?.length ? listed : DEFAULT_ALGORITHMS;
  const allowUnverifiedEmail = entry.allow_unverified_email;
  if (allowUnverifiedEmail !== undefined && typeof allowUnverifiedEmail !== "boolean") {
    read.problem(name("allow_unverified_email"), "must be true or false");
  }
  const jwksText = text("jwks_url");
  const userClaimText = text("user_claim");
  const userPrefix = text("user_prefix") ?? "";
  // A problem from here on makes the provider unusable; the ones above leave it to the cross-provider checks.
  const before = read.problems.length;
  const symmetric = algorithms.some((alg) => /^HS/i.test(alg));

  let jwksUrl: URL | undefined;
  if (jwksText !== undefined) {
    const checked = checkUrl(jwksText);
    if (typeof checked === "string") read.problem(name("jwks_url"), checked);
    else jwksUrl = checked;
  }
  const algorithmProblem = checkAlgorithms(algorithms, symmetric, hasSecret);
  if (algorithmProblem) read.problem(name("algorithms"), algorithmProblem);
  if (symmetric && jwksText !== undefined) read.problem(name("jwks_url"), "must be unset for HS256");
  // Discovery needs an issuer we can fetch from; an explicit JWKS URL or a shared secret lifts that need.
  if (!symmetric && issuer !== undefined && jwksText === undefined && typeof checkUrl(issuer) === "string") {
    read.problem(name("issuer"), `must be an https URL when ${name("jwks_url")} is unset (OIDC discovery)`);
  }
  // Example values left in the identity settings: an example.com audience, a your-tenant issuer.
  for (const [field, value] of [
    ["issuer", issuer],
    ["jwks_url", jwksText],
    ...audiences.map((audience) => ["audience", audience]),
  ] as Array<[ProviderField, string | undefined]>) {
    const mark = value === undefined ? undefined : (placeholderText(value) ?? placeholderHost(value));
    if (mark !== undefined) read.problem(name(field), placeholderProblem(mark));
  }
  const userClaim = parseClaimPath(userClaimText ?? DEFAULT_USER_CLAIM);
  if (userClaim === undefined) read.problem(name("user_claim"), "must be a claim dot path such as user.id");
  const emailLike = userClaim !== undefined && EMAIL_LIKE_CLAIM.test(userClaim.at(-1) as string);
  if (allowUnverifiedEmail === true && !emailLike) {
    // An opt-out that cannot take effect is a misunderstanding, not a harmless no-op.
    read.problem(name("allow_unverified_email"), "only applies to an email user claim");
  }
  if (userPrefix.length > MAX_USER_PREFIX_LENGTH || /\p{Cc}/u.test(userPrefix)) {
    read.problem(name("user_prefix"), `must be at most ${MAX_USER_PREFIX_LENGTH} printable characters`);
  }
  if (read.problems.length > before || issuer === undefined || userClaim === undefined) return undefined;
  return {
    issuer,
    audiences,
    keys: symmetric ? "secret" : "jwks",
    jwksUrl,
    algorithms,
    userClaim,
    userPrefix,
    requireVerifiedEmail: emailLike && allowUnverifiedEmail !== true,
  };
}

/** A comma list or an array of strings, blanks dropped; undefined for anything else. */
function stringList(value: unknown): string[] | undefined {
  const items = typeof value === "string" ? value.split(",") : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === "string")) return undefined;
  return items.map((item) => item.trim()).filter((item) => item !== "");
}

function checkAlgorithms(algorithms: readonly string[], symmetric: boolean, hasSecret: boolean): string | undefined {
  if (algorithms.some((alg) => alg.toLowerCase() === "none")) return "must not include none";
  if (symmetric) {
    if (algorithms.length !== 1 || algorithms[0] !== "HS256") {
      return "must be HS256 alone for a shared secret";
    }
    return hasSecret ? undefined : "lists HS256, which needs the AUTH_HS256_SECRET secret";
  }
  if (algorithms.some((alg) => !JWKS_ALGORITHMS.includes(alg))) {
    return `may only list ${JWKS_ALGORITHMS.join(", ")} (or HS256 alone)`;
  }
  return undefined;
}
