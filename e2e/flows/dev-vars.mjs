// Secrets from .dev.vars under the real `wrangler dev`: the way a developer
// runs the worker, and the place where wrangler itself decides which names
// reach the worker (a [secrets] block in wrangler.toml made it drop every
// secret not listed there). The other flows hand wrangler an --env-file and
// the workerd tests inject bindings, so neither could see it. Each secret is
// proven by its effect at the upstream, not by the worker saying ok.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify, SignJWT } from "jose";
import { startChatKitServer } from "../../scripts/chatkit-server.mjs";
import { startFakeChatKit } from "../peers/fake-chatkit.mjs";
import { gateSigningKey } from "../peers/gate-key.mjs";
import { killGroupNow, spawnGroup, stopGroup } from "../processes.mjs";
import { call, fatal, freePort, waitFor } from "../support.mjs";
import { expectError, ownerKeyFor } from "./helpers.mjs";

/** wrangler bundles the worker and boots workerd; a cold start on a slow CI machine can take this long. */
const STARTUP_TIMEOUT_MS = 60_000;
/** No banner (its update check would ask the package registry), no metrics, no cf.json fetch. */
const WRANGLER_ENV = {
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
};
/** The sessions a user may have active at once in the policy flow: one, so the second create must be refused. */
const MAX_ACTIVE = 1;
/** The worker's default SESSION_EXPIRES_AFTER_SECONDS: the longest a refused create can be told to wait. */
const SESSION_LIFETIME_SECONDS = 600;
/** The documented pseudonym (README, docs/security.md), computed here independently of the worker. */
const PSEUDONYM_LABEL = "chatkit-gate/user-id/v1";

/**
 * An HS256 token for `sub`, as a shared-secret provider (Supabase's legacy
 * secret) would mint it; `claims` adds to it or overrides `aud`.
 */
function hs256Token({ secret, issuer, sub, claims = {} }) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub, aud: "authenticated", iss: issuer, iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(secret));
}

/**
 * Every setting name, from the canonical list. They are removed from the
 * inherited environment so nothing but the .dev.vars file configures the run.
 */
function settingNames(repoRoot) {
  const { vars, secrets } = JSON.parse(readFileSync(join(repoRoot, "src", "config", "settings.json"), "utf8"));
  return [...vars, ...secrets];
}

/**
 * Starts `wrangler dev` on a copy of the repository's wrangler.toml in a
 * temporary directory, beside a `.dev.vars` holding `devVars`: wrangler
 * reads .dev.vars from the directory of its config file, so a developer's
 * own .dev.vars is never read. The copy's `main` points at the repository's
 * worker, so this is the real worker under the real configuration.
 */
async function startWithDevVars({ repoRoot, outputDir, devVars }) {
  const dir = mkdtempSync(join(tmpdir(), "chatkit-gate-e2e-dev-vars-"));
  const toml = readFileSync(join(repoRoot, "wrangler.toml"), "utf8");
  const main = JSON.stringify(join(repoRoot, "src", "index.ts"));
  assert.match(toml, /^main = .*$/m, "wrangler.toml has a top-level main");
  writeFileSync(join(dir, "wrangler.toml"), toml.replace(/^main = .*$/m, `main = ${main}`));
  // dotenv: quotes keep `#`, `|` and spaces literal; single quotes for a JSON value (GATE_SIGNING_KEY).
  writeFileSync(
    join(dir, ".dev.vars"),
    Object.entries(devVars)
      .map(([key, value]) => {
        const quote = value.includes('"') ? "'" : '"';
        assert.ok(!value.includes(quote) && !value.includes("\n"), `${key} cannot be written to .dev.vars`);
        return `${key}=${quote}${value}${quote}\n`;
      })
      .join(""),
  );
  const port = await freePort();
  const inspectorPort = await freePort();
  const env = { ...process.env, ...WRANGLER_ENV };
  for (const name of settingNames(repoRoot)) delete env[name];
  const lines = [];
  const child = spawnGroup(
    "npx",
    [
      "wrangler",
      "dev",
      "--config",
      join(dir, "wrangler.toml"),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      join(dir, "state"),
      "--show-interactive-dev-session=false",
    ],
    { cwd: repoRoot, env, logFile: join(outputDir, "worker-dev-vars.log"), onLine: (line) => lines.push(line) },
  );
  // If the run is killed mid-flow, the group must not outlive it.
  const onExit = () => killGroupNow(child);
  process.on("exit", onExit);
  const stop = async () => {
    process.off("exit", onExit);
    await stopGroup(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  try {
    await waitFor(
      `wrangler dev with .dev.vars on ${url}/healthz`,
      async () => {
        if (exited) throw fatal(`wrangler exited early:\n${lines.slice(-20).join("\n")}`);
        const health = await call(`${url}/healthz`);
        // The bug this flow guards against showed as exactly this: a secret dropped, so a setting that needs it is refused.
        if (health.status === 503) throw fatal(`the worker refused its .dev.vars configuration: ${health.text}`);
        return health.status === 200;
      },
      { timeoutMs: STARTUP_TIMEOUT_MS },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, lines, stop };
}

export const devVarsFlows = [
  {
    name: "every secret in .dev.vars reaches the worker under the real wrangler dev",
    async run(ctx, t) {
      const apiKey = `sk-dev-vars-${randomBytes(16).toString("hex")}`;
      const hs256Secret = randomBytes(32).toString("base64url");
      const userIdSecret = randomBytes(32).toString("base64url");
      const issuer = "https://hs256.dev-vars.test/auth/v1";
      const prefix = "devvars|";
      const fake = await startFakeChatKit({ apiKey });
      let worker;
      try {
        worker = await startWithDevVars({
          repoRoot: ctx.repoRoot,
          outputDir: ctx.outputDir,
          devVars: {
            // The three optional-or-required secrets of hosted mode, each with an effect checked below.
            OPENAI_API_KEY: apiKey,
            AUTH_HS256_SECRET: hs256Secret,
            USER_ID_SECRET: userIdSecret,
            // Vars from .dev.vars override wrangler.toml's [vars], as a developer's would.
            USER_ID_MODE: "hmac",
            OPENAI_BASE_URL: fake.baseUrl,
            CHATKIT_WORKFLOW_ID: "wf_dev_vars",
            AUTH_ISSUER: issuer,
            AUTH_AUDIENCE: "authenticated",
            AUTH_ALGORITHMS: "HS256",
            AUTH_USER_PREFIX: prefix,
          },
        });
        t.note("wrangler dev read .dev.vars beside its config and the worker's /healthz said ok");

        const sub = `user-${randomBytes(4).toString("hex")}`;
        const token = await hs256Token({ secret: hs256Secret, issuer, sub });
        const created = await call(`${worker.url}/v1/chatkit/sessions`, { method: "POST", token });

        assert.equal(created.status, 201, `an HS256 token signed with AUTH_HS256_SECRET is accepted: ${created.text}`);
        t.note("AUTH_HS256_SECRET: a token signed with it was accepted (201)");
        assert.equal(fake.calls.length, 1, "exactly one upstream call");
        const [upstream] = fake.calls;
        assert.equal(upstream.headers.authorization, `Bearer ${apiKey}`);
        t.note("OPENAI_API_KEY: ChatKit received Authorization: Bearer <the .dev.vars key>");
        const expected = `u_${createHmac("sha256", userIdSecret)
          .update(JSON.stringify([PSEUDONYM_LABEL, prefix, sub]))
          .digest("base64url")}`;
        assert.equal(upstream.body.user, expected, "ChatKit's user is the HMAC pseudonym, never the raw id");
        assert.ok(!JSON.stringify(upstream.body).includes(sub), "the raw subject never reaches ChatKit");
        t.note(
          `USER_ID_SECRET with USER_ID_MODE=hmac: ChatKit received user ${expected.slice(0, 12)}…, not ${prefix}${sub}`,
        );
      } finally {
        await worker?.stop();
        await fake.close();
      }
    },
  },
  {
    name: "GATE_SIGNING_KEY in .dev.vars signs the self-hosted worker's assertions under the real wrangler dev",
    async run(ctx, t) {
      const hs256Secret = randomBytes(32).toString("base64url");
      const issuer = "https://hs256.dev-vars.test/auth/v1";
      const signingKey = await gateSigningKey(`dev-vars-${randomBytes(4).toString("hex")}`);
      const server = await startChatKitServer();
      let worker;
      try {
        worker = await startWithDevVars({
          repoRoot: ctx.repoRoot,
          outputDir: ctx.outputDir,
          devVars: {
            CHATKIT_MODE: "self-hosted",
            CHATKIT_SERVER_URL: server.url,
            // A JSON secret, single-quoted in .dev.vars as dotenv allows.
            GATE_SIGNING_KEY: JSON.stringify(signingKey.privateJwk),
            AUTH_HS256_SECRET: hs256Secret,
            AUTH_ISSUER: issuer,
            AUTH_AUDIENCE: "authenticated",
            AUTH_ALGORITHMS: "HS256",
            AUTH_USER_PREFIX: "devvars|",
          },
        });
        t.note("wrangler dev read .dev.vars in self-hosted mode and the worker's /healthz said ok");

        const jwks = await call(`${worker.url}/.well-known/jwks.json`);
        assert.equal(jwks.status, 200, jwks.text);
        const { kty, crv, x, y, kid } = signingKey.publicJwk;
        assert.deepEqual(jwks.json, { keys: [{ kty, crv, x, y, kid, alg: "ES256", use: "sig" }] });
        t.note(`GATE_SIGNING_KEY: /.well-known/jwks.json publishes its public key (kid ${kid}), nothing else`);

        server.trustGate({ jwksUrl: `${worker.url}/.well-known/jwks.json`, issuer: worker.url });
        const sub = `user-${randomBytes(4).toString("hex")}`;
        const created = await call(`${worker.url}/v1/chatkit/sessions`, {
          method: "POST",
          token: await hs256Token({ secret: hs256Secret, issuer, sub }),
        });
        assert.equal(created.status, 201, created.text);
        const listed = await call(`${worker.url}/chatkit`, {
          method: "POST",
          token: created.json.client_secret,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ type: "threads.list", params: {} }),
        });
        assert.equal(listed.status, 200, `the server accepted the gate's assertion: ${listed.text}`);
        const [entry] = server.received;
        assert.equal(server.received.length, 1);
        assert.equal(entry.kid, kid);
        assert.equal(entry.claims.sub, `devvars|${sub}`);
        const { protectedHeader } = await jwtVerify(entry.assertion, createLocalJWKSet(jwks.json), {
          issuer: worker.url,
          audience: server.origin,
          algorithms: ["ES256"],
        });
        assert.equal(protectedHeader.kid, kid);
        t.note(`POST /chatkit → 200: the server verified an assertion signed with that key (sub devvars|${sub})`);
      } finally {
        await worker?.stop();
        await server.close();
      }
    },
  },
  {
    name: "ACCESS_POLICY, SESSION_MAX_ACTIVE_PER_USER and the admin API from .dev.vars take effect under the real wrangler dev",
    async run(ctx, t) {
      const apiKey = `sk-dev-vars-${randomBytes(16).toString("hex")}`;
      const hs256Secret = randomBytes(32).toString("base64url");
      const issuer = "https://hs256.dev-vars.test/auth/v1";
      const prefix = "devvars|";
      const adminAudience = "chatkit-gate-admin";
      const fake = await startFakeChatKit({ apiKey });
      let worker;
      try {
        worker = await startWithDevVars({
          repoRoot: ctx.repoRoot,
          outputDir: ctx.outputDir,
          devVars: {
            OPENAI_API_KEY: apiKey,
            AUTH_HS256_SECRET: hs256Secret,
            OPENAI_BASE_URL: fake.baseUrl,
            CHATKIT_WORKFLOW_ID: "wf_dev_vars",
            AUTH_ISSUER: issuer,
            AUTH_AUDIENCE: "authenticated",
            AUTH_ALGORITHMS: "HS256",
            AUTH_USER_PREFIX: prefix,
            // Issue 12's settings: each one, dropped or ignored, would let through something checked below.
            ACCESS_POLICY: JSON.stringify({ require: [{ claim: "app_metadata.plan", equals: "pro" }] }),
            SESSION_MAX_ACTIVE_PER_USER: String(MAX_ACTIVE),
            ADMIN_POLICY: JSON.stringify({ require: [{ claim: "roles", contains: "chat-admin" }] }),
            ADMIN_AUDIENCE: adminAudience,
          },
        });
        t.note("wrangler dev read ACCESS_POLICY, SESSION_MAX_ACTIVE_PER_USER, ADMIN_POLICY and ADMIN_AUDIENCE");
        const sessions = `${worker.url}/v1/chatkit/sessions`;
        const create = (token) => call(sessions, { method: "POST", token });
        const userToken = (sub, claims) => hs256Token({ secret: hs256Secret, issuer, sub, claims });
        const creates = () => fake.calls.filter((c) => c.method === "POST" && c.path === "/v1/chatkit/sessions");

        // ACCESS_POLICY: refused before anything reaches ChatKit, then let through with the claim.
        const outsider = await create(await userToken(`free-${randomBytes(4).toString("hex")}`));
        expectError(outsider, 403, "forbidden");
        assert.equal(
          outsider.json.error.message,
          "The token does not meet this requirement: require[0]: app_metadata.plan equals the configured value",
        );
        assert.equal(fake.calls.length, 0, "a token without the claim reached nothing at ChatKit");
        t.note("ACCESS_POLICY: a token without app_metadata.plan → 403 forbidden naming the rule; 0 ChatKit calls");

        const sub = `pro-${randomBytes(4).toString("hex")}`;
        const user = `${prefix}${sub}`;
        const token = await userToken(sub, { app_metadata: { plan: "pro" } });
        const first = await create(token);
        assert.equal(first.status, 201, `a token meeting ACCESS_POLICY starts a session: ${first.text}`);
        assert.equal(creates().length, 1, "exactly one create reached ChatKit");
        assert.equal(creates()[0].body.user, user);
        t.note(
          `ACCESS_POLICY: a token with app_metadata.plan=pro → 201 (${first.json.session_id}), ChatKit user ${user}`,
        );

        // SESSION_MAX_ACTIVE_PER_USER: the USER_QUOTAS Durable Object (and its migration) counted the first one.
        const callsBeforeSecond = fake.calls.length;
        const second = await create(token);
        expectError(second, 429, "rate_limited");
        assert.equal(
          second.json.error.message,
          `Active session limit reached: at most ${MAX_ACTIVE} sessions per user at once; end one first`,
        );
        const retryAfter = Number(second.headers.get("retry-after"));
        assert.ok(retryAfter > 0 && retryAfter <= SESSION_LIFETIME_SECONDS, `Retry-After ${retryAfter}`);
        assert.deepEqual(fake.since(callsBeforeSecond), [], "the refused create reached nothing at ChatKit");
        t.note(
          `SESSION_MAX_ACTIVE_PER_USER=1: the second create → 429 rate_limited, Retry-After ${retryAfter}; 0 ChatKit calls`,
        );

        // ADMIN_POLICY and ADMIN_AUDIENCE: the operator API exists, for operators only.
        const admin = `${worker.url}/admin/v1/users/${encodeURIComponent(user)}`;
        const operator = await hs256Token({
          secret: hs256Secret,
          issuer,
          sub: "op-1",
          claims: { aud: adminAudience, roles: ["chat-admin"] },
        });
        const listed = await call(`${admin}/sessions`, { token: operator });
        assert.equal(listed.status, 200, listed.text);
        assert.equal(listed.headers.get("cache-control"), "no-store");
        assert.deepEqual(listed.json, {
          user_key: ownerKeyFor(user),
          block: null,
          data: [
            {
              session_id: first.json.session_id,
              status: "active",
              created_at: first.json.created_at,
              expires_at: first.json.expires_at,
            },
          ],
          has_more: false,
        });
        t.note("ADMIN_POLICY: an operator token (aud ADMIN_AUDIENCE, role chat-admin) lists the user's one session");
        expectError(await call(`${admin}/sessions`, { token }), 401, "invalid_token");
        const roleless = await hs256Token({
          secret: hs256Secret,
          issuer,
          sub: "op-2",
          claims: { aud: adminAudience, roles: ["chat-user"] },
        });
        expectError(await call(`${admin}/sessions`, { token: roleless }), 403, "forbidden");
        t.note(
          "ADMIN_AUDIENCE: the user's own token → 401 invalid_token; ADMIN_POLICY: the audience without the role → 403",
        );

        const callsBeforeBlock = fake.calls.length;
        const blocked = await call(`${admin}/block`, {
          method: "POST",
          token: operator,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ reason: "e2e dev-vars" }),
        });
        assert.equal(blocked.status, 200, blocked.text);
        assert.deepEqual(blocked.json, {
          user_key: ownerKeyFor(user),
          block: { blocked_at: blocked.json.block?.blocked_at, reason: "e2e dev-vars" },
          cancelled: 1,
          pending: 0,
          complete: true,
        });
        assert.deepEqual(
          fake.since(callsBeforeBlock).map((c) => `${c.method} ${c.path}`),
          [`POST /v1/chatkit/sessions/${first.json.session_id}/cancel`],
          "the block cancelled the user's session at ChatKit",
        );
        const callsAfterBlock = fake.calls.length;
        const refused = await create(token);
        expectError(refused, 403, "forbidden");
        assert.equal(refused.json.error.message, "This user is blocked by the operator");
        assert.deepEqual(fake.since(callsAfterBlock), [], "the blocked user's create reached nothing at ChatKit");
        t.note("block: cancelled the session at ChatKit; the user's next create → 403 forbidden; 0 ChatKit calls");

        // Unblocked, the user starts again: the block's cancel gave the Durable Object's slot back.
        const unblocked = await call(`${admin}/block`, { method: "DELETE", token: operator });
        assert.equal(unblocked.status, 200, unblocked.text);
        const again = await create(token);
        assert.equal(again.status, 201, `after DELETE the slot the block freed is usable: ${again.text}`);
        assert.equal(creates().length, 2);
        t.note("unblock: the next create → 201, so the block's release freed the quota slot");
      } finally {
        await worker?.stop();
        await fake.close();
      }
    },
  },
];
