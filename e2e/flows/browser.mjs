// A real browser running the SPA: sign-in with PKCE at the provider, then a
// cross-origin POST with Authorization, which makes the browser send a CORS
// preflight first. From an origin in ALLOWED_ORIGINS it goes through; from
// any other origin the browser itself blocks it.
import assert from "node:assert/strict";
import { CHROMIUM_PATH, screenshotPath } from "../peers/browser.mjs";
import { gateApi, kvSession, ownerKeyFor, userFor } from "./helpers.mjs";

const NO_BROWSER = `no chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`;
const SESSIONS_PATH = "/v1/chatkit/sessions";
const preflights = (log) => log.filter((r) => r.method === "OPTIONS" && r.path === SESSIONS_PATH);
const creates = (log) => log.filter((r) => r.method === "POST" && r.path === SESSIONS_PATH);

export const browserFlows = [
  {
    name: "browser: the SPA on an allowed origin signs in and creates a session",
    async run(ctx, t) {
      if (!ctx.browser) t.skip(NO_BROWSER);
      const logMark = ctx.worker.lines.length;
      const mark = ctx.fake.calls.length;
      const screenshot = screenshotPath(ctx.outputDir, "spa-allowed-origin");
      const page = await ctx.browser.visit(`${ctx.spa.allowedOrigin}/?user=ivan`, { screenshot });
      assert.equal(page.state, "done", `page state ${page.state}: ${page.result}\n${page.console.join("\n")}`);
      const shown = JSON.parse(page.result);
      assert.equal(shown.status, 201);
      assert.match(shown.body.session_id, /^cksess_/);
      assert.equal(shown.body.status, "active");
      assert.ok(shown.request_id, "the page could read x-request-id (an exposed header)");
      assert.ok(
        page.finalUrl.startsWith(`${ctx.spa.allowedOrigin}/callback?`),
        "the provider redirected back with a code",
      );

      await ctx.worker.waitForLine(
        (line) => line.includes(`POST ${SESSIONS_PATH} 201`),
        logMark,
        "the POST in the log",
      );
      const logs = ctx.worker.accessLog(logMark);
      assert.ok(preflights(logs).length >= 1, "the worker answered a preflight");
      assert.equal(preflights(logs)[0].status, 204);
      assert.ok(logs.indexOf(preflights(logs)[0]) < logs.indexOf(creates(logs)[0]), "preflight came before the POST");
      const calls = ctx.fake.since(mark);
      assert.equal(calls.length, 1);
      assert.equal(calls[0].body.user, userFor(ctx, "ivan"));
      assert.ok(await kvSession(ctx.worker, userFor(ctx, "ivan"), shown.body.session_id), "KV holds the session");
      const check = await gateApi(ctx.worker).get((await ctx.tokens.login("ivan")).idToken, shown.body.session_id);
      assert.equal(check.json.status, "active");
      t.note(`${ctx.spa.allowedOrigin}: PKCE sign-in, preflight 204, POST 201 ${shown.body.session_id}`);
      t.note(`screenshot: ${screenshot}`);
    },
  },
  {
    name: "browser: the same SPA on another origin is blocked by CORS",
    async run(ctx, t) {
      if (!ctx.browser) t.skip(NO_BROWSER);
      const logMark = ctx.worker.lines.length;
      const mark = ctx.fake.calls.length;
      const screenshot = screenshotPath(ctx.outputDir, "spa-blocked-origin");
      const page = await ctx.browser.visit(`${ctx.spa.blockedOrigin}/?user=judy`, { screenshot });
      assert.equal(page.state, "blocked", `page state ${page.state}: ${page.result}\n${page.console.join("\n")}`);
      assert.equal(page.user, "judy", "sign-in itself worked");
      assert.match(page.result, /TypeError/);
      assert.ok(
        page.console.some((line) => /blocked by CORS policy/.test(line)),
        `chromium reported the CORS block:\n${page.console.join("\n")}`,
      );

      await ctx.worker.waitForLine(
        (line) => line.includes(`OPTIONS ${SESSIONS_PATH}`),
        logMark,
        "the preflight in the log",
      );
      const logs = ctx.worker.accessLog(logMark);
      assert.ok(preflights(logs).length >= 1, "the browser asked the worker first");
      assert.equal(creates(logs).length, 0, "the POST was never sent");
      assert.equal(ctx.fake.since(mark).length, 0, "nothing reached ChatKit");
      const owner = ownerKeyFor(userFor(ctx, "judy"));
      assert.ok(!(await ctx.worker.kvKeys()).some((k) => k.name.includes(owner)), "KV holds nothing for judy");
      t.note(`${ctx.spa.blockedOrigin}: PKCE sign-in worked, preflight answered without Access-Control-Allow-Origin,`);
      t.note("chromium blocked the POST (TypeError), no create reached the worker or ChatKit");
      t.note(`screenshot: ${screenshot}`);
    },
  },
];
