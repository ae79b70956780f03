import type { ChatkitConfigurationParam } from "../chatkit/types";
import { readPolicy } from "../policy/parse";
import type { Policy } from "../policy/types";
import { type UploadPolicy, uploadPolicy } from "../selfhosted/upload";
import { type AdminConfig, readAdmin } from "./admin";
import { type AuthConfig, readAuth } from "./auth";
import { parseChatkitConfiguration } from "./chatkit-configuration";
import { type QuotaConfig, readQuotas } from "./quotas";
import { type RawEnv, SECRET_HINT, SettingsReader } from "./reader";
import { readMode, readSelfHosted, reportMixedSettings, type SelfHostedConfig } from "./self-hosted";
import { readWorkflows, type WorkflowConfig } from "./workflows";

export type { AdminConfig } from "./admin";
export type { AuthConfig, AuthProvider } from "./auth";
export type { QuotaConfig, QuotaLimits } from "./quotas";
export type { ChatKitMode } from "./self-hosted";
export type { Workflow } from "./workflows";

/** ChatKit sessions live at most this long (ExpiresAfterParam.seconds maximum). */
export const MAX_SESSION_SECONDS = 600;
/** The API's default (RateLimitsParam.max_requests_per_1_minute). */
const DEFAULT_REQUESTS_PER_MINUTE = 10;
/** Sanity bound on `max_requests_per_1_minute`; the API only sets a minimum of 1. */
const MAX_REQUESTS_PER_MINUTE = 10_000;

/** Hosted mode: OpenAI creates and cancels the sessions. */
export interface HostedModeConfig {
  kind: "hosted";
  openaiApiKey: string;
  /** Base URL without a trailing slash, e.g. `https://api.openai.com/v1`. */
  openaiBaseUrl: string;
  /** Sent with every create; OpenAI applies it. */
  chatkitConfiguration?: ChatkitConfigurationParam;
}

/** Self-hosted mode: the gate issues its own sessions and proxies to the app's ChatKit server. */
export interface SelfHostedModeConfig extends SelfHostedConfig {
  kind: "self-hosted";
  /** `CHATKIT_CONFIGURATION.file_upload`, enforced by the gate. */
  uploads: UploadPolicy;
}

/** The settings only one mode reads, discriminated by `kind`. */
export type ModeConfig = HostedModeConfig | SelfHostedModeConfig;

export interface Config extends WorkflowConfig {
  mode: ModeConfig;
  /** In hosted mode the lifetime OpenAI gives a session; in self-hosted mode the lifetime of a gate session. */
  expiresAfterSeconds: number;
  /** In hosted mode OpenAI enforces it; in self-hosted mode the gate does, per session on `/chatkit`. */
  maxRequestsPerMinute: number;
  auth: AuthConfig;
  /** Exact origins allowed by CORS; empty disables CORS. */
  allowedOrigins: readonly string[];
  /** `ACCESS_POLICY`: who may use the session routes, and which workflow; absent, every verified user may. */
  accessPolicy?: Policy;
  /** Per-user session quotas; absent when no limit is set. */
  quotas?: QuotaConfig;
  /** The admin API; absent (and 404) when `ADMIN_POLICY` is unset. */
  admin?: AdminConfig;
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
  const kind = readMode(read);

  let chatkitConfiguration: ChatkitConfigurationParam | undefined;
  const rawChatkitConfiguration = read.json("CHATKIT_CONFIGURATION");
  if (rawChatkitConfiguration !== undefined) {
    const parsed = parseChatkitConfiguration(rawChatkitConfiguration);
    if (parsed.ok) chatkitConfiguration = parsed.value;
    else read.problems.push(parsed.problem);
  }
  // A half-migrated deploy is refused rather than run on settings its mode ignores.
  reportMixedSettings(read, kind, chatkitConfiguration);
  const mode =
    kind === "hosted" ? readHosted(read, chatkitConfiguration) : readSelfHostedMode(read, chatkitConfiguration);
  const workflows = readWorkflows(read, kind === "hosted");

  const expiresAfterSeconds = read.integer(
    "SESSION_EXPIRES_AFTER_SECONDS",
    MAX_SESSION_SECONDS,
    1,
    MAX_SESSION_SECONDS,
  );
  const maxRequestsPerMinute = read.integer(
    "SESSION_MAX_REQUESTS_PER_MINUTE",
    DEFAULT_REQUESTS_PER_MINUTE,
    1,
    MAX_REQUESTS_PER_MINUTE,
  );
  const auth = readAuth(read);
  const allowedOrigins = readOrigins(read);
  // Aliases a policy or a limit may name; with CHATKIT_WORKFLOWS invalid, its own problem is reported first.
  const aliases = workflows?.workflowAliases ?? new Map();
  const accessPolicy = readPolicy(read, "ACCESS_POLICY", aliases);
  const quotas = readQuotas(read, env, aliases);
  const admin = readAdmin(read, auth);

  if (read.problems.length > 0 || !workflows || !auth || !mode) throw new ConfigError(read.problems);
  return {
    ...workflows,
    mode,
    expiresAfterSeconds,
    maxRequestsPerMinute,
    auth,
    allowedOrigins,
    accessPolicy,
    quotas,
    admin,
  };
}

function readHosted(
  read: SettingsReader,
  chatkitConfiguration: ChatkitConfigurationParam | undefined,
): HostedModeConfig | undefined {
  const openaiApiKey = read.required("OPENAI_API_KEY", SECRET_HINT);
  if (openaiApiKey !== undefined && /\s/.test(openaiApiKey)) read.problem("OPENAI_API_KEY", "must not contain spaces");
  const baseUrl = read.url("OPENAI_BASE_URL", "https://api.openai.com/v1");
  if (baseUrl?.search) read.problem("OPENAI_BASE_URL", "must not have a query string");
  if (openaiApiKey === undefined || baseUrl === undefined) return undefined;
  return { kind: "hosted", openaiApiKey, openaiBaseUrl: baseUrl.href.replace(/\/+$/, ""), chatkitConfiguration };
}

function readSelfHostedMode(
  read: SettingsReader,
  chatkitConfiguration: ChatkitConfigurationParam | undefined,
): SelfHostedModeConfig | undefined {
  const settings = readSelfHosted(read);
  return settings === undefined
    ? undefined
    : { kind: "self-hosted", ...settings, uploads: uploadPolicy(chatkitConfiguration) };
}

function readOrigins(read: SettingsReader): string[] {
  const origins = read.list("ALLOWED_ORIGINS");
  for (const origin of origins) {
    let exact = false;
    try {
      exact = new URL(origin).origin === origin;
    } catch {}
    if (!exact) {
      read.problem("ALLOWED_ORIGINS", "must list exact origins such as https://app.example.com (no path, no *)");
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
