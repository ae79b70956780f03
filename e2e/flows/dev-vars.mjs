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

/** wrangler bundles the worker and boots workerd; a cold start on a slow CI machine can take this long. */
const STARTUP_TIMEOUT_MS = 60_000;
/** No banner (its update check would ask the package registry), no metrics, no cf.json fetch. */
const WRANGLER_ENV = {
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
};
/** The documented pseudonym (README, docs/security.md), computed here independently of the worker. */
const PSEUDONYM_LABEL = "chatkit-gate/user-id/v1";

/** An HS256 token for `sub`, as a shared-secret provider (Supabase's legacy secret) would mint it. */
function hs256Token({ secret, issuer, sub }) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub, aud: "authenticated", iss: issuer, iat: now, exp: now + 300 })
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
];
