import type { Context } from "hono";
import type { GateEnv } from "../http/context";
import { log } from "../http/log";
import { enforcePolicy, PolicyRefused } from "./enforce";
import type { Policy } from "./types";

/**
 * Applies a policy to the verified caller of this request: nothing happens
 * when it holds; otherwise the 403 `forbidden` naming the rule is thrown,
 * after one log line with the provider (the token's verified `iss`) and the
 * rule, never a claim's value.
 *
 * @param event the log event, e.g. `access_refused` or `admin_refused`
 * @param alias as {@link enforcePolicy}: undefined for the default workflow, null for no workflow
 */
export function enforceOn(c: Context<GateEnv>, policy: Policy | undefined, event: string, alias?: string | null): void {
  try {
    enforcePolicy(policy, c.get("claims"), alias);
  } catch (error) {
    if (error instanceof PolicyRefused) {
      const { iss } = c.get("claims");
      log("warn", event, { request_id: c.get("requestId"), provider: iss, rule: error.rule });
    }
    throw error;
  }
}
