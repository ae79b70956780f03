/**
 * Statuses kept in KV. A session past `expires_at` that was not cancelled is
 * reported as `expired` without a write (the sweep no longer stores it; it
 * stays valid for records written before).
 */
export type SessionStatus = "active" | "cancelled" | "cancel_pending" | "expired";

/**
 * What chatkit-gate remembers about a session. It never holds the client
 * secret or the raw user: the owner is implied by the KV key.
 */
export interface SessionRecord {
  session_id: string;
  status: SessionStatus;
  /** Unix seconds. */
  created_at: number;
  /** Unix seconds, as ChatKit reported it (hosted) or the gate set it (self-hosted). */
  expires_at: number;
  /** Unix seconds; set once the cancel was confirmed (at once in self-hosted mode). */
  cancelled_at?: number;
  /** The session's workflow; absent for a self-hosted session started without one. */
  workflow_id?: string;
}

/** The record as the API shows it. */
export interface SessionView {
  session_id: string;
  status: SessionStatus;
  created_at: number;
  expires_at: number;
  cancelled_at?: number;
}

/** A session whose time is up is reported as `expired`, unless it was cancelled first. */
export function effectiveStatus(record: SessionRecord, nowSeconds: number): SessionStatus {
  return record.status !== "cancelled" && nowSeconds >= record.expires_at ? "expired" : record.status;
}

const STATUSES: ReadonlySet<unknown> = new Set<SessionStatus>(["active", "cancelled", "cancel_pending", "expired"]);

export function toView(record: SessionRecord, nowSeconds: number): SessionView {
  const view: SessionView = {
    session_id: record.session_id,
    status: effectiveStatus(record, nowSeconds),
    created_at: record.created_at,
    expires_at: record.expires_at,
  };
  if (record.cancelled_at !== undefined) view.cancelled_at = record.cancelled_at;
  return view;
}

/** Accepts only a well-formed record, so a corrupted or foreign KV value is never trusted. */
export function isSessionRecord(value: unknown): value is SessionRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.session_id === "string" &&
    STATUSES.has(r.status) &&
    Number.isSafeInteger(r.created_at) &&
    Number.isSafeInteger(r.expires_at) &&
    (r.cancelled_at === undefined || Number.isSafeInteger(r.cancelled_at)) &&
    (r.workflow_id === undefined || typeof r.workflow_id === "string")
  );
}
