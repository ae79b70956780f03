import type { Context } from "hono";
import { createdMismatch } from "../chatkit/answers";
import { ChatKitClient, type ChatKitResult } from "../chatkit/client";
import { UpstreamError, upstreamGateError } from "../chatkit/failures";
import { cancelWithRetries } from "../chatkit/retry";
import type { CreateChatSessionBody } from "../chatkit/types";
import type { Config, HostedModeConfig, Workflow } from "../config/config";
import type { GateDeps, GateEnv } from "../http/context";
import { log } from "../http/log";
import { timed } from "../metrics/upstream-timer";
import type { CreateRequest } from "../sessions/create-request";
import type { SessionMode, SessionUpstream, StartedSession } from "./mode";

type Ctx = Context<GateEnv>;

/**
 * Hosted mode: OpenAI creates each session (`POST /v1/chatkit/sessions`) and
 * ends it on cancel, with bounded retries; a cancel it does not confirm is
 * left `cancel_pending` for the cron sweep. No extra routes.
 */
export function hostedMode(config: Config, mode: HostedModeConfig, deps: GateDeps): SessionMode {
  const client = new ChatKitClient({
    apiKey: mode.openaiApiKey,
    baseUrl: mode.openaiBaseUrl,
    timeoutMs: deps.upstreamTimeoutMs,
  });

  /** Cancels a session the caller will never hear of, after the response; one attempt, logged if it fails. */
  const withdraw = (c: Ctx, sessionId: string): void => {
    c.executionCtx.waitUntil(
      client.cancelSession(sessionId).catch((error: unknown) => {
        log("error", "withdraw_failed", { request_id: c.get("requestId"), error: String(error) });
      }),
    );
  };

  const upstream: SessionUpstream = {
    immediate: false,
    async end(sessionId, limits) {
      try {
        const { requestId } = await cancelWithRetries(client, sessionId, limits.deadline, limits.retry);
        limits.onUpstream?.(requestId);
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        limits.onUpstream?.(error.requestId);
        if (!nothingLeftToCancel(error)) throw error;
      }
    },
    async endOnce(sessionId) {
      try {
        await client.cancelSession(sessionId);
      } catch (error) {
        if (!(error instanceof UpstreamError && nothingLeftToCancel(error))) throw error;
      }
    },
  };

  return {
    upstream,
    withdraw,
    routes: {},
    async start(c, request: CreateRequest): Promise<StartedSession> {
      // parseConfig requires CHATKIT_WORKFLOW_ID in hosted mode, and parseCreateRequest falls back to it.
      const workflow = request.workflow as Workflow;
      const body: CreateChatSessionBody = {
        user: c.get("user"),
        workflow: request.stateVariables ? { ...workflow, state_variables: request.stateVariables } : { ...workflow },
        expires_after: { anchor: "created_at", seconds: config.expiresAfterSeconds },
        rate_limits: { max_requests_per_1_minute: config.maxRequestsPerMinute },
      };
      if (mode.chatkitConfiguration) body.chatkit_configuration = mode.chatkitConfiguration;
      const session = await openSession(c, body);
      return {
        id: session.id,
        clientSecret: session.client_secret,
        expiresAt: session.expires_at,
        workflowId: workflow.id,
      };
    },
  };

  /**
   * The upstream create, never retried: create has no idempotency key, and a
   * retry after a lost answer would open a second session. The answer must
   * be an active session for this user within the asked lifetime; anything
   * else is withdrawn and answered 502.
   */
  async function openSession(c: Ctx, body: CreateChatSessionBody) {
    const startedAt = deps.now();
    let created: ChatKitResult;
    try {
      created = await timed(c.get("upstream"), () => client.createSession(body));
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      c.set("upstreamRequestId", error.requestId);
      throw upstreamGateError(error.failure);
    }
    const { session, requestId } = created;
    c.set("upstreamRequestId", requestId);
    const field = createdMismatch(session, {
      user: body.user,
      expiresAfterSeconds: body.expires_after.seconds,
      startedAt,
      endedAt: deps.now(),
    });
    if (field === undefined) return session;
    log("error", "upstream_session_mismatch", { request_id: c.get("requestId"), field });
    withdraw(c, session.id);
    throw upstreamGateError({ kind: "unexpected_session", field });
  }
}

/**
 * ChatKit's 404 to a cancel: it has no session by that id (the spec's answer
 * for an unknown id), so nothing is left there that could be used. Retrying
 * cannot change that, so it settles the cancel (docs/operations.md).
 */
export function nothingLeftToCancel(error: UpstreamError): boolean {
  return error.failure.kind === "rejected" && error.failure.status === 404;
}
