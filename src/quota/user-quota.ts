import { DurableObject } from "cloudflare:workers";

/** A UTC day is this many seconds; days are numbered from the epoch. */
export const DAY_SECONDS = 86_400;

/** Which limit refused a start: the per-user ones, or the chosen workflow's own. */
export type QuotaLimitKind = "daily" | "active" | "workflow_daily" | "workflow_active";

/** The limits that apply to one start, by kind; an absent one does not apply. */
export type StartLimits = Partial<Record<QuotaLimitKind, number>>;

export interface AcquireRequest {
  /** Names the slot until {@link UserQuota.commit} renames it after the session's id. */
  reservation: string;
  /** The workflow alias, or `@default`. */
  scope: string;
  /** Unix seconds, from the worker's clock. */
  now: number;
  /** Until when the slot counts unless committed: the latest the session could expire. */
  expiresAt: number;
  limits: StartLimits;
}

export type AcquireResult =
  | { ok: true }
  /** `retryAfter`: seconds until the limit can let one more through (a slot's expiry, or UTC midnight). */
  | { ok: false; limit: QuotaLimitKind; retryAfter: number };

/**
 * One user's session counts, in a SQLite-backed Durable Object named by the
 * owner key. A Durable Object runs one request at a time and these methods
 * never await, so each check-and-count is atomic: the limits are exact,
 * whatever the concurrency and wherever the requests come from.
 *
 * - `active`: sessions that may still be in use. A row leaves when its
 *   session is released (confirmed cancel), refunded (its create failed),
 *   or its `expires_at` passes (rows past it are ignored and pruned).
 * - `started`: sessions started per UTC day and scope; only a refund takes
 *   one back, a cancel does not.
 */
export class UserQuota extends DurableObject {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS active (id TEXT PRIMARY KEY, scope TEXT NOT NULL, day INTEGER NOT NULL, expires_at INTEGER NOT NULL);" +
        "CREATE TABLE IF NOT EXISTS started (day INTEGER NOT NULL, scope TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (day, scope))",
    );
  }

  /** Counts one start when every limit allows it; otherwise counts nothing and says which limit refused. */
  acquire(request: AcquireRequest): AcquireResult {
    const { now, scope, limits } = request;
    const day = Math.floor(now / DAY_SECONDS);
    this.sql.exec("DELETE FROM active WHERE expires_at <= ?", now);
    this.sql.exec("DELETE FROM started WHERE day < ?", day);

    /** Active slots (with `where`), and seconds until the soonest of them expires. */
    const active = (where: string, ...args: unknown[]): [number, number] => {
      const row = this.sql
        .exec<{ n: number; soonest: number }>(
          `SELECT COUNT(*) AS n, MIN(expires_at) AS soonest FROM active ${where}`,
          ...args,
        )
        .one();
      return [row.n, Math.max(1, row.soonest - now)];
    };
    /** Starts today (with `where`), and seconds until UTC midnight. */
    const started = (where: string, ...args: unknown[]): [number, number] => [
      this.sql
        .exec<{ n: number }>(`SELECT COALESCE(SUM(count), 0) AS n FROM started WHERE day = ? ${where}`, day, ...args)
        .one().n,
      (day + 1) * DAY_SECONDS - now,
    ];
    // The first limit reached, in this order, refuses the start.
    const checks: Array<[QuotaLimitKind, () => [count: number, retryAfter: number]]> = [
      ["active", () => active("")],
      ["workflow_active", () => active("WHERE scope = ?", scope)],
      ["daily", () => started("")],
      ["workflow_daily", () => started("AND scope = ?", scope)],
    ];
    for (const [limit, measure] of checks) {
      const max = limits[limit];
      if (max === undefined) continue;
      const [count, retryAfter] = measure();
      if (count >= max) return { ok: false, limit, retryAfter };
    }
    this.sql.exec(
      "INSERT OR REPLACE INTO active (id, scope, day, expires_at) VALUES (?, ?, ?, ?)",
      request.reservation,
      scope,
      day,
      request.expiresAt,
    );
    this.sql.exec(
      "INSERT INTO started (day, scope, count) VALUES (?, ?, 1) ON CONFLICT (day, scope) DO UPDATE SET count = count + 1",
      day,
      scope,
    );
    return { ok: true };
  }

  /** The session started: its slot now carries the session's id (for release) and its real expiry. */
  commit(reservation: string, sessionId: string, expiresAt: number): void {
    this.sql.exec("UPDATE active SET id = ?, expires_at = ? WHERE id = ?", sessionId, expiresAt, reservation);
  }

  /** The start failed: the slot and the day's count are given back. */
  refund(reservation: string): void {
    const rows = this.sql
      .exec<{ scope: string; day: number }>("SELECT scope, day FROM active WHERE id = ?", reservation)
      .toArray();
    for (const { scope, day } of rows) {
      this.sql.exec("UPDATE started SET count = count - 1 WHERE day = ? AND scope = ? AND count > 0", day, scope);
    }
    this.sql.exec("DELETE FROM active WHERE id = ?", reservation);
  }

  /** Sessions that ended (a confirmed cancel): their slots are free; the day's count stays. */
  release(sessionIds: readonly string[]): void {
    for (const id of sessionIds) this.sql.exec("DELETE FROM active WHERE id = ?", id);
  }
}
