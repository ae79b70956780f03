// Self-hosted mode end to end: the worker under `wrangler dev` with
// CHATKIT_MODE=self-hosted, in front of a real ChatKit server
// (chatkit-node-backend-sdk, scripts/chatkit-server.mjs) that verifies the
// gate's assertion against the gate's published keys and scopes its store
// by the asserted `sub`. Tokens come from the real OpenID provider. Each
// flow uses its own accounts, so flows neither share threads nor sessions.
import assert from "node:assert/strict";
import { createLocalJWKSet, jwtVerify } from "jose";
import { call, waitFor } from "../support.mjs";
import {
  finalAssistant,
  ms,
  p50,
  post,
  readJson,
  readStream,
  replyTo,
  requests,
  sha256,
  signAssertion,
  streamedText,
  viaGate,
} from "./chatkit-protocol.mjs";
import { expectError, expectKvRecord, gateApi, userFor } from "./helpers.mjs";

/** Runs per path for the time-to-first-event comparison, after one warm-up each. */
const TTFE_RUNS = 7;
/** A client abort crosses wrangler's proxy and workerd before the server sees its socket close. */
const ABORT_REACHES_SERVER_MS = 5_000;
/** The claims the gate's contract lists; an assertion carrying anything else says more than it should. */
const ASSERTION_CLAIMS = new Set(["iss", "aud", "sub", "sid", "iat", "exp", "jti", "workflow", "state_variables"]);
/** Long enough that the reply streams for about two seconds (50 ms a word), so a Stop lands mid-stream. */
const LONG_MESSAGE = Array.from({ length: 40 }, (_, i) => `word${i + 1}`).join(" ");

const sh = (ctx) => ctx.selfHosted;

/** Signs in `account` at the provider and starts a gate session; checks the 201 and that nothing reached the server. */
export async function startSession(ctx, account) {
  const { worker, server } = sh(ctx);
  const { idToken } = await ctx.tokens.login(account);
  const mark = server.received.length;
  const created = await gateApi(worker).create(idToken);
  assert.equal(created.status, 201, created.text);
  const body = created.json;
  assert.deepEqual(Object.keys(body).sort(), ["client_secret", "created_at", "expires_at", "session_id", "status"]);
  assert.equal(body.status, "active");
  assert.equal(body.expires_at - body.created_at, ctx.settings.expiresAfterSeconds);
  assert.equal(typeof body.client_secret, "string");
  assert.equal(server.since(mark).length, 0, "a create makes no call to the ChatKit server");
  return { token: idToken, user: userFor(ctx, account), session: body, secret: body.client_secret };
}

/** What the server recorded for one forwarded request: no credential of the browser, and the gate's assertion. */
function expectForwarded(ctx, entry, { user, sessionId, body, secret, idToken }) {
  assert.equal(entry.path, "/chatkit");
  assert.equal(entry.hasAuthorization, false, "Authorization is not forwarded");
  assert.equal(entry.hasCookie, false, "Cookie is not forwarded");
  assert.equal(entry.refused, undefined, `the server accepted the assertion (refused: ${entry.refused})`);
  assert.equal(entry.bodySha256, sha256(body), "the body bytes arrive unchanged");
  const headerText = JSON.stringify(entry.headers);
  assert.ok(!headerText.includes(secret), "the client secret is in no forwarded header");
  assert.ok(!headerText.includes(idToken), "the IdP token is in no forwarded header");
  const { claims } = entry;
  assert.equal(claims.sub, user, "sub is the gate's mapped user");
  assert.equal(claims.sid, sessionId);
  assert.equal(claims.iss, sh(ctx).worker.url);
  assert.equal(claims.aud, sh(ctx).server.origin, "aud defaults to the server's origin");
  assert.deepEqual(claims.workflow, { id: ctx.settings.workflowId });
  assert.ok(claims.exp - claims.iat <= 300, "exp at most 300 s after iat");
  assert.equal(typeof claims.jti, "string");
  const extra = Object.keys(claims).filter((name) => !ASSERTION_CLAIMS.has(name));
  assert.deepEqual(extra, [], "the assertion carries only the documented claims");
  assert.equal(entry.kid, sh(ctx).signingKey.kid);
}

export const selfHostedFlows = [
  {
    name: "self-hosted: the gate publishes its public signing key at /.well-known/jwks.json",
    async run(ctx, t) {
      const { worker, signingKey } = sh(ctx);
      const response = await call(`${worker.url}/.well-known/jwks.json`);
      assert.equal(response.status, 200, response.text);
      assert.match(response.headers.get("content-type") ?? "", /json/);
      const { kty, crv, x, y, kid } = signingKey.privateJwk;
      assert.deepEqual(response.json, { keys: [{ kty, crv, x, y, kid, alg: "ES256", use: "sig" }] });
      assert.ok(!response.text.includes(signingKey.privateJwk.d), "the private scalar is never published");
      const cacheControl = response.headers.get("cache-control") ?? "";
      assert.match(cacheControl, /max-age=\d+/, `cacheable: ${cacheControl}`);
      t.note(`GET without a token → 200 {keys:[{kid ${kid}, alg ES256, use sig, x, y}]}, no d; ${cacheControl}`);
    },
  },
  {
    name: "self-hosted: provider token → gate session → threads.create streamed through the gate",
    async run(ctx, t) {
      const { worker, server } = sh(ctx);
      const alice = await startSession(ctx, "alice");
      const kv = await expectKvRecord(worker, ctx, {
        user: alice.user,
        sessionId: alice.session.session_id,
        status: "active",
        clientSecret: alice.secret,
      });
      t.note(`alice: ID token → 201 ${alice.session.session_id}; KV ${kv.status}, no client secret; server untouched`);

      const text = "Hello from the end-to-end run";
      const body = requests.threadsCreate(text);
      const mark = server.received.length;
      const started = performance.now();
      const response = await viaGate(worker, alice.secret, body, {
        // What a browser may also send: the cookie must stay at the gate, the others must pass.
        headers: { accept: "text/event-stream", "accept-language": "en-GB", cookie: "app_session=e2e" },
      });
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
      let atFirst;
      const stream = await readStream(response, {
        started,
        onEvent: (_event, index) => {
          // The moment the first event is in our hands: has the server finished sending?
          if (index === 0) atFirst = { ...server.since(mark)[0], events: [...(server.since(mark)[0]?.events ?? [])] };
        },
      });
      const [entry, ...others] = server.since(mark);
      assert.equal(others.length, 0, "one request reached the server");
      assert.equal(stream.types[0], "thread.created");
      assert.ok(stream.types.includes("stream_options"));
      assert.equal(streamedText(stream.events), replyTo(text), "the deltas make up the reply");
      assert.equal(finalAssistant(stream.events).content[0].text, replyTo(text));
      assert.equal(entry.completed, true, "the server finished its stream");
      assert.deepEqual(entry.events, stream.types, "every event the server sent arrived, in order");
      assert.equal(atFirst.completed, false, "the first event arrived while the server was still streaming");
      assert.ok(atFirst.events.length < entry.events.length, "…with more events still to send");
      t.note(
        `POST /chatkit threads.create → 200 text/event-stream, ${stream.events.length} events; the first one was read ` +
          `after ${ms(stream.firstEventMs)}, when the server had sent ${atFirst.events.length} of ${entry.events.length}; ` +
          `the stream ended after ${ms(stream.endMs)}`,
      );

      expectForwarded(ctx, entry, {
        user: alice.user,
        sessionId: alice.session.session_id,
        body,
        secret: alice.secret,
        idToken: alice.token,
      });
      assert.equal(entry.headers["accept-language"], "en-GB");
      assert.equal(entry.headers.accept, "text/event-stream");
      assert.equal(entry.headers["content-type"], "application/json");
      // Verified again here, independently of the server, against what the gate publishes.
      const jwks = createLocalJWKSet((await call(`${worker.url}/.well-known/jwks.json`)).json);
      const { payload, protectedHeader } = await jwtVerify(entry.assertion, jwks, {
        issuer: worker.url,
        audience: server.origin,
        algorithms: ["ES256"],
        typ: "JWT",
      });
      assert.equal(payload.sub, alice.user);
      t.note(
        `the server received no Authorization and no Cookie, the same body bytes, accept-language, and an ES256 ` +
          `assertion (kid ${protectedHeader.kid}) that jose verifies against the JWKS: sub ${payload.sub}, ` +
          `sid ${payload.sid}, aud ${payload.aud}, exp−iat ${payload.exp - payload.iat} s`,
      );
      const threadId = stream.events[0].thread.id;
      assert.deepEqual(server.store.snapshot(alice.user).threads, [threadId], "the thread is stored under alice");
      t.note(`the server stored thread ${threadId} under ${alice.user}`);
    },
  },
  {
    name: "self-hosted: threads.list through the gate shows only the caller's threads",
    async run(ctx, t) {
      const { worker, server } = sh(ctx);
      const bob = await startSession(ctx, "bob");
      const carol = await startSession(ctx, "carol");
      const threadIds = [];
      for (const text of ["bob's first thread", "bob's second thread"]) {
        const stream = await readStream(await viaGate(worker, bob.secret, requests.threadsCreate(text)));
        threadIds.push(stream.events[0].thread.id);
      }

      const mark = server.received.length;
      const bobs = await readJson(await viaGate(worker, bob.secret, requests.threadsList()));
      assert.equal(bobs.status, 200, bobs.text);
      assert.match(bobs.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(
        bobs.json.data.map((thread) => thread.id),
        [...threadIds].reverse(),
        "bob sees his two threads, newest first",
      );
      const carols = await readJson(await viaGate(worker, carol.secret, requests.threadsList()));
      assert.equal(carols.status, 200, carols.text);
      assert.deepEqual(carols.json.data, [], "carol sees none of bob's threads");
      const foreign = await readJson(await viaGate(worker, carol.secret, requests.getThread(threadIds[0])));
      assert.equal(foreign.status, 404, `carol reading bob's thread: ${foreign.text}`);
      const seen = server.since(mark);
      assert.deepEqual(
        seen.map((entry) => [entry.type, entry.claims?.sub]),
        [
          ["threads.list", bob.user],
          ["threads.list", carol.user],
          ["threads.get_by_id", carol.user],
        ],
      );
      t.note(`bob: 2 threads.create, then threads.list → 200 JSON [${[...threadIds].reverse().join(", ")}]`);
      t.note(
        "carol: threads.list → 200 [], threads.get_by_id of bob's thread → 404 (the server's store, scoped by sub)",
      );
      t.note(`the server saw sub ${bob.user} for bob's requests and ${carol.user} for carol's`);
    },
  },
  {
    name: "self-hosted: a Stop (client abort mid-stream) reaches the server, which keeps the partial answer",
    async run(ctx, t) {
      const { worker, server } = sh(ctx);
      const dave = await startSession(ctx, "dave");
      const mark = server.received.length;
      const controller = new AbortController();
      const response = await viaGate(worker, dave.secret, requests.threadsCreate(LONG_MESSAGE), {
        signal: controller.signal,
      });
      assert.equal(response.status, 200);
      let threadId;
      let abortedAt;
      await assert.rejects(
        readStream(response, {
          onEvent(event) {
            if (event.type === "thread.created") threadId = event.thread.id;
            // The Stop button: after the first words of the answer.
            if (event.type === "thread.item.updated" && abortedAt === undefined) {
              abortedAt = performance.now();
              controller.abort();
            }
          },
        }),
        { name: "AbortError" },
      );
      const [entry] = server.since(mark);
      await waitFor("the server to see the abort", () => entry.aborted, { timeoutMs: ABORT_REACHES_SERVER_MS });
      const seenAfter = performance.now() - abortedAt;
      assert.equal(entry.completed, false, "the server's stream was cut short");
      assert.equal(entry.claims.sub, dave.user);

      // The partial answer, read back through the gate as the component would on reload.
      const items = await readJson(await viaGate(worker, dave.secret, requests.itemsList(threadId)));
      assert.equal(items.status, 200, items.text);
      const [user, assistant, ...rest] = items.json.data;
      assert.equal(user.type, "user_message");
      assert.equal(assistant?.type, "assistant_message", "the partial answer was saved");
      assert.deepEqual(rest, []);
      const partial = assistant.content[0].text;
      const full = replyTo(LONG_MESSAGE);
      assert.ok(partial.length > 0 && partial.length < full.length && full.startsWith(partial), partial);
      const stored = server.store.snapshot(dave.user).items[threadId].map((item) => item.type);
      assert.deepEqual(stored, ["user_message", "assistant_message", "hidden_context_item"]);
      t.note(
        `aborted after the first delta; the server recorded aborted ${ms(seenAfter)} later (stream not completed)`,
      );
      t.note(
        `items.list through the gate: the user message and the partial answer (${partial.split(" ").length} of ` +
          `${full.split(" ").length} words); the server also stored its "user cancelled" hidden item`,
      );
    },
  },
  {
    name: "self-hosted: after cancel (and cancel_all) the secret is refused with 401 before the server",
    async run(ctx, t) {
      const { worker, server } = sh(ctx);
      const gate = gateApi(worker);
      const erin = await startSession(ctx, "erin");
      const before = await readJson(await viaGate(worker, erin.secret, requests.threadsList()));
      assert.equal(before.status, 200, before.text);

      let mark = server.received.length;
      const withIdToken = await readJson(await viaGate(worker, erin.token, requests.threadsList()));
      expectError(withIdToken, 401, "invalid_token");
      assert.match(withIdToken.headers.get("www-authenticate") ?? "", /^Bearer /);
      const without = await readJson(await viaGate(worker, undefined, requests.threadsList()));
      expectError(without, 401, "invalid_token");
      assert.equal(server.since(mark).length, 0, "neither reached the server");
      t.note(
        "the user's IdP token as the bearer, or no bearer → 401 invalid_token with WWW-Authenticate; server not reached",
      );

      const cancelled = await gate.cancel(erin.token, erin.session.session_id);
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal(cancelled.json.status, "cancelled");
      await expectKvRecord(worker, ctx, { user: erin.user, sessionId: erin.session.session_id, status: "cancelled" });
      mark = server.received.length;
      const after = await readJson(await viaGate(worker, erin.secret, requests.threadsList()));
      expectError(after, 401, "invalid_token");
      assert.match(after.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
      assert.equal(server.since(mark).length, 0, "the refused request never reached the server");
      t.note(
        `cancel → 200 cancelled (KV cancelled); the next POST /chatkit with its secret → 401 invalid_token, server not reached`,
      );

      const second = await startSession(ctx, "erin");
      const third = await startSession(ctx, "erin");
      const all = await gate.cancelAll(erin.token);
      assert.equal(all.status, 200, all.text);
      assert.equal(all.json.cancelled, 2);
      mark = server.received.length;
      for (const { secret } of [second, third]) {
        expectError(await readJson(await viaGate(worker, secret, requests.threadsList())), 401, "invalid_token");
      }
      assert.equal(server.since(mark).length, 0);
      t.note("cancel_all → 200 {cancelled: 2}; both secrets → 401, server not reached");
    },
  },
  {
    name: "self-hosted: time to first event, through the gate and straight to the server",
    async run(ctx, t) {
      const { worker, server, signingKey } = sh(ctx);
      const frank = await startSession(ctx, "frank");
      // Each returns when the request was sent and its answer. The direct path signs before its clock
      // starts, as a gate that had already signed would; the gate signs inside its time, as it must.
      const paths = {
        async gate(body) {
          const started = performance.now();
          return { started, response: await viaGate(worker, frank.secret, body) };
        },
        async direct(body) {
          const assertion = await signAssertion({
            privateJwk: signingKey.privateJwk,
            issuer: worker.url,
            audience: server.origin,
            sub: frank.user,
            sid: frank.session.session_id,
            workflow: { id: ctx.settings.workflowId },
          });
          const started = performance.now();
          return {
            started,
            response: await post(server.url, body, { headers: { "chatkit-gate-assertion": assertion } }),
          };
        },
      };
      const samples = { gate: [], direct: [] };
      // One warm-up each (the server's first JWKS fetch, the worker's first key import), then alternate.
      for (let run = 0; run <= TTFE_RUNS; run++) {
        for (const [name, send] of Object.entries(paths)) {
          const text = `run ${run} via ${name}`;
          const { started, response } = await send(requests.threadsCreate(text));
          assert.equal(response.status, 200, `${name}: ${response.status}`);
          const stream = await readStream(response, { started });
          assert.equal(streamedText(stream.events), replyTo(text));
          if (run > 0) samples[name].push(stream.firstEventMs);
        }
      }
      const reached = server.received.filter((entry) => entry.claims?.sub === frank.user && entry.completed);
      assert.equal(reached.length, 2 * (TTFE_RUNS + 1), "every run reached the server and completed");
      t.note(`p50 of ${TTFE_RUNS} threads.create, time to the first SSE event (request sent → event read):`);
      t.note(`  through the gate (wrangler dev): ${ms(p50(samples.gate))}  [${samples.gate.map(ms).join(", ")}]`);
      t.note(`  straight to the server:          ${ms(p50(samples.direct))}  [${samples.direct.map(ms).join(", ")}]`);
    },
  },
];
