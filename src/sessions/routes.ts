import type { Context } from "hono";
import { Hono } from "hono/tiny";
import { ChatKitClient, SESSION_ID } from "../chatkit/client";
import { UpstreamError, upstreamGateError } from "../chatkit/failures";
import type { CreateChatSessionBody } from "../chatkit/types";
import { readJsonBody } from "../http/body";
import type { GateDeps, GateEnv } from "../http/context";
import { GateError } from "../http/errors";
import { log } from "../http/log";
import { type CancelDeps, cancelAll, cancelUpstream, needsCancel } from "./cancel";
import { parseCreateRequest } from "./create-request";
import { type SessionRecord, toView } from "./record";
import { SessionStore } from "./store";

type Ctx = Context<GateEnv>;

const notFound = () => new GateError("session_not_found", "No such session for this user");

/** The session routes, mounted under `/v1/chatkit/sessions` behind {@link requireUser}. */
export function sessionRoutes(deps: GateDeps) {
  const client = (c: Ctx) =>
    new ChatKitClient({
      apiKey: c.var.config.openaiApiKey,
      baseUrl: c.var.config.openaiBaseUrl,
      timeoutMs: deps.upstreamTimeoutMs,
    });
  const store = (c: Ctx) => new SessionStore(c.env.SESSIONS, deps.now);
  const cancelDeps = (c: Ctx): CancelDeps => ({
    client: client(c),
    store: store(c),
    now: deps.now,
    onUpstream: (id) => c.set("upstreamRequestId", id),
    onStoreFailure: (error) => log("error", "kv_write_failed", { request_id: c.var.requestId, error: String(error) }),
  });
  /** Upstream failures become wire errors here, keeping OpenAI's request id for the log. */
  const upstream = async <T>(c: Ctx, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      c.set("upstreamRequestId", error.requestId);
      throw upstreamGateError(error.failure);
    }
  };
  /** The caller's record for a path id; malformed ids never reach KV. */
  const ownRecord = async (c: Ctx): Promise<SessionRecord> => {
    const id = c.req.param("session_id") ?? "";
    const record = SESSION_ID.test(id) ? await store(c).get(c.var.ownerKey, id) : null;
    if (record === null) throw notFound();
    return record;
  };

  return new Hono<GateEnv>()
    .post("/", async (c) => {
      const { config, user, ownerKey } = c.var;
      const request = parseCreateRequest(await readJsonBody(c.req.raw), config);
      const body: CreateChatSessionBody = {
        user,
        workflow: request.stateVariables
          ? { ...request.workflow, state_variables: request.stateVariables }
          : { ...request.workflow },
        expires_after: { anchor: "created_at", seconds: config.expiresAfterSeconds },
        rate_limits: { max_requests_per_1_minute: config.maxRequestsPerMinute },
      };
      if (config.chatkitConfiguration) body.chatkit_configuration = config.chatkitConfiguration;

      const { session, requestId } = await upstream(c, () => client(c).createSession(body));
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
        // Untracked sessions could never be listed or cancelled by their owner: withdraw it.
        log("error", "kv_write_failed", { request_id: c.var.requestId, error: String(error) });
        c.executionCtx.waitUntil(
          client(c)
            .cancelSession(session.id)
            .catch(() => {}),
        );
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
      const cancelled = await upstream(c, () => cancelUpstream(record, c.var.ownerKey, cancelDeps(c)));
      return c.json(toView(cancelled, deps.now()));
    });
}
