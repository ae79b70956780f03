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
