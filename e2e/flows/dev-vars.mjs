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
import { SignJWT } from "jose";
import { startFakeChatKit } from "../peers/fake-chatkit.mjs";
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
  // dotenv: double quotes keep `#`, `|` and spaces literal; the values here never contain quotes or newlines.
  writeFileSync(
    join(dir, ".dev.vars"),
    Object.entries(devVars)
      .map(([key, value]) => `${key}="${value}"\n`)
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
        const now = Math.floor(Date.now() / 1000);
        const token = await new SignJWT({ sub, aud: "authenticated", iss: issuer, iat: now, exp: now + 300 })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" })
          .sign(new TextEncoder().encode(hs256Secret));
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
];
