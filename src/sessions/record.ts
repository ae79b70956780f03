/** Statuses kept in KV. `expired` is never stored: it is derived from `expires_at` on read. */
export type StoredStatus = "active" | "cancelled" | "cancel_pending";
export type SessionStatus = StoredStatus | "expired";

/**
 * What chatkit-gate remembers about a session. It never holds the client
 * secret or the raw user: the owner is implied by the KV key.
 */
export interface SessionRecord {
  session_id: string;
  status: StoredStatus;
  /** Unix seconds. */
  created_at: number;
  /** Unix seconds, as ChatKit reported it. */
  expires_at: number;
  /** Unix seconds; set once ChatKit confirmed the cancel. */
  cancelled_at?: number;
  workflow_id: string;
}

/** The record as the API shows it. */
export interface SessionView {
  session_id: string;
  status: SessionStatus;
  created_at: number;
  expires_at: number;
  cancelled_at?: number;
}

/** An active session whose time is up is reported as `expired`; a cancelled one stays cancelled. */
export function effectiveStatus(record: SessionRecord, nowSeconds: number): SessionStatus {
  return record.status !== "cancelled" && nowSeconds >= record.expires_at ? "expired" : record.status;
}

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
    (r.status === "active" || r.status === "cancelled" || r.status === "cancel_pending") &&
    Number.isSafeInteger(r.created_at) &&
    Number.isSafeInteger(r.expires_at) &&
    (r.cancelled_at === undefined || Number.isSafeInteger(r.cancelled_at)) &&
    typeof r.workflow_id === "string"
  );
}
