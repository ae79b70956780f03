import { UpstreamError } from "../chatkit/failures";
import type { SessionUpstream } from "../modes/mode";
import { eachWithinBudget, recordCancelled, UPSTREAM_CALLS_PER_INVOCATION } from "./cancel";
import { type PendingCancel, readPages, type SessionStore } from "./store";

/**
 * Pages of the pending index one run follows; it stops earlier once it has
 * a batch. Each page is one of the Free plan's 1,000 daily lists.
 */
export const SWEEP_LIST_PAGES = 5;
/** KV operations one entry needs without a retry: read the record, write it, delete the index entry. */
const SWEEP_KV_OPERATIONS = 3;

export interface SweepDeps {
  /** The mode's upstream side; an immediate one never owes a cancel, so the run does nothing. */
  upstream: SessionUpstream;
  store: SessionStore;
  /** Unix seconds. */
  now: () => number;
  onStoreFailure?: (error: unknown) => void;
}

export interface SweepResult {
  /** False when the marker said no cancel was owed, so the run cost one read and no list. */
  listed: boolean;
  /** ChatKit confirmed the cancel, or has no such session (404). */
  cancelled: number;
  /** The session ended by itself first: nothing is owed, and KV drops the entry at its expiry. */
  expired: number;
  /** Still owed: not confirmed this time, or not reached in this run. */
  pending: number;
  /** Of those still owed, ChatKit refused the cancel with a 4xx (our key or request): worth an alert. */
  refused: number;
  /** Index entries already settled elsewhere (the record says cancelled or expired). */
  cleared: number;
  /** False when the index has more pages than this run read. */
  complete: boolean;
}

type Outcome = "cancelled" | "expired" | "pending" | "refused" | "cleared";

/**
 * Settles pending cancels from the index, one upstream attempt each, until
 * ChatKit confirms or the session has expired. An idle run reads one marker
 * key and lists nothing. Safe to run twice at once: every step is
 * idempotent (ChatKit's cancel, the record write, the index delete), so an
 * overlap costs a duplicate call, never a wrong state.
 */
export async function sweepPendingCancels(deps: SweepDeps): Promise<SweepResult> {
  const result: SweepResult = {
    listed: false,
    cancelled: 0,
    expired: 0,
    pending: 0,
    refused: 0,
    cleared: 0,
    complete: true,
  };
  // Self-hosted: a cancel is complete when recorded, so nothing is ever owed; not even the marker is read.
  if (deps.upstream.immediate || !(await deps.store.mayHavePending())) return result;
  result.listed = true;
  const listed = await readPages((cursor) => deps.store.pendingPage(cursor), {
    maxPages: SWEEP_LIST_PAGES,
    enough: UPSTREAM_CALLS_PER_INVOCATION,
  });
  result.complete = listed.cursor === undefined;
  const now = deps.now();
  const live = listed.items.filter((entry) => entry.record === undefined || now < entry.record.expires_at);
  result.expired = listed.items.length - live.length;
  result.pending = Math.max(0, live.length - UPSTREAM_CALLS_PER_INVOCATION);
  const unreached = await eachWithinBudget(
    live.slice(0, UPSTREAM_CALLS_PER_INVOCATION),
    deps.store.budget,
    SWEEP_KV_OPERATIONS,
    async (entry) => {
      const outcome = await settle(entry, deps);
      if (outcome === "refused") result.pending++;
      result[outcome]++;
    },
  );
  // Read after the run: the tasks above count into result.pending too.
  result.pending += unreached;
  return result;
}

/** One index entry: cleared only once the cancel is confirmed elsewhere or here, or the session has ended. */
async function settle(entry: PendingCancel, deps: SweepDeps): Promise<Outcome> {
  const { sessionId, ownerKey } = entry;
  const stored = await deps.store.get(ownerKey, sessionId);
  if (stored?.status === "cancelled" || stored?.status === "expired") {
    await deps.store.clearPending(sessionId);
    return "cleared";
  }
  // An empty read may only be KV lagging behind the write: the entry's own copy of the record stands in.
  const record = stored ?? entry.record;
  // An entry from before records were carried, with a lagging read: try again next minute.
  if (record === undefined) return "pending";
  if (deps.now() >= record.expires_at) return "expired";
  try {
    await deps.upstream.endOnce(sessionId);
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    return error.failure.kind === "rejected" ? "refused" : "pending";
  }
  await recordCancelled(record, ownerKey, true, deps);
  return "cancelled";
}
