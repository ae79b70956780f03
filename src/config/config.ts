import type { ChatkitConfigurationParam } from "../chatkit/types";
import { parseChatkitConfiguration } from "./chatkit-configuration";
import { checkUrl, isPlainObject, type RawEnv, SettingsReader } from "./reader";

/** ChatKit sessions live at most this long (ExpiresAfterParam.seconds maximum). */
export const MAX_SESSION_SECONDS = 600;
/** More skew than this would hide a broken clock rather than absorb drift. */
const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** The API caps a session's state map at 64 entries (WorkflowParam.state_variables). */
const MAX_STATE_VARIABLES = 64;
/** State variable keys may be up to 64 characters (WorkflowParam.state_variables). */
const STATE_VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
/** Aliases travel in request bodies and logs: keep them short and plain. */
const WORKFLOW_ALIAS = /^[A-Za-z0-9_-]{1,64}$/;
/** Workflow ids and versions are opaque, but never contain spaces or controls. */
const OPAQUE_ID = /^[\x21-\x7e]{1,256}$/;
/** A dot path deeper than this is a typo, not a real token layout. */
const MAX_CLAIM_PATH_DEPTH = 8;
/** Keeps the mapped user well inside KV key and log limits. */
const MAX_USER_PREFIX_LENGTH = 64;
/** Sanity bound on `max_requests_per_1_minute`; the API only sets a minimum of 1. */
const MAX_REQUESTS_PER_MINUTE = 10_000;

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

export interface Workflow {
  id: string;
  version?: string;
}

export interface AuthConfig {
  /** The exact `iss` every token must carry; compared byte for byte. */
  issuer: string;
  /** Tokens must name at least one of these in `aud`. */
  audiences: readonly string[];
  /** Explicit JWKS location; undefined means OIDC discovery from the issuer. */
  jwksUrl?: URL;
  /** The only `alg` values accepted. */
  algorithms: readonly string[];
  /** Path of the claim that becomes the ChatKit `user`, split on dots. */
  userClaim: readonly string[];
  /** Put before the claim value, to keep users of different issuers apart. */
  userPrefix: string;
  /** Skew allowed on `exp`, `nbf` and `iat`. */
  clockToleranceSeconds: number;
}

export interface Config {
  openaiApiKey: string;
  /** Base URL without a trailing slash, e.g. `https://api.openai.com/v1`. */
  openaiBaseUrl: string;
  /** The workflow used when the client names no alias. */
  workflow: Workflow;
  /** Workflows a client may choose, by alias only. */
  workflowAliases: ReadonlyMap<string, Workflow>;
  chatkitConfiguration?: ChatkitConfigurationParam;
  /** State variable names a client may set. */
  clientStateVariables: ReadonlySet<string>;
  expiresAfterSeconds: number;
  maxRequestsPerMinute: number;
  auth: AuthConfig;
  /** Exact origins allowed by CORS; empty disables CORS. */
  allowedOrigins: readonly string[];
}

/** Thrown by {@link parseConfig}; `problems` name settings, never their values. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Parses and validates every setting at once; throws {@link ConfigError} listing all problems. */
export function parseConfig(env: RawEnv): Config {
  const read = new SettingsReader(env);

  const openaiApiKey = read.required("OPENAI_API_KEY");
  if (openaiApiKey !== undefined && /\s/.test(openaiApiKey)) read.problem("OPENAI_API_KEY", "must not contain spaces");
  const baseUrl = read.url("OPENAI_BASE_URL", "https://api.openai.com/v1");
  if (baseUrl?.search) read.problem("OPENAI_BASE_URL", "must not have a query string");

  const workflow = readWorkflow(read);
  const workflowAliases = readWorkflowAliases(read);

  let chatkitConfiguration: ChatkitConfigurationParam | undefined;
  const rawChatkitConfiguration = read.json("CHATKIT_CONFIGURATION");
  if (rawChatkitConfiguration !== undefined) {
    const parsed = parseChatkitConfiguration(rawChatkitConfiguration);
    if (parsed.ok) chatkitConfiguration = parsed.value;
    else read.problem("CHATKIT_CONFIGURATION", parsed.problem);
  }

  const stateNames = read.list("CHATKIT_CLIENT_STATE_VARIABLES");
  if (stateNames.length > MAX_STATE_VARIABLES || !stateNames.every((n) => STATE_VARIABLE_NAME.test(n))) {
    read.problem(
      "CHATKIT_CLIENT_STATE_VARIABLES",
      `must list at most ${MAX_STATE_VARIABLES} names of letters, digits, _ . - (up to 64 characters, not starting with a digit)`,
    );
  }

  const expiresAfterSeconds = read.integer(
    "SESSION_EXPIRES_AFTER_SECONDS",
    MAX_SESSION_SECONDS,
    1,
    MAX_SESSION_SECONDS,
  );
  const maxRequestsPerMinute = read.integer("SESSION_MAX_REQUESTS_PER_MINUTE", 10, 1, MAX_REQUESTS_PER_MINUTE);
  const auth = readAuth(read);
  const allowedOrigins = readOrigins(read);

  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return {
    openaiApiKey: openaiApiKey as string,
    openaiBaseUrl: (baseUrl as URL).href.replace(/\/+$/, ""),
    workflow: workflow as Workflow,
    workflowAliases,
    chatkitConfiguration,
    clientStateVariables: new Set(stateNames),
    expiresAfterSeconds,
    maxRequestsPerMinute,
    auth: auth as AuthConfig,
    allowedOrigins,
  };
}

function readWorkflow(read: SettingsReader): Workflow | undefined {
  const id = read.required("CHATKIT_WORKFLOW_ID");
  const version = read.string("CHATKIT_WORKFLOW_VERSION");
  if (id !== undefined && !OPAQUE_ID.test(id)) read.problem("CHATKIT_WORKFLOW_ID", "must be an id without spaces");
  if (version !== undefined && !OPAQUE_ID.test(version)) {
    read.problem("CHATKIT_WORKFLOW_VERSION", "must be a version without spaces");
  }
  return id === undefined ? undefined : version === undefined ? { id } : { id, version };
}

function readWorkflowAliases(read: SettingsReader): Map<string, Workflow> {
  const aliases = new Map<string, Workflow>();
  const raw = read.json("CHATKIT_WORKFLOWS");
  if (raw === undefined) return aliases;
  const expected = 'must be a JSON object like {"alias": {"id": "wf_...", "version": "1"}}';
  if (!isPlainObject(raw)) {
    read.problem("CHATKIT_WORKFLOWS", expected);
    return aliases;
  }
  for (const [index, [alias, entry]] of Object.entries(raw).entries()) {
    if (!WORKFLOW_ALIAS.test(alias)) {
      read.problem("CHATKIT_WORKFLOWS", `alias #${index + 1} must be 1 to 64 letters, digits, _ or -`);
      continue;
    }
    const keys = isPlainObject(entry) ? Object.keys(entry) : [];
    const valid =
      isPlainObject(entry) &&
      typeof entry.id === "string" &&
      OPAQUE_ID.test(entry.id) &&
      (entry.version === undefined || (typeof entry.version === "string" && OPAQUE_ID.test(entry.version))) &&
      keys.every((k) => k === "id" || k === "version");
    if (!valid) {
      read.problem("CHATKIT_WORKFLOWS", `alias #${index + 1} must be {"id": "wf_...", "version"?: "..."}`);
      continue;
    }
    aliases.set(
      alias,
      entry.version === undefined
        ? { id: entry.id as string }
        : { id: entry.id as string, version: entry.version as string },
    );
  }
  return aliases;
}

function readAuth(read: SettingsReader): AuthConfig | undefined {
  const issuer = read.required("AUTH_ISSUER");
  const audiences = read.list("AUTH_AUDIENCE");
  if (audiences.length === 0)
    read.problem("AUTH_AUDIENCE", "is required: the audience your identity provider puts in `aud`");
  const jwksUrl = read.url("AUTH_JWKS_URL");
  // Discovery needs an issuer we can fetch from; an explicit JWKS URL lifts that need.
  if (issuer !== undefined && jwksUrl === undefined && read.string("AUTH_JWKS_URL") === undefined) {
    if (typeof checkUrl(issuer) === "string") {
      read.problem(
        "AUTH_ISSUER",
        "must be an https URL when AUTH_JWKS_URL is unset, since keys are found by OIDC discovery",
      );
    }
  }

  const algorithms = read.list("AUTH_ALGORITHMS");
  const allowed: readonly string[] = JWKS_ALGORITHMS;
  if (algorithms.some((alg) => alg.toLowerCase() === "none" || /^HS/i.test(alg))) {
    read.problem("AUTH_ALGORITHMS", "must not include none or HS*: a public JWKS cannot verify them safely");
  } else if (algorithms.some((alg) => !allowed.includes(alg))) {
    read.problem("AUTH_ALGORITHMS", `may only list ${JWKS_ALGORITHMS.join(", ")}`);
  }

  const claimPath = (read.string("AUTH_USER_CLAIM") ?? "sub").split(".");
  if (
    claimPath.length > MAX_CLAIM_PATH_DEPTH ||
    claimPath.some(
      (segment) => segment === "" || /\s/.test(segment) || ["__proto__", "prototype", "constructor"].includes(segment),
    )
  ) {
    read.problem("AUTH_USER_CLAIM", "must be a claim name or dot path such as sub or user.id");
  }
  const userPrefix = read.string("AUTH_USER_PREFIX") ?? "";
  if (userPrefix.length > MAX_USER_PREFIX_LENGTH || /\p{Cc}/u.test(userPrefix)) {
    read.problem("AUTH_USER_PREFIX", `must be at most ${MAX_USER_PREFIX_LENGTH} printable characters`);
  }
  const clockToleranceSeconds = read.integer("AUTH_CLOCK_TOLERANCE_SECONDS", 30, 0, MAX_CLOCK_TOLERANCE_SECONDS);

  if (issuer === undefined) return undefined;
  return {
    issuer,
    audiences,
    jwksUrl,
    algorithms: algorithms.length > 0 ? algorithms : ["RS256", "ES256"],
    userClaim: claimPath,
    userPrefix,
    clockToleranceSeconds,
  };
}

function readOrigins(read: SettingsReader): string[] {
  const origins = read.list("ALLOWED_ORIGINS");
  for (const origin of origins) {
    let exact = false;
    try {
      exact = new URL(origin).origin === origin;
    } catch {}
    if (!exact) {
      read.problem(
        "ALLOWED_ORIGINS",
        "must list exact origins such as https://app.example.com (no path, no trailing slash, no *)",
      );
      break;
    }
  }
  return origins;
}

/**
 * Parsed configurations by environment object. Workers hand the same `env`
 * to every request of an isolate, so each isolate parses its settings once;
 * a failure is cached too, so a bad deploy costs no parsing per request.
 */
const parsed = new WeakMap<object, Config | ConfigError>();

/** The configuration for this environment, parsed on first use; throws {@link ConfigError}. */
export function loadConfig(env: RawEnv): Config {
  let result = parsed.get(env);
  if (result === undefined) {
    try {
      result = parseConfig(env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      result = error;
    }
    parsed.set(env, result);
  }
  if (result instanceof ConfigError) throw result;
  return result;
}
