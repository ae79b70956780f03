// What the flows check again and again: the worker's API, its error shape,
// what reached ChatKit, and what KV holds.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { call } from "../support.mjs";

/** The ChatKit `user` the worker derives from a token's `sub`. */
export const userFor = (ctx, sub) => `${ctx.settings.userPrefix}${sub}`;

/** base64url(SHA-256(user)), the owner part of KV keys (docs/operations.md, "KV layout"). */
export const ownerKeyFor = (user) => createHash("sha256").update(user).digest("base64url");

/** The worker's session API, for one worker URL. */
export function gateApi(worker) {
  const base = `${worker.url}/v1/chatkit/sessions`;
  return {
    create: (token, body) =>
      call(base, {
        method: "POST",
        token,
        headers: body ? { "content-type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      }),
    get: (token, id) => call(`${base}/${id}`, { token }),
    list: (token) => call(base, { token }),
    cancel: (token, id) => call(`${base}/${id}/cancel`, { method: "POST", token }),
    cancelAll: (token) => call(`${base}/cancel_all`, { method: "POST", token }),
  };
}

export function expectError(response, status, code) {
  assert.equal(response.status, status, `expected ${status} ${code}, got ${response.status}: ${response.text}`);
  assert.equal(response.json?.error?.code, code, response.text);
  assert.equal(typeof response.json.error.message, "string");
}

/** The 201 body of a create: exactly these fields, and `active`. */
export function expectCreated(response, ctx) {
  assert.equal(response.status, 201, response.text);
  const body = response.json;
  assert.deepEqual(Object.keys(body).sort(), ["client_secret", "created_at", "expires_at", "session_id", "status"]);
  assert.match(body.session_id, /^cksess_/);
  assert.equal(body.status, "active");
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(body.created_at - now) <= ctx.settings.clockToleranceSeconds + 1, "created_at is now");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.ok(response.headers.get("x-request-id"), "x-request-id is set");
  return body;
}

/** One upstream call, carrying the server's key and ChatKit's beta header, never the user's token. */
export function expectUpstreamCall(upstream, ctx, { method = "POST", path }) {
  assert.equal(upstream.method, method);
  assert.equal(upstream.path, path);
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.settings.apiKey}`);
  assert.equal(upstream.headers["openai-beta"], "chatkit_beta=v1");
}

/** What a create must send ChatKit for `user`, with the run's workflow and session defaults. */
export function expectCreateBody(body, ctx, user) {
  assert.equal(body.user, user);
  assert.deepEqual(body.workflow, { id: ctx.settings.workflowId });
  assert.deepEqual(body.expires_after, { anchor: "created_at", seconds: ctx.settings.expiresAfterSeconds });
  assert.deepEqual(body.rate_limits, { max_requests_per_1_minute: ctx.settings.maxRequestsPerMinute });
}

/** The KV entry of a session, read through wrangler's local explorer, or undefined. */
export async function kvSession(worker, user, sessionId) {
  const name = `session:${ownerKeyFor(user)}:${sessionId}`;
  const keys = await worker.kvKeys();
  const entry = keys.find((key) => key.name === name);
  return entry && { ...entry, value: await worker.kvValue(name) };
}

/** A stored record: status as expected, the value equal to the metadata, and no secret or raw user in KV. */
export async function expectKvRecord(worker, ctx, { user, sessionId, status, clientSecret }) {
  const entry = await kvSession(worker, user, sessionId);
  assert.ok(entry, `KV holds session:<owner>:${sessionId}`);
  assert.equal(entry.metadata.session_id, sessionId);
  assert.equal(entry.metadata.status, status);
  assert.equal(entry.metadata.workflow_id, ctx.settings.workflowId);
  assert.deepEqual(JSON.parse(entry.value), entry.metadata, "value and metadata are the same record");
  if (clientSecret) assert.ok(!entry.value.includes(clientSecret), "KV never holds the client secret");
  assert.ok(!entry.name.includes(user) && !entry.value.includes(user), "KV never holds the raw user");
  return entry.metadata;
}

/** Decodes a JWT's header and payload without verifying: only to show what the provider issued. */
export function peek(token) {
  const [header, payload] = token
    .split(".")
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, "base64url").toString()));
  return { header, payload };
}
