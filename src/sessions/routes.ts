import type { Context } from "hono";
import { Hono } from "hono/tiny";
import { ChatKitClient, SESSION_ID } from "../chatkit/client";
import { UpstreamError, upstreamGateError } from "../chatkit/failures";
import type { CreateChatSessionBody } from "../chatkit/types";
import { readJsonBody } from "../http/body";
import type { GateDeps, GateEnv } from "../http/context";
import { GateError } from "../http/errors";
import { log } from "../http/log";
import { type CancelDeps, cancelAll, cancelSession, needsCancel } from "./cancel";
import { parseCreateRequest } from "./create-request";
import { type SessionRecord, toView } from "./record";
import { SessionStore } from "./store";

type Ctx = Context<GateEnv>;

/**
 * The rate limiting binding does not say when a key frees up; its period is
 * the longest a caller may have to wait, so that is what Retry-After says.
 */
export const CREATE_LIMIT_RETRY_AFTER_SECONDS = 60;

const notFound = () => new GateError("session_not_found", "No such session for this user");

/** The ChatKit client for this request's configuration. */
export function chatKitClient(c: Ctx, deps: GateDeps): ChatKitClient {
  const { openaiApiKey, openaiBaseUrl } = c.var.config;
  return new ChatKitClient({ apiKey: openaiApiKey, baseUrl: openaiBaseUrl, timeoutMs: deps.upstreamTimeoutMs });
}

/** The session routes, mounted under `/v1/chatkit/sessions` behind {@link requireUser}. */
export function sessionRoutes(deps: GateDeps) {
  const store = (c: Ctx) => new SessionStore(c.env.SESSIONS, deps.now);
  const cancelDeps = (c: Ctx): CancelDeps => ({
    client: chatKitClient(c, deps),
    store: store(c),
    now: deps.now,
    retry: { clock: Date.now, sleep: deps.sleep },
    deadline: Date.now() + deps.upstreamTimeoutMs,
    onUpstream: (id) => c.set("upstreamRequestId", id),
    onStoreFailure: (error) => log("error", "kv_write_failed", { request_id: c.var.requestId, error: String(error) }),
  });
  /** The caller's record for a path id; malformed ids never reach KV. */
  const ownRecord = async (c: Ctx): Promise<SessionRecord> => {
    const id = c.req.param("session_id") ?? "";
    const record = SESSION_ID.test(id) ? await store(c).get(c.var.ownerKey, id) : null;
    if (record === null) throw notFound();
    return record;
  };

  return new Hono<GateEnv>()
    .post("/", async (c) => {
      const { config, user, ownerKey, claims } = c.var;
      // Absent binding, no limit: see docs/operations.md.
      const limiter = (c.env as Partial<Env>).CREATE_LIMITER;
      if (limiter && !(await limiter.limit({ key: ownerKey })).success) {
        throw new GateError("rate_limited", "Too many sessions started; wait before starting another", {
          "Retry-After": String(CREATE_LIMIT_RETRY_AFTER_SECONDS),
        });
      }
      const request = parseCreateRequest(await readJsonBody(c.req.raw), config, claims);
      const body: CreateChatSessionBody = {
        user,
        workflow: request.stateVariables
          ? { ...request.workflow, state_variables: request.stateVariables }
          : { ...request.workflow },
        expires_after: { anchor: "created_at", seconds: config.expiresAfterSeconds },
        rate_limits: { max_requests_per_1_minute: config.maxRequestsPerMinute },
      };
      if (config.chatkitConfiguration) body.chatkit_configuration = config.chatkitConfiguration;

      const client = chatKitClient(c, deps);
      let created: Awaited<ReturnType<ChatKitClient["createSession"]>>;
      try {
        // Never retried: create has no idempotency key, and a retry after a lost answer would open a second session.
        created = await client.createSession(body);
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        c.set("upstreamRequestId", error.requestId);
        throw upstreamGateError(error.failure);
      }
      const { session, requestId } = created;
      c.set("upstreamRequestId", requestId);
      const record: SessionRecord = {
        session_id: session.id,
        status: "active",
        created_at: deps.now(),
        expires_at: session.expires_at,
        workflow_id: request.workflow.id,
      };
      try {
        await store(c).put(ownerKey, record);
      } catch (error) {
        // An untracked session could never be listed or cancelled by its owner: withdraw it.
        log("error", "kv_write_failed", { request_id: c.var.requestId, error: String(error) });
        c.executionCtx.waitUntil(client.cancelSession(session.id).catch(() => {}));
        throw new GateError("storage_unavailable", "The session could not be recorded; try again");
      }
      return c.json({ ...toView(record, deps.now()), client_secret: session.client_secret }, 201);
    })
    .get("/", async (c) => {
      const { records, complete } = await store(c).list(c.var.ownerKey);
      const now = deps.now();
      const data = records.sort((a, b) => b.created_at - a.created_at).map((record) => toView(record, now));
      return c.json({ data, has_more: !complete });
    })
    .post("/cancel_all", async (c) => {
      const { records } = await store(c).list(c.var.ownerKey);
      return c.json(await cancelAll(records, c.var.ownerKey, cancelDeps(c)));
    })
    .get("/:session_id", async (c) => c.json(toView(await ownRecord(c), deps.now())))
    .post("/:session_id/cancel", async (c) => {
      const record = await ownRecord(c);
      // Idempotent: a cancelled or expired session is answered from KV, with no upstream call and no write.
      if (!needsCancel(record, deps.now())) return c.json(toView(record, deps.now()));
      const settled = await cancelSession(record, c.var.ownerKey, cancelDeps(c));
      return c.json(toView(settled, deps.now()), settled.status === "cancel_pending" ? 202 : 200);
    });
}
