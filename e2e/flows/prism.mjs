// OpenAI's published contract: a worker whose upstream is Prism, mocking
// the shared ChatKit spec and validating each request against its schemas.
// Prism answers 422 to a request that breaks them, and reports violations
// in its `sl-violations` header and its log.
import assert from "node:assert/strict";
import { call } from "../support.mjs";
import { expectCreateBody, expectCreated, gateApi, userFor } from "./helpers.mjs";

const NO_SPEC = "../shared/upstream/chatkit-openapi.{yaml,json} not found beside the repository: contract not checked";

const passedLines = (lines) => lines.filter((l) => l.includes("The request passed the validation rules")).length;
const failedLines = (lines) => lines.filter((l) => l.includes("Request did not pass the validation rules")).length;

/** One exchange Prism accepted: 2xx, and not a single request violation. */
function expectAccepted(exchange, ctx, path) {
  assert.equal(exchange.method, "POST");
  assert.equal(exchange.path, path);
  assert.ok(exchange.status >= 200 && exchange.status < 300, `Prism answered ${exchange.status} for ${path}`);
  assert.deepEqual(exchange.requestViolations, [], `Prism found request violations for ${path}`);
  assert.equal(exchange.headers.authorization, `Bearer ${ctx.settings.apiKey}`);
  assert.equal(exchange.headers["openai-beta"], "chatkit_beta=v1");
}

export const prismFlows = [
  {
    name: "OpenAI's contract (Prism): our create and cancel requests are valid",
    async run(ctx, t) {
      if (!ctx.prism) t.skip(NO_SPEC);
      const gate = gateApi(ctx.prismWorker);
      const token = (await ctx.tokens.login("alice")).idToken;
      const exchangeMark = ctx.prism.exchanges.length;
      const lineMark = ctx.prism.lines.length;

      const created = expectCreated(await gate.create(token), ctx);
      const [create] = ctx.prism.exchanges.slice(exchangeMark);
      expectAccepted(create, ctx, "/v1/chatkit/sessions");
      assert.equal(create.prismPath, "/chatkit/sessions");
      expectCreateBody(create.body, ctx, userFor(ctx, "alice"));
      t.note(`create → Prism 200, no request violations; worker → 201 ${created.session_id} (OpenAI's example id)`);

      const cancelled = await gate.cancel(token, created.session_id);
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal(cancelled.json.status, "cancelled");
      const cancel = ctx.prism.exchanges[exchangeMark + 1];
      assert.ok(cancel, "the cancel reached Prism");
      expectAccepted(cancel, ctx, `/v1/chatkit/sessions/${created.session_id}/cancel`);
      assert.equal(ctx.prism.exchanges.length, exchangeMark + 2, "exactly two upstream calls");
      t.note("cancel → Prism 200, no request violations; worker → 200 cancelled");

      const lines = ctx.prism.lines.slice(lineMark);
      assert.equal(passedLines(lines), 2, "Prism logged both requests as passing validation");
      assert.equal(failedLines(lines), 0, "Prism logged no failed validation");
      const known = [create, cancel].flatMap((e) => e.responseViolations.map((v) => v.message));
      if (known.length > 0) {
        t.note(`Prism's own example breaks OpenAI's response schema (${[...new Set(known)].join("; ")}); ignored`);
      }
      const adjusted = [create, cancel].flatMap((e) => e.adjusted);
      if (adjusted.length > 0) {
        t.note(`Prism's example session was made to echo the request (${[...new Set(adjusted)].join(", ")})`);
      }
    },
  },
  {
    name: "OpenAI's contract (Prism): a request that breaks the schema is rejected (control)",
    async run(ctx, t) {
      if (!ctx.prism) t.skip(NO_SPEC);
      const response = await call(`${ctx.prism.directUrl}/chatkit/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${ctx.settings.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ user: "", workflow: {}, expires_after: { anchor: "created_at", seconds: 6000 } }),
      });
      assert.equal(response.status, 422, response.text);
      const messages = response.json.validation.map((v) => v.message).join("\n");
      for (const expected of [
        /openai-beta/,
        /workflow must have required property 'id'/,
        /user must NOT have fewer/,
        /<= 600/,
      ]) {
        assert.match(messages, expected);
      }
      t.note("no OpenAI-Beta, empty user, no workflow id, 6000 s expiry → 422 naming each violation");
    },
  },
];
