import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { createApp } from "../../src/app";
import type { GateDeps } from "../../src/http/context";
import { BASE, type CallOptions } from "./http";

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
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const ctx = createExecutionContext();
  const response = await createApp(setup.deps).fetch(
    new Request(`${BASE}${path}`, { method, headers, body }),
    { ...env, ...setup.env },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}
