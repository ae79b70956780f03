/**
 * Reads an access policy once, at config time:
 *
 * ```json
 * {"require": [{"claim": "email_verified", "equals": true}],
 *  "require_any": [{"claim": "email", "ends_with": "@example.com"}, {"claim": "roles", "contains": "chat"}],
 *  "workflows": {"research": {"require": [{"claim": "app_metadata.plan", "in": ["pro", "team"]}]}}}
 * ```
 *
 * Every problem is collected, each naming the exact rule
 * (`ACCESS_POLICY.workflows.research.require[1].in must be ...`) and never a
 * configured value: a policy may list emails or user ids. Keys are read as
 * own properties only, since every name here comes from configuration.
 */

import { isPlainObject, parseClaimPath, type SettingsReader } from "../config/reader";
import {
  type ClaimTest,
  DEFAULT_WORKFLOW,
  type Policy,
  type PolicyScalar,
  type Requirement,
  type RequirementSet,
} from "./types";

/**
 * Requirements in one `require` or `require_any` list. Real policies need a
 * handful; a longer list is a sign the identity provider should compute a
 * group or role claim instead, and it bounds the work done on every request.
 */
export const MAX_REQUIREMENTS = 16;
/**
 * Values in one `in` list. An allowlist longer than this belongs in the
 * identity provider as a group; the bound keeps the var and the isolate's
 * copy of it small.
 */
export const MAX_IN_VALUES = 64;
/** A configured string is a plan, role, group, domain or id: far shorter than this. */
export const MAX_VALUE_LENGTH = 256;

/** The aliases a policy may name: `ReadonlySet<string>` and `ReadonlyMap<string, Workflow>` both fit. */
export interface KnownAliases {
  has(alias: string): boolean;
}

export type PolicyResult = { ok: true; policy: Policy } | { ok: false; problems: readonly string[] };

const LEVEL_KEYS = ["require", "require_any"] as const;
const TOP_KEYS = [...LEVEL_KEYS, "workflows"] as const;
const TESTS = ["equals", "in", "contains", "ends_with", "exists"] as const;
type TestName = (typeof TESTS)[number];
const REQUIREMENT_KEYS: readonly string[] = ["claim", ...TESTS];

const SCALAR = `a string (up to ${MAX_VALUE_LENGTH} characters), number or boolean`;
const EXPECTED: Record<TestName, string> = {
  equals: `must be ${SCALAR}`,
  in: `must be a list of 1 to ${MAX_IN_VALUES} values, each ${SCALAR}`,
  contains: `must be ${SCALAR}`,
  // A bare "example.com" would also match "alice@badexample.com".
  ends_with: `must be a string of 2 to ${MAX_VALUE_LENGTH} characters starting with @ or .`,
  exists: "must be true or false",
};
/** The keys a workflow's entry may have, as problems name them. */
const LEVEL = `an object with ${LEVEL_KEYS.join(" and/or ")}`;

/**
 * The entries of an alias map (policy `workflows`, `SESSION_LIMITS_PER_WORKFLOW`): a non-empty object
 * keyed by CHATKIT_WORKFLOWS aliases or {@link DEFAULT_WORKFLOW}. Any other value, and each other key, is
 * a problem at `at`; such a key is named by position, not echoed: it could be anything pasted there.
 */
export function* aliasEntries(
  raw: unknown,
  knownAliases: KnownAliases,
  at: string,
  problem: Report,
): Generator<[string, unknown]> {
  if (!isPlainObject(raw) || Object.keys(raw).length === 0) {
    problem(at, `must be an object of CHATKIT_WORKFLOWS aliases or ${DEFAULT_WORKFLOW}`);
    return;
  }
  // A generator, so problems stay in the map's order among those the caller finds in each entry.
  for (const [index, entry] of Object.entries(raw).entries()) {
    if (entry[0] === DEFAULT_WORKFLOW || knownAliases.has(entry[0])) yield entry;
    else problem(at, `key #${index + 1} must be a CHATKIT_WORKFLOWS alias or ${DEFAULT_WORKFLOW}`);
  }
}

/**
 * Validates and compiles a policy.
 *
 * @param raw the parsed JSON value of the setting (see {@link readPolicy} for an unset one)
 * @param settingName the setting, e.g. `ACCESS_POLICY`, which starts every problem
 * @param knownAliases the CHATKIT_WORKFLOWS aliases `workflows` may name (with {@link DEFAULT_WORKFLOW});
 *   undefined for a policy that does not depend on the workflow (ADMIN_POLICY), which may then have no `workflows`
 */
export function parsePolicy(raw: unknown, settingName: string, knownAliases: KnownAliases | undefined): PolicyResult {
  const problems: string[] = [];
  const policy = compilePolicy(raw, settingName, knownAliases, (at, expectation) =>
    problems.push(`${at} ${expectation}`),
  );
  return policy && problems.length === 0 ? { ok: true, policy } : { ok: false, problems };
}

/**
 * Reads a policy setting: undefined when it is unset (the caller decides what
 * that means: no restriction for ACCESS_POLICY, no admin API for
 * ADMIN_POLICY), and undefined with the problems recorded when it is invalid.
 */
export function readPolicy(
  read: SettingsReader,
  settingName: string,
  knownAliases: KnownAliases | undefined,
): Policy | undefined {
  const raw = read.json(settingName);
  if (raw === undefined) return undefined;
  const before = read.problems.length;
  const policy = compilePolicy(raw, settingName, knownAliases, (at, expectation) => read.problem(at, expectation));
  return read.problems.length === before ? policy : undefined;
}

/** {@link parsePolicy}, telling each problem to `problem`; the policy is only usable when there was none. */
function compilePolicy(
  raw: unknown,
  settingName: string,
  knownAliases: KnownAliases | undefined,
  problem: Report,
): Policy | undefined {
  if (!isPlainObject(raw)) {
    problem(settingName, `must be a JSON object with ${TOP_KEYS.join(", ")}`);
    return undefined;
  }
  unknownKeys(raw, TOP_KEYS, settingName, problem);
  const everyone = readLevel(raw, "", settingName, problem);
  const workflows = new Map<string, RequirementSet>();

  if (Object.hasOwn(raw, "workflows")) {
    const at = `${settingName}.workflows`;
    const entries = raw.workflows;
    if (knownAliases === undefined) {
      problem(at, "is not allowed in this policy");
    } else {
      for (const [alias, entry] of aliasEntries(entries, knownAliases, at, problem)) {
        const entryAt = `${at}.${alias}`;
        if (isPlainObject(entry)) unknownKeys(entry, LEVEL_KEYS, entryAt, problem);
        if (!isPlainObject(entry) || !LEVEL_KEYS.some((key) => Object.hasOwn(entry, key))) {
          problem(entryAt, `must be ${LEVEL}`);
          continue;
        }
        workflows.set(alias, readLevel(entry, `workflows.${alias}.`, settingName, problem));
      }
    }
  } else if (!LEVEL_KEYS.some((key) => Object.hasOwn(raw, key))) {
    problem(settingName, "must contain at least one requirement (leave it unset for none)");
  }

  return { everyone, workflows };
}

export type Report = (at: string, expectation: string) => void;

/** One problem per key that is not allowed, by position: the key itself is not echoed. */
function unknownKeys(object: Record<string, unknown>, allowed: readonly string[], at: string, problem: Report): void {
  for (const [index, key] of Object.keys(object).entries()) {
    if (!allowed.includes(key)) problem(at, `key #${index + 1} is not one of ${allowed.join(", ")}`);
  }
}

/** The `require` and `require_any` of one level; `prefix` is its place in the policy (`""` or `workflows.x.`). */
function readLevel(
  level: Record<string, unknown>,
  prefix: string,
  settingName: string,
  problem: Report,
): RequirementSet {
  const all = readList(level, "require", prefix, settingName, problem);
  const any = readList(level, "require_any", prefix, settingName, problem);
  return { all, any, anyRule: `${prefix}require_any: one of ${any.map((r) => r.check).join("; ")}` };
}

function readList(
  level: Record<string, unknown>,
  key: (typeof LEVEL_KEYS)[number],
  prefix: string,
  settingName: string,
  problem: Report,
): Requirement[] {
  if (!Object.hasOwn(level, key)) return [];
  const list = level[key];
  const at = `${settingName}.${prefix}${key}`;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_REQUIREMENTS) {
    problem(at, `must be a list of 1 to ${MAX_REQUIREMENTS} requirements`);
    return [];
  }
  return list.flatMap((item, index) => readRequirement(item, `${prefix}${key}[${index}]`, settingName, problem) ?? []);
}

/** @param where the requirement's place in the policy, e.g. `workflows.research.require[1]` */
function readRequirement(item: unknown, where: string, settingName: string, problem: Report): Requirement | undefined {
  const at = `${settingName}.${where}`;
  if (!isPlainObject(item)) {
    problem(at, "must be an object with a claim and one test");
    return undefined;
  }
  unknownKeys(item, REQUIREMENT_KEYS, at, problem);

  const path = Object.hasOwn(item, "claim") ? readClaim(item.claim) : undefined;
  if (path === undefined) {
    problem(
      `${at}.claim`,
      "must be a dot path or a list of claim names (none empty, spaced, __proto__, constructor or prototype)",
    );
  }

  const tests = TESTS.filter((name) => Object.hasOwn(item, name));
  if (tests.length !== 1) {
    problem(
      at,
      tests.length === 0
        ? `must have one test: ${TESTS.join(", ")}`
        : `must have only one test, not ${tests.join(" and ")}`,
    );
    return undefined;
  }
  const name = tests[0] as TestName;
  const test = readTest(name, item[name]);
  if (test === undefined) problem(`${at}.${name}`, EXPECTED[name]);
  if (path === undefined || test === undefined) return undefined;
  const check = `${typeof item.claim === "string" ? item.claim : JSON.stringify(item.claim)} ${describe(test)}`;
  return { path, test, check, rule: `${where}: ${check}` };
}

/** A dot path, or a list of names for claims whose own names contain dots (Auth0's namespaced claims are URLs). */
function readClaim(claim: unknown): readonly string[] | undefined {
  if (typeof claim === "string") return parseClaimPath(claim);
  if (!Array.isArray(claim) || claim.length === 0 || !claim.every((name) => typeof name === "string")) return undefined;
  // Joined, the names must still make a usable path: each non-empty, unspaced, no prototype names, not too deep.
  // A copy: the compiled policy must not change if the parsed JSON does.
  return parseClaimPath(claim.join(".")) === undefined ? undefined : [...(claim as string[])];
}

function readTest(name: TestName, value: unknown): ClaimTest | undefined {
  switch (name) {
    case "equals":
    case "contains":
      return isScalar(value) ? { kind: name, value } : undefined;
    case "in":
      return Array.isArray(value) && value.length > 0 && value.length <= MAX_IN_VALUES && value.every(isScalar)
        ? { kind: "in", values: new Set(value) }
        : undefined;
    case "ends_with":
      return typeof value === "string" &&
        value.length >= 2 &&
        value.length <= MAX_VALUE_LENGTH &&
        (value.startsWith("@") || value.startsWith("."))
        ? { kind: "ends_with", suffix: asciiLowerCase(value) }
        : undefined;
    case "exists":
      return typeof value === "boolean" ? { kind: "exists", present: value } : undefined;
  }
}

function isScalar(value: unknown): value is PolicyScalar {
  return (
    (typeof value === "string" && value.length <= MAX_VALUE_LENGTH) ||
    typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  );
}

/**
 * The test as shown to callers. Only booleans are spelled out: a configured
 * string or number may be an email or a user id from an allowlist.
 */
function describe(test: ClaimTest): string {
  switch (test.kind) {
    case "equals":
    case "contains":
      return `${test.kind} ${typeof test.value === "boolean" ? test.value : "the configured value"}`;
    case "in":
      return "in the configured list";
    case "ends_with":
      return "ends_with the configured suffix";
    case "exists":
      return `exists ${test.present}`;
  }
}

/**
 * Domain names are case-insensitive (RFC 4343), so `ends_with` ignores case,
 * but only ASCII case: full Unicode folding would let a look-alike such as
 * the Kelvin sign (U+212A) lower-case into a `k` and match a domain it is not.
 */
export function asciiLowerCase(value: string): string {
  return value.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
