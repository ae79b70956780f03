import type { ChatKitClient } from "../chatkit/client";
import { UpstreamError } from "../chatkit/failures";
import { CANCEL_BATCH, eachConcurrently, recordCancelled } from "./cancel";
import type { SessionStore } from "./store";

/** One list call returns at most 1000 keys; more than one batch per minute is never needed. */
const PENDING_LIST_LIMIT = 1000;

export interface SweepDeps {
  client: ChatKitClient;
  store: SessionStore;
  /** Unix seconds. */
  now: () => number;
  onStoreFailure?: (error: unknown) => void;
}

export interface SweepResult {
  /** ChatKit confirmed the cancel. */
  cancelled: number;
  /** The session ended by itself first; stored as `expired`. */
  expired: number;
  /** Still owed: ChatKit did not confirm this time. */
  pending: number;
  /** Index entries already settled (cancelled elsewhere, or the record is gone). */
  cleared: number;
}

/**
 * Settles pending cancels from the index, one upstream attempt each, until
 * ChatKit confirms or the session has expired. Safe to run twice at once:
 * every step is idempotent (ChatKit's cancel, the record write, the index
 * delete), so an overlap costs a duplicate call, never a wrong state.
 */
export async function sweepPendingCancels(deps: SweepDeps): Promise<SweepResult> {
  const result: SweepResult = { cancelled: 0, expired: 0, pending: 0, cleared: 0 };
  const entries = await deps.store.listPending(PENDING_LIST_LIMIT);
  result.pending = Math.max(0, entries.length - CANCEL_BATCH);
  await eachConcurrently(entries.slice(0, CANCEL_BATCH), async ({ sessionId, ownerKey }) => {
    const record = await deps.store.get(ownerKey, sessionId);
    if (record === null || record.status === "cancelled" || record.status === "expired") {
      await deps.store.clearPending(sessionId);
      result.cleared++;
      return;
    }
    if (deps.now() >= record.expires_at) {
      await deps.store.put(ownerKey, { ...record, status: "expired" });
      await deps.store.clearPending(sessionId);
      result.expired++;
      return;
    }
    try {
      await deps.client.cancelSession(sessionId);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      result.pending++;
      return;
    }
    await recordCancelled(record, ownerKey, true, deps);
    result.cancelled++;
  });
  return result;
}
