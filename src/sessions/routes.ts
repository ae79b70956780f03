import type { Context } from "hono";
import { Hono } from "hono/tiny";
import { blockedError, inForce, readBlock } from "../admin/blocks";
import { SESSION_ID } from "../chatkit/client";
import { readJsonBody } from "../http/body";
import type { GateDeps, GateEnv } from "../http/context";
import { GateError } from "../http/errors";
import { log } from "../http/log";
import { enforceOn } from "../policy/access";
import { EndingStore } from "../quota/ending-store";
import { quotaFor } from "../quota/quota";
import { type CancelDeps, cancelAll, cancelSession, needsCancel } from "./cancel";
import { parseCreateRequest } from "./create-request";
import { KvBudget } from "./kv-budget";
import { type SessionRecord, toView } from "./record";
import { LIST_PAGE_SIZE, readPages, type SessionStore } from "./store";

type Ctx = Context<GateEnv>;

/**
 * The rate limiting binding does not say when a key frees up; its period is
 * the longest a caller may have to wait, so that is what Retry-After says.
 */
export const CREATE_LIMIT_RETRY_AFTER_SECONDS = 60;

/**
 * KV list pages one list request follows (each one of the Free plan's 1,000
 * daily lists). It stops earlier once a page's worth of records is in hand.
 */
export const LIST_PAGES_PER_REQUEST = 5;
/** KV cursors are opaque base64 or base64url text; anything else never came from a list. */
export const LIST_CURSOR = /^[A-Za-z0-9+/=_-]{1,1024}$/;

const notFound = () => new GateError("session_not_found", "No such session for this user");

/**
 * The session routes, mounted under `/v1/chatkit/sessions` behind
 * {@link requireUser}. They are the same in both modes; what differs (who
 * starts and ends a session upstream) is the request's `c.var.mode`.
 */
export function sessionRoutes(deps: GateDeps) {
  /**
   * One store per request: it carries the request's KV budget and refreshes
   * the sweep's marker once, and remembers the sessions it recorded ended.
   */
  const store = (c: Ctx) => new EndingStore(c.env.SESSIONS, deps.now, new KvBudget());
  /** Frees the quota slots of the sessions this request ended; no call without quotas or ended sessions. */
  const release = (c: Ctx, sessions: EndingStore) =>
    quotaFor(c.get("config").quotas, c.env, c.get("ownerKey"), c.get("requestId"))?.release(sessions.ended);
  const cancelDeps = (c: Ctx, sessions: EndingStore) => cancelDepsFor(c, sessions, deps);
  /** The caller's record for a path id; malformed ids never reach KV. */
  const ownRecord = async (c: Ctx, sessions: EndingStore): Promise<SessionRecord> => {
    const id = c.req.param("session_id") ?? "";
    const record = SESSION_ID.test(id) ? await sessions.get(c.get("ownerKey"), id) : null;
    if (record === null) throw notFound();
    return record;
  };

  return new Hono<GateEnv>()
    .use(async (c, next) => {
      // ACCESS_POLICY's top level applies to every session route; a workflow's additions to the create that picks it.
      enforceOn(c, c.get("config").accessPolicy, "access_refused", null);
      await next();
    })
    .post("/", async (c) => {
      const { config, ownerKey, claims, mode } = c.var;
      // Validated first: a body that can never succeed must not spend the user's create limit or quota.
      const request = parseCreateRequest(await readJsonBody(c.req.raw), config, claims);
      if (request.alias !== undefined) c.set("alias", request.alias);
      enforceOn(c, config.accessPolicy, "access_refused", request.alias);
      // The block (one KV read per create, whatever the admin configuration: unsetting ADMIN_POLICY must
      // not lift a block) and the create limit are independent round trips: asked together, a create
      // waits for the slower, not their sum. A blocked user's attempt still counts against its limit.
      const limiter = (c.env as Partial<Env>).CREATE_LIMITER; // absent binding, no limit: docs/operations.md
      const [block, limit] = await Promise.all([
        readBlock(c.env.SESSIONS, ownerKey),
        limiter?.limit({ key: ownerKey }),
      ]);
      if (inForce(block, deps.now())) throw blockedError();
      if (limit?.success === false) {
        throw new GateError("rate_limited", "Too many sessions started; wait before starting another", {
          "Retry-After": String(CREATE_LIMIT_RETRY_AFTER_SECONDS),
        });
      }
      const quota = quotaFor(config.quotas, c.env, ownerKey, c.get("requestId"));
      const reservation = await quota?.acquire(request.alias, deps.now(), config.expiresAfterSeconds);
      let session: Awaited<ReturnType<typeof mode.start>>;
      try {
        session = await mode.start(c, request);
      } catch (error) {
        // Nothing was started (or it was withdrawn): the slot and the day's count are given back.
        if (reservation !== undefined) await quota?.refund(reservation);
        throw error;
      }
      const record: SessionRecord = {
        session_id: session.id,
        status: "active",
        created_at: deps.now(),
        expires_at: session.expiresAt,
      };
      if (session.workflowId !== undefined) record.workflow_id = session.workflowId;
      try {
        await store(c).put(ownerKey, record);
      } catch (error) {
        // An untracked session could never be listed or cancelled by its owner: withdraw it.
        log("error", "kv_write_failed", { request_id: c.get("requestId"), error: String(error) });
        mode.withdraw(c, session.id);
        if (reservation !== undefined) await quota?.refund(reservation);
        throw new GateError("storage_unavailable", "The session could not be recorded; try again");
      }
      if (reservation !== undefined) await quota?.commit(reservation, session.id, session.expiresAt);
      return c.json({ ...toView(record, deps.now()), client_secret: session.clientSecret }, 201);
    })
    .get("/", async (c) => c.json(await listSessions(c, store(c), c.get("ownerKey"), deps.now)))
    .post("/cancel_all", async (c) => {
      const sessions = store(c);
      try {
        const result = await cancelAll(c.get("ownerKey"), cancelDeps(c, sessions));
        if (!result.complete) log("warn", "cancel_all_incomplete", { request_id: c.get("requestId"), ...result });
        return c.json(result);
      } finally {
        // Also after a failure part-way: what was ended is freed; the rest counts until it expires.
        await release(c, sessions);
      }
    })
    .get("/:session_id", async (c) => c.json(toView(await ownRecord(c, store(c)), deps.now())))
    .post("/:session_id/cancel", async (c) => {
      const sessions = store(c);
      const record = await ownRecord(c, sessions);
      // Idempotent: a cancelled or expired session is answered from KV, with no upstream call and no write.
      if (!needsCancel(record, deps.now())) return c.json(toView(record, deps.now()));
      const settled = await cancelSession(record, c.get("ownerKey"), cancelDeps(c, sessions)).finally(() =>
        release(c, sessions),
      );
      return c.json(toView(settled, deps.now()), settled.status === "cancel_pending" ? 202 : 200);
    });
}

/** What the cancels of one request may do: this request's mode, store, clock, deadline and log. */
export function cancelDepsFor(c: Ctx, sessions: SessionStore, deps: GateDeps): CancelDeps {
  return {
    upstream: c.get("mode").upstream,
    store: sessions,
    now: deps.now,
    retry: { clock: Date.now, sleep: deps.sleep, timer: c.get("upstream") },
    deadline: Date.now() + deps.upstreamTimeoutMs,
    onUpstream: (id) => c.set("upstreamRequestId", id),
    onStoreFailure: (error) =>
      log("error", "kv_write_failed", { request_id: c.get("requestId"), error: String(error) }),
  };
}

/**
 * One answer of a list route (the user's own, or the admin API's): up to
 * {@link LIST_PAGES_PER_REQUEST} KV pages from the request's `cursor`, newest first.
 */
export async function listSessions(c: Ctx, sessions: SessionStore, ownerKey: string, now: () => number) {
  const { items, cursor } = await readPages((from) => sessions.listPage(ownerKey, from), {
    cursor: listCursor(c),
    maxPages: LIST_PAGES_PER_REQUEST,
    enough: LIST_PAGE_SIZE,
  });
  const at = now();
  const data = items.sort(newestFirst).map((record) => toView(record, at));
  return cursor === undefined ? { data, has_more: false } : { data, has_more: true, cursor };
}

/** The `cursor` query parameter of the list route, or a 400 when it is not one the list could have given. */
export function listCursor(c: Ctx): string | undefined {
  const values = c.req.queries("cursor") ?? [];
  if (values.length === 0) return undefined;
  const [cursor] = values;
  if (values.length > 1 || cursor === undefined || !LIST_CURSOR.test(cursor)) {
    throw new GateError("invalid_request", "cursor must be a single value returned by this list as `cursor`");
  }
  return cursor;
}

/**
 * Newest first by `created_at`, which has whole seconds; sessions created in
 * the same second follow in `session_id` order, so the order is total.
 */
export function newestFirst(a: SessionRecord, b: SessionRecord): number {
  return b.created_at - a.created_at || (a.session_id < b.session_id ? -1 : a.session_id > b.session_id ? 1 : 0);
}
