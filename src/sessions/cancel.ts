import type { ChatKitClient } from "../chatkit/client";
import { UpstreamError } from "../chatkit/failures";
import { effectiveStatus, type SessionRecord } from "./record";
import type { SessionStore } from "./store";

/** Workers allow six simultaneous outbound connections per request; more would only queue. */
const CANCEL_CONCURRENCY = 6;
/**
 * Upstream cancels one cancel_all may make. The Workers free plan allows 50
 * subrequests per request; this leaves room for JWKS and discovery fetches.
 * The rest are marked cancel_pending and retried by the next cancel_all.
 */
export const CANCEL_ALL_BATCH = 40;

export interface CancelDeps {
  client: ChatKitClient;
  store: SessionStore;
  now: () => number;
  /** Called with the upstream request id of each confirmed cancel, for the request log. */
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
 * Cancels upstream, then records it. KV changes only after ChatKit confirms;
 * upstream failures propagate as {@link UpstreamError}.
 */
export async function cancelUpstream(
  record: SessionRecord,
  ownerKey: string,
  deps: CancelDeps,
): Promise<SessionRecord> {
  const { requestId } = await deps.client.cancelSession(record.session_id);
  deps.onUpstream?.(requestId);
  const cancelled: SessionRecord = { ...record, status: "cancelled", cancelled_at: deps.now() };
  try {
    await deps.store.put(ownerKey, cancelled);
  } catch (error) {
    // ChatKit is the authority and has cancelled: report success, and let a repeat cancel re-sync KV.
    deps.onStoreFailure?.(error);
  }
  return cancelled;
}

/**
 * Cancels every session of a user that can still be used. A session whose
 * upstream cancel fails, or that is past this call's batch, is stored as
 * `cancel_pending` so it is visible and retried rather than forgotten.
 */
export async function cancelAll(
  records: readonly SessionRecord[],
  ownerKey: string,
  deps: CancelDeps,
): Promise<{ cancelled: number; pending: number }> {
  const now = deps.now();
  const open = records.filter((record) => needsCancel(record, now));
  const batch = open.slice(0, CANCEL_ALL_BATCH);
  let cancelled = 0;
  const markPending = async (record: SessionRecord) => {
    if (record.status !== "cancel_pending") await deps.store.put(ownerKey, { ...record, status: "cancel_pending" });
  };

  let next = 0;
  const worker = async () => {
    while (next < batch.length) {
      const record = batch[next++] as SessionRecord;
      try {
        await cancelUpstream(record, ownerKey, deps);
        cancelled++;
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        await markPending(record);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CANCEL_CONCURRENCY, batch.length) }, worker));
  await Promise.all(open.slice(CANCEL_ALL_BATCH).map(markPending));
  return { cancelled, pending: open.length - cancelled };
}
