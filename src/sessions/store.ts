import { GateError } from "../http/errors";
import { isSessionRecord, type SessionRecord } from "./record";

/** KV refuses an expirationTtl under 60 seconds. */
export const MIN_KV_TTL_SECONDS = 60;
/** Records outlive their session by an hour, so users and operators can still see how recent sessions ended. */
export const RETENTION_SECONDS = 3600;
/** One KV list call returns at most 1000 keys; a user never has more live records than that at 10 creates a minute. */
const LIST_LIMIT = 1000;
/** KV allows one write per second to a key, which a create followed at once by a cancel can hit. */
const WRITE_RETRY_DELAY_MS = 1_000;

const SESSION_PREFIX = "session:";
/** The index of cancels still owed to ChatKit, so the sweep lists them instead of scanning every session. */
const PENDING_PREFIX = "pending:";

/** An entry of the pending-cancel index: enough to find the record without a scan. */
export interface PendingCancel {
  sessionId: string;
  ownerKey: string;
}

/**
 * Session records in Workers KV under `session:<ownerKey>:<session_id>`.
 * The owner is part of the key, so a lookup is also the ownership check and
 * a user's sessions are one prefix list. The record is written both as the
 * value (read by `get`) and as metadata (returned by `list`), in one put.
 * Cancels owed to ChatKit are also indexed under `pending:<session_id>`.
 *
 * Consistency: KV is eventually consistent, up to 60 s between locations.
 * A read in the location that wrote sees the write; a read elsewhere may see
 * the previous record (or none) for up to 60 s. See docs/operations.md.
 */
export class SessionStore {
  constructor(
    private readonly kv: KVNamespace,
    private readonly now: () => number,
  ) {}

  /** One KV read. Null when the session is unknown or belongs to someone else. */
  async get(ownerKey: string, sessionId: string): Promise<SessionRecord | null> {
    const value: unknown = await guard(this.kv.get(keyFor(ownerKey, sessionId), "json"));
    return isSessionRecord(value) && value.session_id === sessionId ? value : null;
  }

  /**
   * One KV write (a second only if the first is refused, after the per-key
   * write interval). The record lives until `expires_at` plus the retention period.
   */
  async put(ownerKey: string, record: SessionRecord): Promise<void> {
    await this.write(keyFor(ownerKey, record.session_id), JSON.stringify(record), record.expires_at, record);
  }

  /** One KV list call; `complete` is false when the user has more records than one list returns. */
  async list(ownerKey: string): Promise<{ records: SessionRecord[]; complete: boolean }> {
    const page = await guard(this.kv.list<unknown>({ prefix: `${SESSION_PREFIX}${ownerKey}:`, limit: LIST_LIMIT }));
    const records = page.keys.map((key) => key.metadata).filter(isSessionRecord);
    return { records, complete: page.list_complete };
  }

  /**
   * Indexes the session for the sweep, then stores it as `cancel_pending`:
   * two writes, index first, so a failure between them still leaves the
   * cancel owed and findable.
   */
  async markPending(ownerKey: string, record: SessionRecord): Promise<SessionRecord> {
    const pending: SessionRecord = { ...record, status: "cancel_pending" };
    const index: PendingCancel = { sessionId: record.session_id, ownerKey };
    await this.write(`${PENDING_PREFIX}${record.session_id}`, "", record.expires_at, index);
    await this.put(ownerKey, pending);
    return pending;
  }

  /** One KV list call over the pending-cancel index. */
  async listPending(limit: number): Promise<PendingCancel[]> {
    const page = await guard(this.kv.list<PendingCancel>({ prefix: PENDING_PREFIX, limit }));
    return page.keys.flatMap((key) =>
      key.metadata &&
      typeof key.metadata.ownerKey === "string" &&
      key.name === `${PENDING_PREFIX}${key.metadata.sessionId}`
        ? [key.metadata]
        : [],
    );
  }

  /** Drops a session from the pending index; deleting twice is harmless. */
  async clearPending(sessionId: string): Promise<void> {
    await guard(this.kv.delete(`${PENDING_PREFIX}${sessionId}`));
  }

  private async write(key: string, value: string, expiresAt: number, metadata: unknown): Promise<void> {
    const write = () =>
      this.kv.put(key, value, {
        expirationTtl: Math.max(MIN_KV_TTL_SECONDS, expiresAt + RETENTION_SECONDS - this.now()),
        metadata,
      });
    try {
      await write();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, WRITE_RETRY_DELAY_MS));
      await guard(write());
    }
  }
}

/** KV failures become a clear 503 instead of an unexplained 500. */
async function guard<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch {
    throw new GateError("storage_unavailable", "Session storage is unavailable; try again");
  }
}

function keyFor(ownerKey: string, sessionId: string): string {
  return `${SESSION_PREFIX}${ownerKey}:${sessionId}`;
}
