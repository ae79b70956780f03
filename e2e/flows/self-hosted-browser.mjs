// Self-hosted mode in a real browser: the SPA signs in at the provider, then
// `gate.chatKitApi(...).fetch` from the built client carries ChatKit's
// protocol to the self-hosted worker's /chatkit: a streamed threads.create,
// threads.list, a Stop, a cancel made elsewhere (the client starts a new
// session and retries once), and logout. From an origin not in
// ALLOWED_ORIGINS, chromium itself refuses to send the request.
import assert from "node:assert/strict";
import { CHROMIUM_PATH, screenshotPath } from "../peers/browser.mjs";
import { waitFor } from "../support.mjs";
import { readJson, replyTo, requests, viaGate } from "./chatkit-protocol.mjs";
import { userFor } from "./helpers.mjs";
import { startSession } from "./self-hosted.mjs";

const NO_BROWSER = `no chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`;
const CHATKIT_PATH = "/chatkit";
/** A client abort crosses wrangler's proxy and workerd before the server sees its socket close. */
const ABORT_REACHES_SERVER_MS = 5_000;
/** workerd's output passes through wrangler before it reaches us; it lags the HTTP answer by milliseconds. */
const LOG_WAIT_MS = 5_000;
/** What ChatKit's component sends besides the body type: the preflight must allow all of them. */
const COMPONENT_HEADERS = ["authorization", "content-type", "accept-language", "chatkit-frame-instance-id"];

const sh = (ctx) => ctx.selfHosted;
const chatkitRequests = (log, method) => log.filter((r) => r.method === method && r.path === CHATKIT_PATH);

/** A CORS preflight for /chatkit, as chromium sends it for ChatKit's requests. */
const preflight = (ctx, origin) =>
  fetch(`${sh(ctx).worker.url}${CHATKIT_PATH}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": COMPONENT_HEADERS.join(","),
    },
  });

export const selfHostedBrowserFlows = [
  {
    name: "browser (self-hosted): chatKitApi().fetch drives ChatKit's protocol from an allowed origin",
    async run(ctx, t) {
      if (!ctx.browser) t.skip(NO_BROWSER);
      const { worker, server } = sh(ctx);
      const user = userFor(ctx, "grace");
      const logMark = worker.lines.length;
      const mark = server.received.length;
      const screenshot = screenshotPath(ctx.outputDir, "spa-self-hosted-allowed-origin");
      const page = await ctx.browser.visit(`${ctx.spa.allowedOrigin}/?user=grace&flow=chatkit`, { screenshot });
      assert.equal(page.state, "done", `page state ${page.state}: ${page.result}\n${page.console.join("\n")}`);
      const shown = JSON.parse(page.result);

      assert.equal(shown.url, `${worker.url}${CHATKIT_PATH}`, "chatKitApi's url is the gate's /chatkit");
      assert.equal(shown.create.status, 200);
      assert.match(shown.create.contentType, /^text\/event-stream/);
      assert.equal(shown.create.types[0], "thread.created");
      assert.equal(shown.create.reply, replyTo("Hello from Chromium"));
      assert.deepEqual(shown.list, { status: 200, ids: [shown.create.threadId] });
      assert.equal(shown.stop.aborted, true, `the Stop: ${JSON.stringify(shown.stop)}`);
      assert.equal(shown.otherDevice.status, 200);
      assert.equal(shown.otherDevice.cancelled, 1, "the page's held session was cancelled elsewhere");
      assert.deepEqual(shown.afterCancel, { status: 200, ids: [shown.stop.threadId, shown.create.threadId] });
      assert.equal(shown.sessionsStarted, 2, "the 401 made the client start one new session");
      assert.equal(shown.logout.cancelled, 1);
      assert.deepEqual(shown.afterLogout, { status: 401, code: "invalid_token" });
      t.note(
        `${ctx.spa.allowedOrigin}: threads.create → 200 SSE, ${shown.create.types.length} events, the first after ` +
          `${shown.create.firstEventMs.toFixed(0)} ms, the last after ${shown.create.lastEventMs.toFixed(0)} ms; ` +
          `reply "${shown.create.reply}"`,
      );

      const seen = server.since(mark);
      assert.deepEqual(
        seen.map((entry) => entry.type),
        ["threads.create", "threads.list", "threads.create", "threads.list"],
        "the refused requests (after the cancel, after logout) never reached the server",
      );
      await waitFor("the server to see the Stop", () => seen[2].aborted, { timeoutMs: ABORT_REACHES_SERVER_MS });
      assert.equal(seen[2].completed, false);
      for (const entry of seen) {
        assert.equal(entry.claims?.sub, user, "every request carried grace's verified sub");
        assert.equal(entry.hasAuthorization, false);
      }
      const [first, , , retried] = seen;
      assert.deepEqual(
        seen.map((entry) => entry.claims.sid),
        [first.claims.sid, first.claims.sid, first.claims.sid, retried.claims.sid],
      );
      assert.notEqual(retried.claims.sid, first.claims.sid, "the retry ran on the new session");
      t.note(`Stop: aborted in the page, the server recorded the stream aborted; threads.list → [2 threads]`);
      t.note(
        "cancel_all from another device → the next request met 401, the client started a new session and retried once",
      );
      t.note(
        "logout (cancelAll) → the last client secret gets 401 invalid_token; the server saw 4 requests, all sub " +
          user,
      );

      // workerd's lines reach us a little after the answers: wait for all six POSTs.
      await waitFor(
        "six POST /chatkit in the worker's log",
        () => chatkitRequests(worker.accessLog(logMark), "POST").length >= 6,
        { timeoutMs: LOG_WAIT_MS },
      );
      const logs = worker.accessLog(logMark);
      const options = chatkitRequests(logs, "OPTIONS");
      const posts = chatkitRequests(logs, "POST");
      assert.ok(options.length >= 1 && options[0].status === 204, "chromium asked first, the worker allowed it");
      assert.ok(logs.indexOf(options[0]) < logs.indexOf(posts[0]), "the preflight came before the first POST");
      assert.deepEqual(
        posts.map((p) => p.status),
        [200, 200, 200, 401, 200, 401],
        "the access log: create, list, stopped create, 401 then the retry, and the refused secret after logout",
      );
      t.note(`worker log: OPTIONS /chatkit 204, then POST /chatkit ${posts.map((p) => p.status).join(", ")}`);
      t.note(`screenshot: ${screenshot}`);
    },
  },
  {
    name: "browser (self-hosted): from a disallowed origin, chromium blocks /chatkit",
    async run(ctx, t) {
      if (!ctx.browser) t.skip(NO_BROWSER);
      const { worker, server } = sh(ctx);
      const allowed = await preflight(ctx, ctx.spa.allowedOrigin);
      assert.equal(allowed.status, 204);
      assert.equal(allowed.headers.get("access-control-allow-origin"), ctx.spa.allowedOrigin);
      const allowHeaders = (allowed.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
      for (const header of COMPONENT_HEADERS) assert.ok(allowHeaders.includes(header), `preflight allows ${header}`);
      const refused = await preflight(ctx, ctx.spa.blockedOrigin);
      assert.equal(refused.headers.get("access-control-allow-origin"), null, "no ACAO for a disallowed origin");
      t.note(
        `preflight from the allowed origin: 204, allow-headers ${allowHeaders.join(", ")}; from the other: no ACAO`,
      );

      // A valid secret of heidi's, handed to the page in the fragment: only CORS may stop the call.
      const heidi = await startSession(ctx, "heidi");
      const logMark = worker.lines.length;
      const mark = server.received.length;
      const screenshot = screenshotPath(ctx.outputDir, "spa-self-hosted-blocked-origin");
      const page = await ctx.browser.visit(
        `${ctx.spa.blockedOrigin}/?user=heidi&flow=chatkit#secret=${encodeURIComponent(heidi.secret)}`,
        { screenshot },
      );
      assert.equal(page.state, "blocked", `page state ${page.state}: ${page.result}\n${page.console.join("\n")}`);
      const shown = JSON.parse(page.result);
      assert.match(shown.api, /network_error/, "chatKitApi's fetch could not even start a session");
      assert.match(shown.direct, /^TypeError/, "the /chatkit POST with a valid secret was refused by the browser");
      assert.ok(
        page.console.some((line) => /blocked by CORS policy/.test(line) && line.includes(CHATKIT_PATH)),
        `chromium reported the CORS block of /chatkit:\n${page.console.join("\n")}`,
      );
      await worker.waitForLine(
        (line) => line.includes(`OPTIONS ${CHATKIT_PATH}`),
        logMark,
        "the /chatkit preflight in the log",
      );
      const logs = worker.accessLog(logMark);
      assert.equal(chatkitRequests(logs, "POST").length, 0, "no POST /chatkit reached the worker");
      assert.equal(server.since(mark).length, 0, "nothing reached the ChatKit server");

      const same = await readJson(await viaGate(worker, heidi.secret, requests.threadsList()));
      assert.equal(same.status, 200, `the secret itself was valid: ${same.text}`);
      t.note(`${ctx.spa.blockedOrigin}: chatKitApi().fetch → ${shown.api}`);
      t.note(`a POST /chatkit with a valid secret → ${shown.direct}; chromium: blocked by CORS policy`);
      t.note("the worker saw only the preflight, the server nothing; the same secret from outside a browser → 200");
      t.note(`screenshot: ${screenshot}`);
    },
  },
];
