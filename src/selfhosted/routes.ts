import type { Context, Handler } from "hono";
import { blockedError, blockedNow } from "../admin/blocks";
import type { Config, SelfHostedModeConfig } from "../config/config";
import type { GateDeps, GateEnv } from "../http/context";
import { KvBudget } from "../sessions/kv-budget";
import { effectiveStatus } from "../sessions/record";
import { SessionStore } from "../sessions/store";
import { signAssertion } from "./assertion";
import { authenticateSecret, type SessionGrant } from "./client-secret";
import { secretError } from "./failures";
import { forward } from "./proxy";
import { readChatKitRequest } from "./request";
import { sessionRequestLimit } from "./session-limit";
import { JWKS_MAX_AGE_SECONDS, type Keyring, keyringFor, publicJwks } from "./signing-keys";
import { forwardUpload } from "./upload";

type Ctx = Context<GateEnv>;

const ignore = () => {};

/** The routes self-hosted mode adds: the ChatKit endpoint, direct uploads, and the gate's public keys. */
export interface SelfHostedRoutes {
  chatkit: Handler<GateEnv>;
  upload?: Handler<GateEnv>;
  jwks: Handler<GateEnv>;
}

export function selfHostedRoutes(config: Config, mode: SelfHostedModeConfig, deps: GateDeps): SelfHostedRoutes {
  const limiter = sessionRequestLimit(config.maxRequestsPerMinute);
  const jwks = publicJwks(mode.signingKeys);
  const jwksCaching = `public, max-age=${JWKS_MAX_AGE_SECONDS}`;

  /**
   * The session a request claims: its client secret opened (no I/O; refusals
   * are 401 with nothing else done), then one request counted in the
   * session's window, before any storage operation, so a flood past the
   * limit costs no KV reads.
   */
  async function admit(c: Ctx, keyring: Keyring, now: number): Promise<SessionGrant> {
    const grant = await authenticateSecret(keyring, c.req.header("authorization"), now);
    c.set("ownerKey", grant.ownerKey);
    limiter.take(grant.sessionId, now);
    return grant;
  }

  /** Exactly one KV read: the session is still active, so a cancel or a block takes effect on the next request. */
  async function ensureActive(c: Ctx, grant: SessionGrant, now: number): Promise<void> {
    const record = await new SessionStore(c.env.SESSIONS, deps.now, new KvBudget()).get(
      grant.ownerKey,
      grant.sessionId,
    );
    // Cancelled by an operator's block still in force: the same one read says so (403, not 401).
    if (record !== null && blockedNow(record, now)) throw blockedError();
    // No record: cancelled and gone, never recorded (withdrawn), or another gate's session. All the same to the caller.
    if (record === null || effectiveStatus(record, now) !== "active") throw secretError("revoked");
  }

  const assertionFor = (c: Ctx, keyring: Keyring, grant: SessionGrant, now: number) =>
    signAssertion(
      keyring,
      {
        requestUrl: c.req.url,
        audience: mode.assertionAudience,
        user: grant.user,
        sessionId: grant.sessionId,
        workflow: grant.workflow,
        stateVariables: grant.stateVariables,
      },
      now,
    );

  const routes: SelfHostedRoutes = {
    async chatkit(c) {
      const keyring = await keyringFor(mode.signingKeys);
      const now = deps.now();
      const grant = await admit(c, keyring, now);
      // The KV read, the body and the signature need nothing from each other, so they run together:
      // the server gets the request after the slowest of them, not after their sum. The answer does
      // not change: a session that is not active is refused (401/403) before any body error, and
      // nothing reaches the server until all three have succeeded.
      const active = ensureActive(c, grant, now);
      const body = readChatKitRequest(c.req.raw, {
        maxBytes: mode.maxRequestBytes,
        uploadsEnabled: mode.uploads.enabled,
      });
      const assertion = assertionFor(c, keyring, grant, now);
      // Whichever is refused first, the others' outcomes are then not needed: never unhandled.
      body.catch(ignore);
      assertion.catch(ignore);
      await active;
      const request = await body;
      return forward(
        { request: c.req.raw, body: request.bytes, assertion: await assertion },
        { url: mode.serverUrl, timeoutMs: deps.upstreamTimeoutMs, timer: c.get("upstream") },
      );
    },
    jwks: (c) => c.json(jwks, 200, { "cache-control": jwksCaching }),
  };
  const uploadUrl = mode.uploadUrl;
  // Unset: the route stays unknown (404), as the strategy is not offered at all.
  if (uploadUrl !== undefined) {
    routes.upload = (c) =>
      // forwardUpload refuses while uploads are off before it calls this, so the secret is not even read.
      forwardUpload(
        c.req.raw,
        async () => {
          const keyring = await keyringFor(mode.signingKeys);
          const now = deps.now();
          const grant = await admit(c, keyring, now);
          await ensureActive(c, grant, now);
          return assertionFor(c, keyring, grant, now);
        },
        mode.uploads,
        { url: uploadUrl, timeoutMs: deps.upstreamTimeoutMs, timer: c.get("upstream") },
      );
  }
  return routes;
}
