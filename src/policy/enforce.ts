import type { JWTPayload } from "jose";
import { GateError } from "../http/errors";
import { evaluatePolicy } from "./evaluate";
import type { Policy } from "./types";

/**
 * Refuses a request whose verified claims do not meet `policy` with 403
 * `forbidden`, naming the rule (never the claim's value); does nothing when
 * no policy is configured. The thrown error carries the rule, so the
 * caller can log it with the provider.
 *
 * @param alias the workflow alias the client chose; undefined for the default workflow; null for
 *   a request that starts no workflow (only the top level applies)
 */
export function enforcePolicy(policy: Policy | undefined, claims: JWTPayload, alias?: string | null): void {
  if (policy === undefined) return;
  const decision = evaluatePolicy(policy, claims, alias);
  if (!decision.allowed) throw new PolicyRefused(decision.rule);
}

/** A 403 `forbidden` whose `rule` is the requirement not met, for the request log. */
export class PolicyRefused extends GateError {
  readonly rule: string;
  constructor(rule: string) {
    super("forbidden", `The token does not meet this requirement: ${rule}`);
    this.name = "PolicyRefused";
    this.rule = rule;
  }
}
