import { ConfigError, loadConfig } from "../config/config";
import type { GateDeps } from "../http/context";
import { log } from "../http/log";
import { modes } from "../modes";
import { KvBudget } from "./kv-budget";
import { SessionStore } from "./store";
import { sweepPendingCancels } from "./sweep";

/**
 * The cron trigger (every minute, wrangler.toml): settle cancels ChatKit has
 * not confirmed yet. In self-hosted mode nothing is ever owed, and a run
 * makes no KV operation at all.
 */
export function sweepHandler(deps: GateDeps): ExportedHandlerScheduledHandler<Env> {
  const modeFor = modes(deps);
  return async (_controller, env) => {
    let config: ReturnType<typeof loadConfig>;
    try {
      config = loadConfig(env as unknown as Record<string, unknown>);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      log("error", "sweep_skipped", { reason: "config_invalid", problems: error.problems });
      return;
    }
    const started = Date.now();
    const result = await sweepPendingCancels({
      upstream: modeFor(config).upstream,
      // A cron run is one invocation, with its own 1,000 KV operations.
      store: new SessionStore(env.SESSIONS, deps.now, new KvBudget()),
      now: deps.now,
      onStoreFailure: (error) => log("error", "kv_write_failed", { event_source: "sweep", error: String(error) }),
    });
    const level = result.refused > 0 ? "error" : result.pending > 0 || !result.complete ? "warn" : "info";
    log(level, "sweep", { ...result, duration_ms: Date.now() - started });
  };
}
