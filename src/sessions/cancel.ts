import { UpstreamError } from "../chatkit/failures";
import type { EndLimits, SessionUpstream } from "../modes/mode";
import type { KvBudget } from "./kv-budget";
import { effectiveStatus, type SessionRecord } from "./record";
import { readPages, type SessionStore } from "./store";

/** Workers allow six simultaneous outbound connections per request; more would only queue. */
export const CANCEL_CONCURRENCY = 6;
/**
 * Upstream calls (cancel attempts, retries included) one request or cron run
 * may make. The Workers Free plan allows 50 subrequests per invocation; this
 * leaves room for discovery and JWKS fetches. Sessions past it are marked
 * cancel_pending for the sweep.
 */
export const UPSTREAM_CALLS_PER_INVOCATION = 40;
/**
 * KV list pages `cancel_all` follows. A user has at most a few hundred
 * records (creates per hour, kept an hour past expiry), so one page of 1,000
 * is the rule; more pages allow for pages cut short by deleted keys. Each
 * page is one of the Free plan's 1,000 daily lists.
 */
export const CANCEL_ALL_LIST_PAGES = 5;
/**
 * KV writes one session of `cancel_all` makes without a retry: the index
 * entry and the record when it is left pending, the record and the index
 * delete when a pending one is confirmed, or just the record.
 */
const CANCEL_KV_OPERATIONS = 2;

export interface CancelDeps extends EndLimits {
  /** The mode's upstream side: where a session is ended before it is recorded cancelled. */
  upstream: SessionUpstream;
  store: SessionStore;
  /** Unix seconds. */
  now: () => number;
  /** Called when KV could not record a confirmed cancel; the cancel itself stands. */
  onStoreFailure?: (error: unknown) => void;
}

/** What `cancel_all` did; `complete` is false when some of the user's sessions were not reached. */
export interface CancelAllResult {
  /** Ended now: confirmed by ChatKit (hosted), or at once (self-hosted). */
  cancelled: number;
  /** Left to the sweep, indexed and stored as `cancel_pending`. */
  pending: number;
  /** Every listed session was cancelled or left pending, and the listing was read to its end. */
  complete: boolean;
}

/** True when the session can still be used and so still needs a cancel. */
export function needsCancel(record: SessionRecord, nowSeconds: number): boolean {
  const status = effectiveStatus(record, nowSeconds);
  return status === "active" || status === "cancel_pending";
}

/**
 * Records a cancel the upstream confirmed and, when `indexed`, drops it from
 * the pending index. In hosted mode ChatKit is the authority: a failed write
 * is reported, not thrown, and a later cancel or sweep re-syncs KV. (In
 * self-hosted mode this write is the revocation itself, and a failure is
 * thrown, see {@link cancelSession}.)
 */
export async function recordCancelled(
  record: SessionRecord,
  ownerKey: string,
  indexed: boolean,
  deps: Pick<CancelDeps, "upstream" | "store" | "now" | "onStoreFailure">,
): Promise<SessionRecord> {
  const cancelled: SessionRecord = { ...record, status: "cancelled", cancelled_at: deps.now() };
  const { store, onStoreFailure } = deps;
  try {
    await store.put(ownerKey, cancelled);
    if (indexed) await store.clearPending(record.session_id);
  } catch (error) {
    // Nothing upstream holds the session: this write is the revocation, so the cancel fails with it (503).
    if (deps.upstream.immediate) throw error;
    onStoreFailure?.(error);
  }
  return cancelled;
}

/**
 * Ends the session upstream (hosted: ChatKit, with bounded retries;
 * self-hosted: at once, with no call), then records the outcome: the
 * `cancelled` record once the end is confirmed, or a `cancel_pending`
 * record, indexed for the cron sweep, when it could not be. A cancel is
 * never lost.
 */
export async function cancelSession(record: SessionRecord, ownerKey: string, deps: CancelDeps): Promise<SessionRecord> {
  try {
    await deps.upstream.end(record.session_id, deps);
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    return record.status === "cancel_pending" ? record : deps.store.markPending(ownerKey, record);
  }
  return recordCancelled(record, ownerKey, record.status === "cancel_pending", deps);
}

/**
 * Cancels every session of a user that can still be used, six at a time:
 * at ChatKit while {@link UPSTREAM_CALLS_PER_INVOCATION} lasts (retries
 * included), the rest straight into the pending index. It reads at most {@link CANCEL_ALL_LIST_PAGES} list pages and
 * starts a session only while the request's KV budget holds its writes; what
 * it could not reach stays as it was and `complete` is false, so the caller
 * knows to call again.
 */
export async function cancelAll(ownerKey: string, deps: CancelDeps): Promise<CancelAllResult> {
  const { store } = deps;
  const listed = await readPages((cursor) => store.listPage(ownerKey, cursor), { maxPages: CANCEL_ALL_LIST_PAGES });
  const now = deps.now();
  const open = listed.items.filter((record) => needsCancel(record, now));
  let calls = UPSTREAM_CALLS_PER_INVOCATION;
  const takeCall = () => calls-- > 0;
  const withinCalls: CancelDeps = { ...deps, retry: { ...deps.retry, mayRetry: takeCall } };
  let cancelled = 0;
  let pending = 0;
  const unreached = await eachWithinBudget(open, store.budget, CANCEL_KV_OPERATIONS, async (record) => {
    // An immediate end costs no upstream call, so it is never left to the sweep.
    const upstream = deps.upstream.immediate || takeCall();
    // Already indexed, and no upstream call left for it here: the sweep has it; nothing to spend.
    if (!upstream && record.status === "cancel_pending") return void pending++;
    const settled = upstream
      ? await cancelSession(record, ownerKey, withinCalls)
      : await store.markPending(ownerKey, record);
    if (settled.status === "cancelled") cancelled++;
    else pending++;
  });
  return { cancelled, pending, complete: listed.cursor === undefined && unreached === 0 };
}

/**
 * Runs `task` over `items` with at most {@link CANCEL_CONCURRENCY} at a time,
 * starting each only while `budget` holds the KV `operations` it may make
 * (held until it ends), so a request stops cleanly before its KV limit.
 * After a task fails no new one starts, so a failing store is not hammered;
 * the first failure is thrown once the running ones end.
 *
 * @returns how many items were not started because the budget was spent
 */
export async function eachWithinBudget<T>(
  items: readonly T[],
  budget: KvBudget,
  operations: number,
  task: (item: T) => Promise<void>,
): Promise<number> {
  let next = 0;
  let failed = false;
  let unreached = 0;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      if (!budget.hold(operations)) {
        unreached++;
        continue;
      }
      try {
        await task(item);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        budget.release(operations);
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(CANCEL_CONCURRENCY, items.length) }, worker));
  const failure = settled.find((result) => result.status === "rejected");
  if (failure) throw failure.reason;
  return unreached;
}
