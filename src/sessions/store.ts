import { CHATKIT_CLOCK_SKEW_SECONDS } from "../chatkit/answers";
import { MAX_SESSION_SECONDS } from "../config/config";
import { GateError } from "../http/errors";
import { log } from "../http/log";
import { KvBudget, KvBudgetExhausted } from "./kv-budget";
import { isSessionRecord, type SessionRecord } from "./record";

/** KV refuses an expirationTtl under 60 seconds. */
export const MIN_KV_TTL_SECONDS = 60;
/** Records outlive their session by an hour, so users and operators can still see how recent sessions ended. */
export const RETENTION_SECONDS = 3600;
/** The most keys one KV list call returns; a page may hold fewer (even none) while more remain. */
export const LIST_PAGE_SIZE = 1000;
/** KV allows one write per second to a key, which a create followed at once by a cancel can hit. */
const WRITE_RETRY_DELAY_MS = 1_000;
/** A write made in one location can take this long to be seen in another. */
const KV_CONSISTENCY_SECONDS = 60;
/** The cron trigger's period (wrangler.toml). */
const SWEEP_PERIOD_SECONDS = 60;
/**
 * How long the marker that wakes the sweep lives. It must outlast every
 * cancel indexed before it was written: a session ends at most
 * {@link MAX_SESSION_SECONDS} (plus ChatKit's skew) after creation, and the
 * sweep must still get to see the marker from another location after that.
 * Because it always outlives what it announces, it is never deleted, and so
 * a sweep can never delete a marker that a request has just refreshed.
 */
export const PENDING_MARKER_TTL_SECONDS =
  MAX_SESSION_SECONDS + CHATKIT_CLOCK_SKEW_SECONDS + KV_CONSISTENCY_SECONDS + SWEEP_PERIOD_SECONDS;

const SESSION_PREFIX = "session:";
/** The index of cancels still owed to ChatKit, so the sweep lists them instead of scanning every session. */
const PENDING_PREFIX = "pending:";
/** Present while a cancel may be owed: an idle sweep costs one read of it instead of a list. */
export const PENDING_MARKER_KEY = "sweep:pending";

/**
 * An entry of the pending-cancel index. It carries the record as it was when
 * the cancel became owed, so the sweep can settle it even when a read of the
 * record comes back empty (KV is eventually consistent). Entries written
 * before the record was carried have `record` undefined.
 */
export interface PendingCancel {
  sessionId: string;
  ownerKey: string;
  record?: SessionRecord;
}

/** One KV list page, or several followed; `cursor` is where the next one starts, absent when the listing is done. */
export interface Page<T> {
  items: T[];
  cursor?: string;
}

/**
 * Follows KV list cursors from `cursor`, at most `maxPages` pages, stopping
 * early once `enough` items are in hand. A page can be short or empty while
 * more keys remain (expired and deleted keys still take room in a page), so
 * only the absence of a cursor says the listing is done.
 */
export async function readPages<T>(
  read: (cursor: string | undefined) => Promise<Page<T>>,
  options: { cursor?: string; maxPages: number; enough?: number },
): Promise<Page<T>> {
  const items: T[] = [];
  let cursor = options.cursor;
  for (let pages = 0; pages < options.maxPages; pages++) {
    const page = await read(cursor);
    items.push(...page.items);
    cursor = page.cursor;
    if (cursor === undefined || items.length >= (options.enough ?? Number.POSITIVE_INFINITY)) break;
  }
  return cursor === undefined ? { items } : { items, cursor };
}

/**
 * Session records in Workers KV under `session:<ownerKey>:<session_id>`.
 * The owner is part of the key, so a lookup is also the ownership check and
 * a user's sessions are one prefix list. The record is written both as the
 * value (read by `get`) and as metadata (returned by `list`), in one put.
 * Cancels owed to ChatKit are also indexed under `pending:<session_id>`.
 *
 * Every KV call is charged to the invocation's {@link KvBudget}; make one
 * store per request or cron run.
 *
 * Consistency: KV is eventually consistent, up to 60 s between locations.
 * A read in the location that wrote sees the write; a read elsewhere may see
 * the previous record (or none) for up to 60 s. See docs/operations.md.
 */
export class SessionStore {
  private marker: Promise<void> | undefined;

  constructor(
    private readonly kv: KVNamespace,
    private readonly now: () => number,
    readonly budget: KvBudget = new KvBudget(),
  ) {}

  /** One KV read. Null when the session is unknown or belongs to someone else. */
  async get(ownerKey: string, sessionId: string): Promise<SessionRecord | null> {
    this.budget.spend();
    const value: unknown = await guard(this.kv.get(keyFor(ownerKey, sessionId), "json"));
    return isSessionRecord(value) && value.session_id === sessionId ? value : null;
  }

  /**
   * One KV write (a second only if the first is refused, after the per-key
   * write interval). The record lives until `expires_at` plus the retention period.
   */
  async put(ownerKey: string, record: SessionRecord): Promise<void> {
    const ttl = record.expires_at + RETENTION_SECONDS - this.now();
    await this.write(keyFor(ownerKey, record.session_id), JSON.stringify(record), ttl, record);
  }

  /**
   * One KV list call: one page of the user's records, in key order (by
   * session id), from `cursor`. Only keys under the user's own prefix whose
   * record names the same session are returned, whatever cursor was given.
   */
  listPage(ownerKey: string, cursor?: string): Promise<Page<SessionRecord>> {
    return this.listKv(
      `${SESSION_PREFIX}${ownerKey}:`,
      cursor,
      (metadata) => (isSessionRecord(metadata) ? metadata : undefined),
      (record) => record.session_id,
    );
  }

  /**
   * Indexes the session for the sweep, then stores it as `cancel_pending`:
   * two writes, index first, so a failure between them still leaves the
   * cancel owed and findable. The first call of a store also refreshes the
   * marker that wakes the sweep (one more write per request).
   */
  async markPending(ownerKey: string, record: SessionRecord): Promise<SessionRecord> {
    const pending: SessionRecord = { ...record, status: "cancel_pending" };
    this.marker ??= this.refreshMarker();
    await this.marker;
    const index: PendingCancel = { sessionId: record.session_id, ownerKey, record: pending };
    // The entry is only needed until the session ends by itself; KV then drops it, with no delete to pay for.
    await this.write(`${PENDING_PREFIX}${record.session_id}`, "", record.expires_at - this.now(), index);
    await this.put(ownerKey, pending);
    return pending;
  }

  /**
   * One KV read: false when no cancel has been owed for a while, so the
   * sweep has nothing to list. A true answer may be stale; a false one is
   * at most {@link KV_CONSISTENCY_SECONDS} late, which the marker's TTL covers.
   */
  async mayHavePending(): Promise<boolean> {
    this.budget.spend();
    return (await guard(this.kv.get(PENDING_MARKER_KEY))) !== null;
  }

  /** One KV list call over the pending-cancel index, in key order, from `cursor`. */
  pendingPage(cursor?: string): Promise<Page<PendingCancel>> {
    return this.listKv(PENDING_PREFIX, cursor, pendingCancel, (entry) => entry.sessionId);
  }

  /** One KV delete: drops a session from the pending index; deleting twice is harmless. */
  async clearPending(sessionId: string): Promise<void> {
    this.budget.spend();
    await guard(this.kv.delete(`${PENDING_PREFIX}${sessionId}`));
  }

  /**
   * The marker is a hint, the index entry is the record of the owed cancel.
   * A refused marker write is logged, not fatal: KV refuses a second write to
   * a key within a second, which means another request has just refreshed
   * it, and that marker covers this entry too (its TTL has a margin).
   */
  private async refreshMarker(): Promise<void> {
    try {
      await this.write(PENDING_MARKER_KEY, "", PENDING_MARKER_TTL_SECONDS, undefined);
    } catch (error) {
      if (error instanceof KvBudgetExhausted) throw error;
      log("error", "pending_marker_failed", { error: String(error) });
    }
  }

  /**
   * One KV list call under `prefix`: the items `parse` reads from the keys' metadata, each only
   * under its own key (`prefix` and its `idOf`), so a foreign or corrupted key is never trusted.
   */
  private async listKv<T>(
    prefix: string,
    cursor: string | undefined,
    parse: (metadata: unknown) => T | undefined,
    idOf: (item: T) => string,
  ): Promise<Page<T>> {
    this.budget.spend();
    const page = await guard(this.kv.list<unknown>({ prefix, limit: LIST_PAGE_SIZE, cursor }));
    const items = page.keys.flatMap(({ name, metadata }) => {
      const item = parse(metadata);
      return item !== undefined && name === `${prefix}${idOf(item)}` ? [item] : [];
    });
    if (page.list_complete) return { items };
    // KV always gives a cursor with an incomplete page; without one the rest could never be reached.
    if (!page.cursor) throw storageUnavailable();
    return { items, cursor: page.cursor };
  }

  private async write(key: string, value: string, ttlSeconds: number, metadata: unknown): Promise<void> {
    const options: KVNamespacePutOptions = { expirationTtl: Math.max(MIN_KV_TTL_SECONDS, ttlSeconds) };
    if (metadata !== undefined) options.metadata = metadata;
    this.budget.spend();
    try {
      await this.kv.put(key, value, options);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, WRITE_RETRY_DELAY_MS));
      this.budget.spend();
      await guard(this.kv.put(key, value, options));
    }
  }
}

/** An index entry's metadata, or undefined when it is not one (a foreign or corrupted key is never trusted). */
function pendingCancel(metadata: unknown): PendingCancel | undefined {
  if (typeof metadata !== "object" || metadata === null) return undefined;
  const { sessionId, ownerKey, record } = metadata as Record<string, unknown>;
  if (typeof sessionId !== "string" || typeof ownerKey !== "string") return undefined;
  if (record === undefined) return { sessionId, ownerKey };
  return isSessionRecord(record) && record.session_id === sessionId ? { sessionId, ownerKey, record } : undefined;
}

/** KV could not be reached: 503, for the caller to try again. */
export const storageUnavailable = () =>
  new GateError("storage_unavailable", "Session storage is unavailable; try again");

/** KV failures become a clear 503 instead of an unexplained 500. */
async function guard<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch {
    throw storageUnavailable();
  }
}

function keyFor(ownerKey: string, sessionId: string): string {
  return `${SESSION_PREFIX}${ownerKey}:${sessionId}`;
}
