import { isSessionRecord, type SessionRecord } from "./record";

/** KV refuses an expirationTtl under 60 seconds. */
export const MIN_KV_TTL_SECONDS = 60;
/** Records outlive their session by an hour, so users and operators can still see how recent sessions ended. */
export const RETENTION_SECONDS = 3600;
/** One KV list call returns at most 1000 keys; a user never has more live records than that at 10 creates a minute. */
const LIST_LIMIT = 1000;
/** KV allows one write per second to a key, which a create followed at once by a cancel can hit. */
const WRITE_RETRY_DELAY_MS = 1_000;

/**
 * Session records in Workers KV under `session:<ownerKey>:<session_id>`.
 * The owner is part of the key, so a lookup is also the ownership check and
 * a user's sessions are one prefix list. The record is written both as the
 * value (read by `get`) and as metadata (returned by `list`), in one put.
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
    const value: unknown = await this.kv.get(keyFor(ownerKey, sessionId), "json");
    return isSessionRecord(value) && value.session_id === sessionId ? value : null;
  }

  /**
   * One KV write (a second only if the first is refused, after the per-key
   * write interval). The record lives until `expires_at` plus the retention period.
   */
  async put(ownerKey: string, record: SessionRecord): Promise<void> {
    const write = () =>
      this.kv.put(keyFor(ownerKey, record.session_id), JSON.stringify(record), {
        expirationTtl: Math.max(MIN_KV_TTL_SECONDS, record.expires_at + RETENTION_SECONDS - this.now()),
        metadata: record,
      });
    try {
      await write();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, WRITE_RETRY_DELAY_MS));
      await write();
    }
  }

  /** One KV list call; `complete` is false when the user has more records than one list returns. */
  async list(ownerKey: string): Promise<{ records: SessionRecord[]; complete: boolean }> {
    const page = await this.kv.list<unknown>({ prefix: prefixFor(ownerKey), limit: LIST_LIMIT });
    const records = page.keys.map((key) => key.metadata).filter(isSessionRecord);
    return { records, complete: page.list_complete };
  }
}

function prefixFor(ownerKey: string): string {
  return `session:${ownerKey}:`;
}

function keyFor(ownerKey: string, sessionId: string): string {
  return `${prefixFor(ownerKey)}${sessionId}`;
}
