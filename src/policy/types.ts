/**
 * The compiled form of an access policy (`ACCESS_POLICY`, `ADMIN_POLICY`):
 * everything a request needs is worked out once at config time, so
 * evaluation only reads claims and compares.
 */

/** A value a policy may compare a claim with: what JSON has besides null, objects and arrays. */
export type PolicyScalar = string | number | boolean;

/**
 * The key in `workflows` for the workflow used when the client names no
 * alias. `@` is not allowed in a CHATKIT_WORKFLOWS alias, so it can never
 * shadow a real one.
 */
export const DEFAULT_WORKFLOW = "@default";

/** One test on one claim. Comparisons are type-strict: the string "true" is not `true`. */
export type ClaimTest =
  /** The claim is this exact value. */
  | { kind: "equals"; value: PolicyScalar }
  /** The claim is one of these values. */
  | { kind: "in"; values: ReadonlySet<PolicyScalar> }
  /** The claim is an array that holds this value. */
  | { kind: "contains"; value: PolicyScalar }
  /** The claim is a string that ends with this suffix, compared ignoring ASCII case; stored in lower case. */
  | { kind: "ends_with"; suffix: string }
  /** The claim is present and not null (true), or absent or null (false). */
  | { kind: "exists"; present: boolean };

export interface Requirement {
  /** Own-property names from the token's top level down. */
  path: readonly string[];
  test: ClaimTest;
  /** The claim and the test, e.g. `email_verified equals true`; as safe to show as {@link rule}. */
  check: string;
  /**
   * Where it is in the policy and what it tests, e.g.
   * `require[0]: email_verified equals true`. Carries no claim value and no
   * configured string or number, so a caller and a log may both see it.
   */
  rule: string;
}

/** One level of a policy: the top level, or what one workflow adds. */
export interface RequirementSet {
  /** Every one must hold. */
  all: readonly Requirement[];
  /** At least one must hold, when there are any. */
  any: readonly Requirement[];
  /** The rule reported when none of `any` holds, e.g. `require_any: one of ...`. */
  anyRule: string;
}

export interface Policy {
  /** Applies to every request. */
  everyone: RequirementSet;
  /** Added for one workflow, by alias or {@link DEFAULT_WORKFLOW}. */
  workflows: ReadonlyMap<string, RequirementSet>;
}

/** What {@link evaluatePolicy} answers; `rule` is the first requirement not met. */
export type PolicyDecision = { allowed: true } | { allowed: false; rule: string };
