import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { Hono } from "hono/tiny";
import { ownerKeyFor } from "../auth/identity";
import { verifiedBearer } from "../auth/middleware";
import { readJsonBody } from "../http/body";
import type { GateDeps, GateEnv } from "../http/context";
import { setResponseHeaders } from "../http/cors";
import { GateError } from "../http/errors";
import { log } from "../http/log";
import { enforceOn } from "../policy/access";
import { EndingStore } from "../quota/ending-store";
import { quotaFor } from "../quota/quota";
import { cancelAll, eachWithinBudget } from "../sessions/cancel";
import { KvBudget } from "../sessions/kv-budget";
import { cancelDepsFor, LIST_PAGES_PER_REQUEST, listSessions } from "../sessions/routes";
import { LIST_PAGE_SIZE, readPages } from "../sessions/store";
import { parseBlockRequest } from "./block-request";
import { type Block, blockKey, inForce, markBlocked, readBlock, unmarked, writeBlock } from "./blocks";

type Ctx = Context<GateEnv>;

/** The longest a ChatKit `user` can be: a provider prefix (64) and a claim (256). */
const MAX_USER_LENGTH = 320;
/** What USER_ID_MODE=hmac sends as `user`: `u_` and a base64url HMAC-SHA256. */
const PSEUDONYM = /^u_[A-Za-z0-9_-]{43}$/;
/** Control characters never occur in a mapped user (the gate refuses such claims); one here is a mistake. */
const CONTROL = /\p{Cc}/u;

/** KV writes one record's unmarking may make: the put, and its retry after KV's per-key write interval. */
const UNMARK_KV_OPERATIONS = 2;

export type AdminAction = "list_sessions" | "block" | "unblock";

/**
 * The admin API, mounted under `/admin/v1`. It exists only with
 * `ADMIN_POLICY` set (404 otherwise, like any unknown route). Every request
 * needs an operator token: a JWT from a configured issuer whose `aud` is
 * `ADMIN_AUDIENCE` (401 `invalid_token` otherwise, so a user's token never
 * gets in) and whose claims meet `ADMIN_POLICY` (403 `forbidden`). Each
 * action writes one `admin_audit` log line.
 */
export function adminRoutes(deps: GateDeps) {
  const requireOperator = createMiddleware<GateEnv>(async (c, next) => {
    const admin = c.get("config").admin;
    if (admin === undefined) throw new GateError("not_found", "No such route");
    c.set("claims", (await verifiedBearer(c, admin.auth, deps.now())).claims);
    enforceOn(c, admin.policy, "admin_refused", null);
    await next();
  });
  /**
   * Outside {@link requireOperator}, so refusals (401, 403) carry it too:
   * hono answers a thrown error at the middleware that threw, and this one's
   * `next()` then returns with that answer. In place, with no copy.
   */
  const noStore = createMiddleware<GateEnv>(async (c, next) => {
    await next();
    setResponseHeaders(c, (headers) => headers.set("cache-control", "no-store"));
  });

  /** Runs an action and writes its audit line, whether it succeeded or not. */
  const audited = async (
    c: Ctx,
    action: AdminAction,
    ownerKey: string,
    run: (details: Record<string, unknown>) => Promise<Response>,
  ): Promise<Response> => {
    const details: Record<string, unknown> = {};
    let outcome = "error";
    try {
      const response = await run(details);
      outcome = "ok";
      return response;
    } catch (error) {
      if (error instanceof GateError) outcome = error.code;
      throw error;
    } finally {
      const { iss, sub } = c.get("claims");
      // Who, what, which user (its owner key, never the raw id), when; never a token or a secret.
      log("info", "admin_audit", {
        request_id: c.get("requestId"),
        at: deps.now(),
        operator: { issuer: iss, sub },
        action,
        user_key: ownerKey,
        outcome,
        ...details,
      });
    }
  };

  const store = (c: Ctx) => new EndingStore(c.env.SESSIONS, deps.now, new KvBudget());

  return new Hono<GateEnv>()
    .use(noStore)
    .use(requireOperator)
    .get("/users/:user/sessions", async (c) => {
      const ownerKey = await targetKey(c);
      return audited(c, "list_sessions", ownerKey, async (details) => {
        const [page, block] = await Promise.all([
          listSessions(c, store(c), ownerKey, deps.now),
          readBlock(c.env.SESSIONS, ownerKey),
        ]);
        details.listed = page.data.length;
        return c.json({ user_key: ownerKey, block: inForce(block, deps.now()) ? block : null, ...page });
      });
    })
    .post("/users/:user/block", async (c) => {
      const ownerKey = await targetKey(c);
      const now = deps.now();
      // Validated before anything is written or audited as done.
      const request = parseBlockRequest(await readJsonBody(c.req.raw), now);
      return audited(c, "block", ownerKey, async (details) => {
        const block: Block = { blocked_at: now, ...request };
        Object.assign(details, request);
        // The block first: from here on no new session starts (within KV's consistency, see docs/operations.md).
        try {
          await writeBlock(c.env.SESSIONS, ownerKey, block, now);
        } catch {
          throw new GateError("storage_unavailable", "The block could not be recorded; try again");
        }
        // Then every session, as cancel_all does, each record marked so /chatkit answers 403.
        const sessions = store(c);
        sessions.mark = markBlocked(block);
        let result: Awaited<ReturnType<typeof cancelAll>>;
        try {
          result = await cancelAll(ownerKey, cancelDepsFor(c, sessions, deps));
        } finally {
          await quotaFor(c.get("config").quotas, c.env, ownerKey, c.get("requestId"))?.release(sessions.ended);
        }
        Object.assign(details, result);
        return c.json({ user_key: ownerKey, block, ...result });
      });
    })
    .delete("/users/:user/block", async (c) => {
      const ownerKey = await targetKey(c);
      return audited(c, "unblock", ownerKey, async (details) => {
        const now = deps.now();
        const kv = c.env.SESSIONS;
        const block = await readBlock(kv, ownerKey);
        details.was_blocked = inForce(block, now);
        try {
          await kv.delete(blockKey(ownerKey));
        } catch {
          throw new GateError("storage_unavailable", "The block could not be removed; try again");
        }
        // Secrets the block cancelled answer 401 again (ended), not 403, so a client starts a new session.
        const sessions = store(c);
        const { items, cursor } = await readPages((from) => sessions.listPage(ownerKey, from), {
          maxPages: LIST_PAGES_PER_REQUEST,
          enough: LIST_PAGE_SIZE,
        });
        const marked = items.flatMap((record) => {
          const clean = now < record.expires_at ? unmarked(record) : undefined;
          return clean === undefined ? [] : [clean];
        });
        // Each write is started only while the request's KV budget holds it, as cancel_all does, so a
        // user with more records than one invocation may write gets an answer, not a 503 after the delete.
        let done = 0;
        const unreached = await eachWithinBudget(marked, sessions.budget, UNMARK_KV_OPERATIONS, async (record) => {
          await sessions.put(ownerKey, record);
          done++;
        });
        const complete = cursor === undefined && unreached === 0;
        details.unmarked = done;
        details.complete = complete;
        return c.json({ user_key: ownerKey, block: null, unmarked: done, complete });
      });
    });

  /**
   * The owner key of the `{user}` in the path: the ChatKit `user` as the gate
   * maps it (`prefix + claim`, or the `u_` pseudonym with USER_ID_MODE=hmac),
   * hashed exactly as for that user's own requests.
   */
  async function targetKey(c: Ctx): Promise<string> {
    const user = c.req.param("user") ?? "";
    const { userIds } = c.get("config").auth;
    const usable =
      user.length > 0 &&
      user.length <= MAX_USER_LENGTH &&
      !CONTROL.test(user) &&
      (userIds.mode === "raw" || PSEUDONYM.test(user));
    if (!usable) {
      throw new GateError(
        "invalid_request",
        `user must be the ChatKit user the gate sends: ${userIds.mode === "raw" ? `prefix and claim, 1 to ${MAX_USER_LENGTH} characters` : "the u_ pseudonym (USER_ID_MODE=hmac)"}`,
      );
    }
    return ownerKeyFor(user, userIds);
  }
}
