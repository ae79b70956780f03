import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { createApp } from "../../src/app";
import type { GateDeps } from "../../src/http/context";
import { type CallOptions, requestFor } from "./http";

/**
 * Calls a freshly built app inside workerd with changed settings or
 * injected dependencies (clock, timeout), for cases the fixed SELF
 * configuration cannot reach. The bindings (KV) are the real test ones.
 */
export async function callWith(
  setup: { env?: Record<string, unknown>; deps?: Partial<GateDeps> },
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await createApp(setup.deps).fetch(requestFor(method, path, options), { ...env, ...setup.env }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** One app and one environment object, called many times, as an isolate serves many requests. */
export interface Gate {
  /** The bindings every call gets: the test ones with the settings changed. */
  readonly env: Record<string, unknown>;
  call(method: string, path: string, options?: CallOptions): Promise<Response>;
  /** Sends a request as built by the test (its own body, signal or headers). */
  fetch(request: Request): Promise<Response>;
}

/**
 * Like {@link callWith}, but the app and the environment object are kept
 * across calls: the configuration is parsed once and the isolate's caches
 * (keyring, opened secrets, per-session windows) carry over, as in a real
 * isolate.
 */
export function gateWith(setup: { env?: Record<string, unknown>; deps?: Partial<GateDeps> } = {}): Gate {
  const app = createApp(setup.deps);
  const bindings: Record<string, unknown> = { ...env, ...setup.env };
  const fetch = async (request: Request) => {
    const ctx = createExecutionContext();
    const response = await app.fetch(request, bindings, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
  return { env: bindings, fetch, call: (method, path, options = {}) => fetch(requestFor(method, path, options)) };
}
