import type { Config, SelfHostedModeConfig } from "../config/config";
import type { GateDeps } from "../http/context";
import { newSessionId, type SessionGrant, sealClientSecret } from "../selfhosted/client-secret";
import { selfHostedRoutes } from "../selfhosted/routes";
import { keyringFor } from "../selfhosted/signing-keys";
import type { SessionMode, SessionUpstream, StartedSession } from "./mode";

/** Nothing upstream holds a gate session: its KV record is the only state, so ending one is the record's write. */
const IMMEDIATE: SessionUpstream = {
  immediate: true,
  end: async () => {},
  endOnce: async () => {},
};

/**
 * Self-hosted mode: the gate issues its own sessions (no call to OpenAI),
 * whose client secret opens `/chatkit` while the session's record is active,
 * and proxies ChatKit traffic to the app's server with a signed assertion
 * of the user.
 */
export function selfHostedMode(config: Config, mode: SelfHostedModeConfig, deps: GateDeps): SessionMode {
  return {
    upstream: IMMEDIATE,
    // The secret was never handed out, and without a record `/chatkit` refuses it: nothing to take back.
    withdraw: () => {},
    routes: selfHostedRoutes(config, mode, deps),
    async start(c, request): Promise<StartedSession> {
      const keyring = await keyringFor(mode.signingKeys);
      const id = newSessionId();
      const expiresAt = deps.now() + config.expiresAfterSeconds;
      const grant: SessionGrant = { sessionId: id, ownerKey: c.get("ownerKey"), user: c.get("user"), expiresAt };
      if (request.workflow !== undefined) grant.workflow = request.workflow;
      if (request.stateVariables !== undefined) grant.stateVariables = request.stateVariables;
      const started: StartedSession = { id, clientSecret: await sealClientSecret(keyring, grant), expiresAt };
      if (request.workflow !== undefined) started.workflowId = request.workflow.id;
      return started;
    },
  };
}
