import type { ChatKitClient } from "../chatkit/client";
import { UpstreamError } from "../chatkit/failures";
import { cancelWithRetries, type RetryDeps } from "../chatkit/retry";
import { effectiveStatus, type SessionRecord } from "./record";
import type { SessionStore } from "./store";

/** Workers allow six simultaneous outbound connections per request; more would only queue. */
export const CANCEL_CONCURRENCY = 6;
/**
 * Upstream cancels one request may make. The Workers free plan allows 50
 * subrequests per request; this leaves room for JWKS and discovery fetches.
 * The rest are marked cancel_pending for the sweep.
 */
export const CANCEL_BATCH = 40;

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

/** True when the session can still be used and so still needs an upstream cancel. */
export function needsCancel(record: SessionRecord, nowSeconds: number): boolean {
  const status = effectiveStatus(record, nowSeconds);
  return status === "active" || status === "cancel_pending";
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
    const { requestId } = await cancelWithRetries(deps.client, record.session_id, deps.deadline, deps.retry);
    deps.onUpstream?.(requestId);
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    deps.onUpstream?.(error.requestId);
    return record.status === "cancel_pending" ? record : deps.store.markPending(ownerKey, record);
  }
  return recordCancelled(record, ownerKey, record.status === "cancel_pending", deps);
}

/**
 * Cancels every session of a user that can still be used, six at a time.
 * Sessions past this request's batch go straight to the pending index.
 */
export async function cancelAll(
  records: readonly SessionRecord[],
  ownerKey: string,
  deps: CancelDeps,
): Promise<{ cancelled: number; pending: number }> {
  const now = deps.now();
  const open = records.filter((record) => needsCancel(record, now));
  const batch = open.slice(0, CANCEL_BATCH);
  let cancelled = 0;
  await eachConcurrently(batch, async (record) => {
    if ((await cancelSession(record, ownerKey, deps)).status === "cancelled") cancelled++;
  });
  await eachConcurrently(open.slice(CANCEL_BATCH), async (record) => {
    if (record.status !== "cancel_pending") await deps.store.markPending(ownerKey, record);
  });
  return { cancelled, pending: open.length - cancelled };
}

/** Runs `task` over `items` with at most {@link CANCEL_CONCURRENCY} at a time. */
export async function eachConcurrently<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(CANCEL_CONCURRENCY, items.length) }, worker));
}
