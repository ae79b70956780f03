// ChatKit down during a cancel: the worker answers 202 cancel_pending and
// the cron sweep settles the cancel once ChatKit is back.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../support.mjs";
import { expectKvRecord, gateApi, userFor } from "./helpers.mjs";

/** The scheduled handler may finish its KV writes just after /__scheduled answers. */
const SETTLE_TIMEOUT_MS = 10_000;

/** Whether wrangler.toml declares a cron trigger, i.e. whether this worker is meant to sweep. */
function declaresSweep(repoRoot) {
  return /^\s*crons\s*=\s*\[\s*"/m.test(readFileSync(join(repoRoot, "wrangler.toml"), "utf8"));
}

export const sweepFlows = [
  {
    name: "ChatKit down during a cancel: cancel_pending, then cancelled by the cron sweep",
    async run(ctx, t) {
      const gate = gateApi(ctx.worker);
      const token = (await ctx.tokens.login("heidi")).idToken;
      const user = userFor(ctx, "heidi");
      const created = await gate.create(token);
      assert.equal(created.status, 201, created.text);
      const id = created.json.session_id;

      await ctx.fake.down();
      let pending;
      try {
        pending = await gate.cancel(token, id);
        if (pending.status === 502 && pending.json?.error?.code === "upstream_error" && !declaresSweep(ctx.repoRoot)) {
          t.pending(
            "worker lacks cancel sweep: with ChatKit down, cancel answered 502 upstream_error and wrangler.toml " +
              "declares no cron trigger",
          );
        }
        assert.equal(pending.status, 202, pending.text);
        assert.equal(pending.json.session_id, id);
        assert.equal(pending.json.status, "cancel_pending");
        assert.equal((await gate.get(token, id)).json.status, "cancel_pending");
        await expectKvRecord(ctx.worker, ctx, { user, sessionId: id, status: "cancel_pending" });
        t.note("ChatKit unreachable: cancel → 202 cancel_pending; GET and KV say cancel_pending");

        const swept = await ctx.worker.scheduled();
        assert.equal(swept.status, 200, swept.text);
        assert.equal(
          (await gate.get(token, id)).json.status,
          "cancel_pending",
          "a sweep while ChatKit is down changes nothing",
        );
        t.note("cron while ChatKit is still down: still cancel_pending");
      } finally {
        await ctx.fake.up();
      }

      const mark = ctx.fake.calls.length;
      const logMark = ctx.worker.lines.length;
      const swept = await ctx.worker.scheduled();
      assert.equal(swept.status, 200, swept.text);
      const settled = await waitFor(
        "the sweep to record the cancel",
        async () => {
          const read = await gate.get(token, id);
          return read.json?.status === "cancelled" ? read : undefined;
        },
        { timeoutMs: SETTLE_TIMEOUT_MS },
      );
      assert.equal(typeof settled.json.cancelled_at, "number");
      const cancels = ctx.fake.since(mark).filter((c) => c.path === `/v1/chatkit/sessions/${id}/cancel`);
      assert.equal(cancels.length, 1, "the sweep cancelled it upstream once");
      assert.equal(cancels[0].headers.authorization, `Bearer ${ctx.settings.apiKey}`);
      assert.equal(ctx.fake.sessions.get(id).status, "cancelled");
      await expectKvRecord(ctx.worker, ctx, { user, sessionId: id, status: "cancelled" });
      const again = await gate.cancel(token, id);
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.status, "cancelled");
      t.note("ChatKit back + cron → ChatKit saw the cancel; GET, KV and a repeat cancel say cancelled");
      const report = await ctx.worker
        .waitForLine((line) => /"event":"sweep".*"cancelled":[1-9]/.test(line), logMark, "the sweep's log line")
        .catch(() => undefined);
      if (report) t.note(`the worker logged: ${/\{.*\}/.exec(report)?.[0]}`);
    },
  },
];
