import type { ChatKitClient } from "../chatkit/client";
import { UpstreamError, type UpstreamFailure } from "../chatkit/failures";
import { cancelWithRetries, type RetryDeps } from "../chatkit/retry";
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

export interface CancelDeps {
  client: ChatKitClient;
  store: SessionStore;
  /** Unix seconds. */
  now: () => number;
  retry: RetryDeps;
  /** Milliseconds since the epoch by which this request's cancels must be settled. */
  deadline: number;
  /** Called with OpenAI's request id of each cancel attempt, for the request log. */
  onUpstream?: (requestId: string | undefined) => void;
  /** Called when KV could not record a confirmed cancel; the cancel itself stands. */
  onStoreFailure?: (error: unknown) => void;
}

/** What `cancel_all` did; `complete` is false when some of the user's sessions were not reached. */
export interface CancelAllResult {
  /** ChatKit confirmed these now. */
  cancelled: number;
  /** Left to the sweep, indexed and stored as `cancel_pending`. */
  pending: number;
  /** Every listed session was cancelled or left pending, and the listing was read to its end. */
  complete: boolean;
}

/** True when the session can still be used and so still needs an upstream cancel. */
export function needsCancel(record: SessionRecord, nowSeconds: number): boolean {
  const status = effectiveStatus(record, nowSeconds);
  return status === "active" || status === "cancel_pending";
}

/**
 * ChatKit's 404 to a cancel: it has no session by that id (the spec's answer
 * for an unknown id), so nothing is left there that could be used. Retrying
 * cannot change that, so it settles the cancel (docs/operations.md).
 */
export function nothingLeftToCancel(failure: UpstreamFailure): boolean {
  return failure.kind === "rejected" && failure.status === 404;
}

/**
 * The upstream part of a cancel, with bounded retries. Resolves once nothing
 * is left to cancel at ChatKit; throws the {@link UpstreamError} of a cancel
 * ChatKit did not confirm.
 */
export async function cancelUpstream(
  sessionId: string,
  deps: Pick<CancelDeps, "client" | "deadline" | "retry" | "onUpstream">,
): Promise<void> {
  try {
    const { requestId } = await cancelWithRetries(deps.client, sessionId, deps.deadline, deps.retry);
    deps.onUpstream?.(requestId);
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    deps.onUpstream?.(error.requestId);
    if (!nothingLeftToCancel(error.failure)) throw error;
  }
}

/**
 * Records a cancel ChatKit confirmed and, when `indexed`, drops it from the
 * pending index. ChatKit is the authority: a failed write is reported, not
 * thrown, and a later cancel or sweep re-syncs KV.
 */
export async function recordCancelled(
  record: SessionRecord,
  ownerKey: string,
  indexed: boolean,
  deps: Pick<CancelDeps, "store" | "now" | "onStoreFailure">,
): Promise<SessionRecord> {
  const cancelled: SessionRecord = { ...record, status: "cancelled", cancelled_at: deps.now() };
  const { store, onStoreFailure } = deps;
  try {
    await store.put(ownerKey, cancelled);
    if (indexed) await store.clearPending(record.session_id);
  } catch (error) {
    onStoreFailure?.(error);
  }
  return cancelled;
}

/**
 * Cancels upstream with bounded retries, then records the outcome: the
 * `cancelled` record once ChatKit confirms, or a `cancel_pending` record,
 * indexed for the cron sweep, when it could not. A cancel is never lost.
 */
export async function cancelSession(record: SessionRecord, ownerKey: string, deps: CancelDeps): Promise<SessionRecord> {
  try {
    await cancelUpstream(record.session_id, deps);
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
  let unreached = 0;
  await eachConcurrently(open, async (record) => {
    if (!store.budget.hold(CANCEL_KV_OPERATIONS)) return void unreached++;
    try {
      const upstream = takeCall();
      // Already indexed, and no upstream call left for it here: the sweep has it; nothing to spend.
      if (!upstream && record.status === "cancel_pending") return void pending++;
      const settled = upstream
        ? await cancelSession(record, ownerKey, withinCalls)
        : await store.markPending(ownerKey, record);
      if (settled.status === "cancelled") cancelled++;
      else pending++;
    } finally {
      store.budget.release(CANCEL_KV_OPERATIONS);
    }
  });
  return { cancelled, pending, complete: listed.cursor === undefined && unreached === 0 };
}

/**
 * Runs `task` over `items` with at most {@link CANCEL_CONCURRENCY} at a time.
 * After a task fails no new one starts, so a failing store is not hammered;
 * the first failure is thrown once the running ones end.
 */
export async function eachConcurrently<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      try {
        await task(items[next++] as T);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(CANCEL_CONCURRENCY, items.length) }, worker));
  const failure = settled.find((result) => result.status === "rejected");
  if (failure) throw failure.reason;
}
