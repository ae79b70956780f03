import { aliasEntries } from "../policy/parse";
import { isPlainObject, type RawEnv, type SettingsReader } from "./reader";

/** The Durable Object binding that counts each user's sessions (wrangler.toml `[[durable_objects.bindings]]`). */
export const QUOTA_BINDING = "USER_QUOTAS";
/** Sanity bound on a daily limit: far above any person's use, well inside the counter's range. */
const MAX_DAILY_LIMIT = 100_000;
/** Sanity bound on concurrent sessions: a person has a few tabs open, not thousands. */
const MAX_ACTIVE_LIMIT = 10_000;

/** One set of limits; an absent one does not apply. */
export interface QuotaLimits {
  /** Sessions that may be started per UTC day. */
  daily?: number;
  /** Sessions that may be active at once. */
  maxActive?: number;
}

/** Per-user quotas; absent from the configuration when no limit is set, and then no quota call is made. */
export interface QuotaConfig {
  /** `SESSION_DAILY_LIMIT_PER_USER` and `SESSION_MAX_ACTIVE_PER_USER`: over every workflow together. */
  perUser: QuotaLimits;
  /** `SESSION_LIMITS_PER_WORKFLOW`: a workflow's own limits, by alias or `@default`, on top of the per-user ones. */
  perWorkflow: ReadonlyMap<string, QuotaLimits>;
}

const WORKFLOW_KEYS: Readonly<Record<string, keyof QuotaLimits>> = { daily: "daily", max_active: "maxActive" };

/**
 * Reads the quota settings. A limit that is set needs the {@link QUOTA_BINDING}
 * binding; without it the limit could not take effect, which is a problem,
 * never a silently unlimited deployment.
 *
 * @param knownAliases the CHATKIT_WORKFLOWS aliases `SESSION_LIMITS_PER_WORKFLOW` may name (and `@default`)
 */
export function readQuotas(
  read: SettingsReader,
  env: RawEnv,
  knownAliases: { has(alias: string): boolean },
): QuotaConfig | undefined {
  const perUser: QuotaLimits = {};
  const daily = optionalInteger(read, "SESSION_DAILY_LIMIT_PER_USER", MAX_DAILY_LIMIT);
  const maxActive = optionalInteger(read, "SESSION_MAX_ACTIVE_PER_USER", MAX_ACTIVE_LIMIT);
  if (daily !== undefined) perUser.daily = daily;
  if (maxActive !== undefined) perUser.maxActive = maxActive;
  const perWorkflow = readPerWorkflow(read, knownAliases);
  const set = [
    ...(daily === undefined ? [] : ["SESSION_DAILY_LIMIT_PER_USER"]),
    ...(maxActive === undefined ? [] : ["SESSION_MAX_ACTIVE_PER_USER"]),
    ...(perWorkflow.size === 0 ? [] : ["SESSION_LIMITS_PER_WORKFLOW"]),
  ];
  if (set.length === 0) return undefined;
  // Read only when a limit needs it: a deployment without limits never looks for the binding.
  const binding = env[QUOTA_BINDING] as { idFromName?: unknown } | undefined;
  if (typeof binding?.idFromName !== "function") {
    for (const name of set) {
      // [[durable_objects.bindings]] and a new_sqlite_classes migration in wrangler.toml, in every environment.
      read.problem(name, `needs the ${QUOTA_BINDING} Durable Object binding (see README, Configuration)`);
    }
    return undefined;
  }
  return { perUser, perWorkflow };
}

function optionalInteger(read: SettingsReader, name: string, max: number): number | undefined {
  if (read.string(name) === undefined) return undefined;
  const value = read.integer(name, 0, 1, max);
  return value === 0 ? undefined : value;
}

function readPerWorkflow(read: SettingsReader, knownAliases: { has(alias: string): boolean }) {
  const name = "SESSION_LIMITS_PER_WORKFLOW";
  const limits = new Map<string, QuotaLimits>();
  const raw = read.json(name);
  if (raw === undefined) return limits;
  for (const [alias, entry] of aliasEntries(raw, knownAliases, name, (at, expectation) =>
    read.problem(at, expectation),
  )) {
    const at = `${name}.${alias}`;
    const keys = isPlainObject(entry) ? Object.keys(entry) : [];
    if (!isPlainObject(entry) || keys.length === 0 || !keys.every((key) => Object.hasOwn(WORKFLOW_KEYS, key))) {
      read.problem(at, "must be an object with daily and/or max_active");
      continue;
    }
    const parsed: QuotaLimits = {};
    for (const key of keys) {
      const field = WORKFLOW_KEYS[key] as keyof QuotaLimits;
      const max = field === "daily" ? MAX_DAILY_LIMIT : MAX_ACTIVE_LIMIT;
      const value = entry[key];
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
        read.problem(`${at}.${key}`, `must be a whole number from 1 to ${max}`);
        continue;
      }
      parsed[field] = value;
    }
    limits.set(alias, parsed);
  }
  return limits;
}
