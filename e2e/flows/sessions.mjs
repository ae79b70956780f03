// Session flows against the recording fake: tokens from the real provider,
// ownership, idempotent cancel, cancel_all and token expiry. Each flow uses
// its own accounts, so flows neither see each other's sessions nor share a
// per-user create limit.
import assert from "node:assert/strict";
import { SERVICE_CLIENT } from "../peers/oidc.mjs";
import { sleep } from "../support.mjs";
import {
  expectCreateBody,
  expectCreated,
  expectError,
  expectKvRecord,
  expectUpstreamCall,
  gateApi,
  peek,
  userFor,
} from "./helpers.mjs";

/** Past `exp` plus the worker's skew, this margin absorbs the second-granularity of JWT times. */
const EXPIRY_MARGIN_MS = 1_000;

/** Creates a session and checks the answer, the one upstream call, and the KV record. */
async function createChecked(ctx, token, sub) {
  const gate = gateApi(ctx.worker);
  const mark = ctx.fake.calls.length;
  const body = expectCreated(await gate.create(token), ctx);
  const calls = ctx.fake.since(mark);
  assert.equal(calls.length, 1, "exactly one upstream call");
  expectUpstreamCall(calls[0], ctx, { path: "/v1/chatkit/sessions" });
  assert.equal(calls[0].headers["content-type"], "application/json");
  expectCreateBody(calls[0].body, ctx, userFor(ctx, sub));
  const upstream = ctx.fake.sessions.get(body.session_id);
  assert.ok(upstream, "the session id is the one ChatKit issued");
  assert.equal(body.client_secret, upstream.client_secret);
  assert.equal(body.expires_at, upstream.expires_at);
  const user = userFor(ctx, sub);
  await expectKvRecord(ctx.worker, ctx, {
    user,
    sessionId: body.session_id,
    status: "active",
    clientSecret: body.client_secret,
  });
  return body;
}

export const sessionFlows = [
  {
    name: "an ID token and access tokens from the provider each create a session",
    async run(ctx, t) {
      const { idToken, accessToken } = await ctx.tokens.login("alice");
      const { accessToken: serviceToken } = await ctx.tokens.service();
      const cases = [
        ["ID token (authorization code + PKCE)", idToken, "alice", "RS256"],
        ["access token (authorization code + PKCE)", accessToken, "alice", "ES256"],
        ["access token (client_credentials)", serviceToken, SERVICE_CLIENT.id, "ES256"],
      ];
      // Nothing but the worker talks to the provider from here to the end of the first create.
      const providerMark = ctx.oidc.requests.length;
      for (const [label, token, sub, alg] of cases) {
        const { header, payload } = peek(token);
        assert.equal(header.alg, alg, `${label} is signed with ${alg}`);
        assert.ok(ctx.oidc.kids.includes(header.kid), `${label} names a published key`);
        assert.equal(payload.iss, ctx.oidc.issuer);
        const body = await createChecked(ctx, token, sub);
        t.note(
          `${label}: ${alg} kid ${header.kid}, aud ${payload.aud} → 201 ${body.session_id}, user ${userFor(ctx, sub)}`,
        );
      }
      const workerFetches = ctx.oidc.requests.slice(providerMark).map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(
        workerFetches,
        ["GET /.well-known/openid-configuration", "GET /jwks"],
        "the worker found the JWKS through discovery, fetched it once, and reused it",
      );
      t.note("the worker read the provider's discovery document, then its jwks_uri, once for all three tokens");
      t.note(
        "upstream saw Authorization: Bearer <OPENAI_API_KEY>, OpenAI-Beta: chatkit_beta=v1, the workflow and user",
      );
      t.note("KV holds each record under session:<sha256(user)>:<id>, without the client secret or raw user");
    },
  },
  {
    name: "the owner reads and cancels a session; another user cannot",
    async run(ctx, t) {
      const gate = gateApi(ctx.worker);
      const owner = (await ctx.tokens.login("bob")).idToken;
      const other = (await ctx.tokens.login("carol")).idToken;
      const created = await createChecked(ctx, owner, "bob");
      const id = created.session_id;

      let mark = ctx.fake.calls.length;
      expectError(await gate.get(other, id), 404, "session_not_found");
      expectError(await gate.cancel(other, id), 404, "session_not_found");
      const foreignList = await gate.list(other);
      assert.equal(foreignList.status, 200);
      assert.ok(!foreignList.json.data.some((s) => s.session_id === id), "not in the other user's list");
      assert.equal(ctx.fake.since(mark).length, 0, "a foreign cancel never reaches ChatKit");
      t.note("carol: GET and cancel → 404 session_not_found, not in her list, no upstream call");

      const read = await gate.get(owner, id);
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(read.json, {
        session_id: id,
        status: "active",
        created_at: created.created_at,
        expires_at: created.expires_at,
      });
      const list = await gate.list(owner);
      assert.equal(list.status, 200);
      assert.deepEqual(list.json.data, [read.json]);
      assert.equal(list.json.has_more, false);

      mark = ctx.fake.calls.length;
      const cancelled = await gate.cancel(owner, id);
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal(cancelled.json.status, "cancelled");
      assert.equal(cancelled.json.session_id, id);
      assert.equal(typeof cancelled.json.cancelled_at, "number");
      const calls = ctx.fake.since(mark);
      assert.equal(calls.length, 1, "one upstream cancel");
      expectUpstreamCall(calls[0], ctx, { path: `/v1/chatkit/sessions/${id}/cancel` });
      assert.equal(calls[0].body, undefined, "cancel sends no body");
      assert.equal(ctx.fake.sessions.get(id).status, "cancelled");
      const stored = await expectKvRecord(ctx.worker, ctx, {
        user: userFor(ctx, "bob"),
        sessionId: id,
        status: "cancelled",
      });
      assert.equal(stored.cancelled_at, cancelled.json.cancelled_at);
      expectError(await gate.cancel(other, id), 404, "session_not_found");
      t.note(
        "bob: GET → 200 (no client secret), list → [it], cancel → 200 cancelled; ChatKit cancelled it; KV cancelled",
      );
    },
  },
  {
    name: "a repeat cancel is idempotent",
    async run(ctx, t) {
      const gate = gateApi(ctx.worker);
      const token = (await ctx.tokens.login("dave")).accessToken;
      const { session_id: id } = await createChecked(ctx, token, "dave");
      const mark = ctx.fake.calls.length;
      const first = await gate.cancel(token, id);
      assert.equal(first.status, 200, first.text);
      const stored = await expectKvRecord(ctx.worker, ctx, {
        user: userFor(ctx, "dave"),
        sessionId: id,
        status: "cancelled",
      });
      const second = await gate.cancel(token, id);
      assert.equal(second.status, 200, second.text);
      assert.deepEqual(second.json, first.json, "the same body");
      assert.equal(ctx.fake.since(mark).length, 1, "no second upstream cancel");
      assert.deepEqual(
        await expectKvRecord(ctx.worker, ctx, { user: userFor(ctx, "dave"), sessionId: id, status: "cancelled" }),
        stored,
        "the record is unchanged",
      );
      t.note("second cancel → 200 with the same body; ChatKit saw one cancel; KV record unchanged");
    },
  },
  {
    name: "cancel_all cancels every active session of the caller, and only those",
    async run(ctx, t) {
      const gate = gateApi(ctx.worker);
      const token = (await ctx.tokens.login("erin")).idToken;
      const bystander = (await ctx.tokens.login("frank")).idToken;
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await createChecked(ctx, token, "erin")).session_id);
      const { session_id: untouched } = await createChecked(ctx, bystander, "frank");
      const first = await gate.cancel(token, ids[0]);
      assert.equal(first.status, 200, first.text);

      let mark = ctx.fake.calls.length;
      const all = await gate.cancelAll(token);
      assert.equal(all.status, 200, all.text);
      assert.deepEqual(all.json, { cancelled: 2, pending: 0, complete: true });
      const cancelledPaths = ctx.fake
        .since(mark)
        .map((c) => c.path)
        .sort();
      assert.deepEqual(
        cancelledPaths,
        ids
          .slice(1)
          .map((id) => `/v1/chatkit/sessions/${id}/cancel`)
          .sort(),
      );
      for (const id of ids) {
        await expectKvRecord(ctx.worker, ctx, { user: userFor(ctx, "erin"), sessionId: id, status: "cancelled" });
      }
      const list = await gate.list(token);
      assert.deepEqual(
        list.json.data.map((s) => s.status),
        ["cancelled", "cancelled", "cancelled"],
      );
      assert.equal((await gate.get(bystander, untouched)).json.status, "active", "another user's session stays active");
      assert.equal(ctx.fake.sessions.get(untouched).status, "active");

      mark = ctx.fake.calls.length;
      const again = await gate.cancelAll(token);
      assert.deepEqual(again.json, { cancelled: 0, pending: 0, complete: true });
      assert.equal(ctx.fake.since(mark).length, 0, "nothing left to cancel upstream");
      t.note("3 sessions, 1 already cancelled → {cancelled: 2, pending: 0}; ChatKit saw exactly those 2 cancels");
      t.note("frank's session stays active; a second cancel_all → {cancelled: 0, pending: 0} with no upstream call");
    },
  },
  {
    name: "an expired token from the provider is refused",
    async run(ctx, t) {
      const gate = gateApi(ctx.worker);
      const { accessToken } = await ctx.tokens.shortLived();
      const { payload } = peek(accessToken);
      const ttl = payload.exp - payload.iat;
      const fresh = await gate.create(accessToken);
      assert.equal(fresh.status, 201, `the token works while valid: ${fresh.text}`);

      const refusedAfter = (payload.exp + ctx.settings.clockToleranceSeconds) * 1000 + EXPIRY_MARGIN_MS;
      await sleep(Math.max(0, refusedAfter - Date.now()));
      const mark = ctx.fake.calls.length;
      for (const response of [await gate.create(accessToken), await gate.list(accessToken)]) {
        expectError(response, 401, "invalid_token");
        assert.match(response.json.error.message, /expired/i);
        assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="chatkit-gate", error="invalid_token"');
      }
      assert.equal(ctx.fake.since(mark).length, 0, "nothing reaches ChatKit");
      t.note(`client_credentials token with a ${ttl} s TTL: 201 while valid, then 401 invalid_token ("expired")`);
    },
  },
];
