import { CHATKIT_CLOCK_SKEW_SECONDS } from "../chatkit/answers";
import type { QuotaConfig } from "../config/config";
import { GateError } from "../http/errors";
import { log } from "../http/log";
import { DEFAULT_WORKFLOW } from "../policy/types";
import type { QuotaLimitKind, StartLimits, UserQuota } from "./user-quota";

/** What a refusal tells the caller: which limit applies, never whose. */
function refusal(kind: QuotaLimitKind, limit: number, alias: string): string {
  const daily = kind.endsWith("daily");
  const workflow = kind.startsWith("workflow");
  return `${daily ? "Daily" : "Active"} session limit reached${workflow ? ` for workflow ${alias}` : ""}: at most ${limit}${workflow ? "" : " sessions"} per user ${daily ? "per UTC day" : "at once; end one first"}`;
}

/** The limits of one start: the per-user ones and the chosen workflow's own. */
export function startLimits(config: QuotaConfig, scope: string): StartLimits {
  const workflow = config.perWorkflow.get(scope);
  return {
    daily: config.perUser.daily,
    active: config.perUser.maxActive,
    workflow_daily: workflow?.daily,
    workflow_active: workflow?.maxActive,
  };
}

/**
 * One user's quota, as the worker sees it: one Durable Object call to take a
 * slot before anything reaches ChatKit, one to commit it under the session's
 * id, and one to give slots back. Only taking a slot can refuse; the others
 * log a failure and leave the slot to expire on its own (counting a session
 * too long, never too short).
 */
export class Quota {
  private readonly stub: DurableObjectStub<UserQuota>;

  constructor(
    namespace: DurableObjectNamespace<UserQuota>,
    ownerKey: string,
    private readonly config: QuotaConfig,
    private readonly requestId: string,
  ) {
    this.stub = namespace.get(namespace.idFromName(ownerKey));
  }

  /**
   * Takes a slot for a start with the workflow `alias` (undefined: the
   * default). Throws 429 `rate_limited` naming the limit, with Retry-After;
   * 503 `storage_unavailable` when the count cannot be reached (fail closed).
   *
   * @param expiresAfterSeconds the session lifetime asked for; an uncommitted slot counts until the latest expiry
   * @returns the reservation, for {@link commit} or {@link refund}
   */
  async acquire(alias: string | undefined, now: number, expiresAfterSeconds: number): Promise<string> {
    const scope = alias ?? DEFAULT_WORKFLOW;
    const reservation = `reservation:${crypto.randomUUID()}`;
    const limits = startLimits(this.config, scope);
    let result: Awaited<ReturnType<UserQuota["acquire"]>>;
    try {
      result = await this.stub.acquire({
        reservation,
        scope,
        now,
        // ChatKit may set expires_at a little past the asked lifetime (its clock); the slot covers that.
        expiresAt: now + expiresAfterSeconds + CHATKIT_CLOCK_SKEW_SECONDS,
        limits,
      });
    } catch (error) {
      log("error", "quota_unavailable", { request_id: this.requestId, error: String(error) });
      throw new GateError("storage_unavailable", "Session quotas are unavailable; try again");
    }
    if (result.ok) return reservation;
    throw new GateError("rate_limited", refusal(result.limit, limits[result.limit] as number, scope), {
      "Retry-After": String(result.retryAfter),
    });
  }

  /** The session started: its slot is named after it, so a cancel can free it. */
  async commit(reservation: string, sessionId: string, expiresAt: number): Promise<void> {
    await this.quiet("commit", () => this.stub.commit(reservation, sessionId, expiresAt));
  }

  /** The start failed: nothing was used, so nothing is counted. */
  async refund(reservation: string): Promise<void> {
    await this.quiet("refund", () => this.stub.refund(reservation));
  }

  /** Sessions that ended: their slots are free. No call when there are none. */
  async release(sessionIds: readonly string[]): Promise<void> {
    if (sessionIds.length > 0) await this.quiet("release", () => this.stub.release([...sessionIds]));
  }

  private async quiet(operation: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      log("error", "quota_update_failed", { request_id: this.requestId, operation, error: String(error) });
    }
  }
}

/** The caller's quota, or undefined when no limit is configured (and no call is made). */
export function quotaFor(
  config: QuotaConfig | undefined,
  env: Partial<Env>,
  ownerKey: string,
  requestId: string,
): Quota | undefined {
  // parseConfig refuses limits without the binding, so it is there whenever config is.
  const namespace = env.USER_QUOTAS as DurableObjectNamespace<UserQuota> | undefined;
  return config === undefined || namespace === undefined
    ? undefined
    : new Quota(namespace, ownerKey, config, requestId);
}
