/**
 * Checks verified claims against a compiled policy. Runs on every request,
 * so it only reads and compares: no parsing, no allocation unless it refuses.
 */

import type { JWTPayload } from "jose";
import { claimAt } from "../auth/claims";
import { type ClaimTest, DEFAULT_WORKFLOW, type Policy, type PolicyDecision, type RequirementSet } from "./types";

const ALLOWED: PolicyDecision = Object.freeze({ allowed: true });

/**
 * The top level applies to everyone; a workflow's own requirements are added
 * for it. Within a level every `require` must hold and, when `require_any` is
 * given, at least one of it. The first requirement not met is reported, by
 * its place in the policy and its test, never by the claim's value.
 *
 * @param claims the verified token's payload
 * @param alias the workflow alias the client chose; undefined for the default workflow; null for a
 *   request that starts no workflow (list, get, cancel), which only the top level applies to
 */
export function evaluatePolicy(policy: Policy, claims: JWTPayload, alias?: string | null): PolicyDecision {
  const refused = unmet(policy.everyone, claims);
  if (refused !== undefined) return { allowed: false, rule: refused };
  if (alias === null) return ALLOWED;
  const workflow = policy.workflows.get(alias ?? DEFAULT_WORKFLOW);
  const refusedHere = workflow === undefined ? undefined : unmet(workflow, claims);
  return refusedHere === undefined ? ALLOWED : { allowed: false, rule: refusedHere };
}

/** The rule of the first requirement in `level` not met, or undefined when all are. */
function unmet(level: RequirementSet, claims: JWTPayload): string | undefined {
  for (const requirement of level.all) {
    if (!holds(requirement.test, claimAt(claims, requirement.path))) return requirement.rule;
  }
  if (level.any.length === 0) return undefined;
  for (const requirement of level.any) {
    if (holds(requirement.test, claimAt(claims, requirement.path))) return undefined;
  }
  return level.anyRule;
}

/** Type-strict: `===` and `Set.has`/`includes` (SameValueZero) never coerce, so "true" is not `true`. */
function holds(test: ClaimTest, value: unknown): boolean {
  switch (test.kind) {
    case "equals":
      return value === test.value;
    case "in":
      return test.values.has(value as never);
    case "contains":
      return Array.isArray(value) && value.includes(test.value);
    case "ends_with":
      return typeof value === "string" && endsWithIgnoringAsciiCase(value, test.suffix);
    case "exists":
      return (value !== undefined && value !== null) === test.present;
  }
}

const UPPER_A = 0x41;
const UPPER_Z = 0x5a;
const TO_LOWER = 0x20;

/**
 * Whether `value` ends with `suffix` (already ASCII lower case) after at least
 * one other character, ignoring ASCII case only (see `asciiLowerCase`).
 * Compares in place: no lower-cased copy of the claim per request.
 */
function endsWithIgnoringAsciiCase(value: string, suffix: string): boolean {
  const offset = value.length - suffix.length;
  // The suffix alone ("@example.com", no local part) is not an address in the domain.
  if (offset < 1) return false;
  for (let i = 0; i < suffix.length; i++) {
    let code = value.charCodeAt(offset + i);
    if (code >= UPPER_A && code <= UPPER_Z) code += TO_LOWER;
    if (code !== suffix.charCodeAt(i)) return false;
  }
  return true;
}
