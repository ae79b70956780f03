import { env, SELF } from "cloudflare:test";

export const BASE = "https://gate.test";

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The request a client would send: bearer token, JSON body (a string is sent as is). */
export function requestFor(method: string, path: string, options: CallOptions = {}): Request {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  return new Request(`${BASE}${path}`, { method, headers, body });
}

/** Calls the worker through its real entry point (SELF), as a browser or SPA would. */
export async function call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
  return SELF.fetch(requestFor(method, path, options));
}

/** Asserts nothing: returns the error envelope for the caller to assert on. */
export async function errorOf(response: Response): Promise<{ status: number; code: unknown; message: unknown }> {
  const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
  return { status: response.status, code: body.error?.code, message: body.error?.message };
}

/**
 * Every KV entry under a prefix (session records by default), for asserting
 * exactly what the worker stored. Persisted key sets live under `jwks:`.
 */
export async function kvEntries(
  prefix = "session:",
): Promise<Array<{ name: string; value: unknown; metadata: unknown; expiration?: number }>> {
  const listed = await env.SESSIONS.list({ prefix });
  return Promise.all(
    listed.keys.map(async (key) => ({
      name: key.name,
      value: await env.SESSIONS.get(key.name, "text").then((text) => (text ? JSON.parse(text) : text)),
      metadata: key.metadata,
      expiration: key.expiration,
    })),
  );
}

export async function clearKv(prefix = ""): Promise<void> {
  const listed = await env.SESSIONS.list({ prefix });
  await Promise.all(listed.keys.map((key) => env.SESSIONS.delete(key.name)));
}
