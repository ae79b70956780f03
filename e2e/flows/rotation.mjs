// Key rotation at the provider. The worker caches the JWKS and, on a token
// naming an unknown kid, refetches it at most once per cooldown (jose's
// kid-miss cooldown, 30 s in src/auth/keys.ts). So after a rotation, new
// tokens work once the cooldown since the last fetch is over, and tokens of
// the removed keys are refused.
import assert from "node:assert/strict";
import { generateKeySet } from "../peers/oidc.mjs";
import { sleep, waitFor } from "../support.mjs";
import { expectError, gateApi, peek } from "./helpers.mjs";

/** The worker's kid-miss cooldown (JWKS_COOLDOWN_MS in src/auth/keys.ts). */
const COOLDOWN_MS = 30_000;
/** Below this much cooldown left, a refusal cannot be shown reliably before the worker may refetch. */
const MIN_OBSERVABLE_COOLDOWN_MS = 3_000;
/** After the cooldown, the refetch and its retry should land well within this. */
const REFETCH_SLACK_MS = 15_000;
/** Between retries with the new token while waiting for the refetch. */
const RETRY_INTERVAL_MS = 1_000;

const jwksFetches = (ctx, after = 0) => ctx.oidc.requests.filter((r) => r.path === "/jwks" && r.at >= after);

export const rotationFlows = [
  {
    name: "key rotation: new keys work after the cooldown, removed keys are refused",
    async run(ctx, t) {
      const gate = gateApi(ctx.worker);
      const old = await ctx.tokens.login("grace");
      const before = await gate.create(old.accessToken);
      assert.equal(before.status, 201, before.text);
      const oldKids = ctx.oidc.kids;
      const lastFetch = jwksFetches(ctx).at(-1);
      assert.ok(lastFetch, "the worker has fetched the JWKS before the rotation");

      await ctx.oidc.restart(await generateKeySet("k2"));
      const restartedAt = Date.now();
      const fresh = await ctx.tokens.login("grace");
      assert.ok(!oldKids.includes(peek(fresh.idToken).header.kid), "new tokens name a new kid");
      t.note(`provider restarted with keys ${ctx.oidc.kids.join(", ")} (removed: ${oldKids.join(", ")})`);

      const cooldownEnds = lastFetch.at + COOLDOWN_MS;
      if (cooldownEnds - Date.now() > MIN_OBSERVABLE_COOLDOWN_MS) {
        expectError(await gate.create(fresh.idToken), 401, "invalid_token");
        assert.equal(jwksFetches(ctx, restartedAt).length, 0, "no refetch during the cooldown");
        t.note(`within the cooldown: a new-key token → 401 invalid_token and no JWKS refetch`);
        await sleep(Math.max(0, cooldownEnds - Date.now()));
      } else {
        t.note("the cooldown had already passed: the first new-key token triggers the refetch");
      }

      const accepted = await waitFor(
        "the worker to accept a token signed by the new key",
        async () => {
          const response = await gate.create(fresh.idToken);
          return response.status === 201 ? response : undefined;
        },
        { timeoutMs: Math.max(0, cooldownEnds - Date.now()) + REFETCH_SLACK_MS, intervalMs: RETRY_INTERVAL_MS },
      );
      const refetches = jwksFetches(ctx, restartedAt);
      assert.ok(refetches.length >= 1, "the worker refetched the JWKS after the rotation");
      t.note(
        `new ID token (${peek(fresh.idToken).header.kid}) → 201 ${accepted.json.session_id}, ` +
          `${((refetches[0].at - lastFetch.at) / 1000).toFixed(1)} s after the previous JWKS fetch`,
      );
      const newAccess = await gate.create(fresh.accessToken);
      assert.equal(newAccess.status, 201, newAccess.text);

      for (const [label, token] of [
        ["ID token", old.idToken],
        ["access token", old.accessToken],
      ]) {
        const refused = await gate.create(token);
        expectError(refused, 401, "invalid_token");
        assert.match(refused.json.error.message, /key/i, `the old ${label} is refused for its key`);
      }
      t.note(`old-key ID and access tokens (${oldKids.join(", ")}) → 401 invalid_token`);
    },
  },
];
