import { GateError } from "../http/errors";

/** Workers allow 1,000 KV operations per invocation on every plan; each get, put, delete and list page is one. */
export const KV_OPERATIONS_PER_INVOCATION = 1000;
/**
 * Kept back for KV calls made outside the session store in the same
 * invocation: the auth middleware's persisted key set (one read, at most one
 * write), with room to spare.
 */
export const KV_OPERATIONS_OUTSIDE_SESSIONS = 10;
/** What the session store may spend in one request or one cron run. */
export const SESSION_KV_BUDGET = KV_OPERATIONS_PER_INVOCATION - KV_OPERATIONS_OUTSIDE_SESSIONS;

/**
 * Counts the KV operations of one invocation. The store charges every call
 * ({@link spend}), which refuses the one that would pass the limit, so the
 * limit holds whatever happens. Work that runs several calls first holds
 * their number ({@link hold}), so it stops cleanly before the limit instead
 * of failing halfway.
 */
export class KvBudget {
  private spent = 0;
  private held = 0;

  constructor(readonly limit: number = SESSION_KV_BUDGET) {}

  /** Operations made so far. */
  get used(): number {
    return this.spent;
  }

  /**
   * Holds `n` operations for work about to start; false, holding nothing,
   * when they might not fit beside what is spent and already held.
   */
  hold(n: number): boolean {
    if (this.spent + this.held + n > this.limit) return false;
    this.held += n;
    return true;
  }

  /** Gives back a hold once its work is done (what it spent stays spent). */
  release(n: number): void {
    this.held = Math.max(0, this.held - n);
  }

  /** Charged by the store before each KV call. */
  spend(): void {
    if (this.spent >= this.limit) throw new KvBudgetExhausted();
    this.spent++;
  }
}

/** A KV call refused because the invocation has none left; the work done so far stands. */
export class KvBudgetExhausted extends GateError {
  constructor() {
    super("storage_unavailable", "This request needs more storage operations than one request may make; try again");
  }
}
