// chatkit-gate itself under `wrangler dev` (workerd, local KV), configured
// for one run through a temporary env file and a temporary KV directory, so
// a developer's own .dev.vars and .wrangler state are never read or touched.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killGroupNow, spawnGroup, stopGroup } from "../processes.mjs";
import { call, fatal, freePort, waitFor } from "../support.mjs";

/** wrangler bundles the worker and boots workerd; a cold start on a slow CI machine can take this long. */
const STARTUP_TIMEOUT_MS = 60_000;

/** workerd's output passes through wrangler before it reaches us; it lags the HTTP answer by milliseconds. */
const LOG_WAIT_MS = 5_000;
/**
 * Keeps wrangler on loopback (no cf.json fetch, no metrics, and no banner,
 * whose update check would ask the package registry), and keeps its local
 * explorer API on, through which the flows read KV back.
 */
const WRANGLER_ENV = {
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
  X_LOCAL_EXPLORER: "true",
};

/**
 * Quotes keep `#`, `|` and spaces literal in dotenv: double quotes, or single
 * quotes for a value holding double quotes (a JSON setting such as
 * GATE_SIGNING_KEY). A value with both kinds, or a newline, cannot be written.
 */
function dotenv(vars) {
  return Object.entries(vars)
    .map(([key, value]) => {
      const text = String(value);
      const quote = text.includes('"') ? "'" : '"';
      if (text.includes("\n") || text.includes(quote)) throw new Error(`${key} cannot be written to an env file`);
      return `${key}=${quote}${text}${quote}\n`;
    })
    .join("");
}

/**
 * Every setting name wrangler could take from process.env over the env
 * file, from the canonical list (src/config/settings.json).
 */
function settingNames(repoRoot) {
  const { vars, secrets } = JSON.parse(readFileSync(join(repoRoot, "src", "config", "settings.json"), "utf8"));
  return [...vars, ...secrets];
}

/**
 * Starts one worker. `vars` become the run's env file. Settings are removed
 * from the inherited environment, because wrangler lets process.env
 * override env-file values: a developer's exported AUTH_ISSUER must not leak in.
 */
export async function startWorker({ name, repoRoot, vars, testScheduled, outputDir, register }) {
  const dir = mkdtempSync(join(tmpdir(), `chatkit-gate-e2e-${name}-`));
  const envFile = join(dir, "run.env");
  writeFileSync(envFile, dotenv(vars));
  const port = await freePort();
  const inspectorPort = await freePort();
  const env = { ...process.env, ...WRANGLER_ENV };
  for (const key of [...Object.keys(vars), ...settingNames(repoRoot)]) delete env[key];

  const lines = [];
  const args = ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port)];
  args.push("--inspector-port", String(inspectorPort), "--env-file", envFile, "--persist-to", join(dir, "state"));
  // stdin is not a terminal here anyway; this also keeps wrangler from offering its hotkeys.
  args.push("--show-interactive-dev-session=false");
  if (testScheduled) args.push("--test-scheduled");
  const child = spawnGroup("npx", args, {
    cwd: repoRoot,
    env,
    logFile: join(outputDir, `worker-${name}.log`),
    onLine: (line) => lines.push(line),
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopGroup(child);
    rmSync(dir, { recursive: true, force: true });
  };
  register({ name: `worker ${name}`, stop, kill: () => killGroupNow(child) });

  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  await waitFor(
    `worker ${name} on ${url}/healthz`,
    async () => {
      // Neither an exit nor a refused configuration fixes itself: stop waiting at once.
      if (exited) throw fatal(`wrangler exited early:\n${lines.slice(-20).join("\n")}`);
      const health = await call(`${url}/healthz`);
      if (health.status === 503) throw fatal(`worker ${name} refused its configuration: ${health.text}`);
      return health.status === 200;
    },
    { timeoutMs: STARTUP_TIMEOUT_MS },
  );

  let namespaceId;
  const explorer = async (path) => {
    const response = await call(`${url}/cdn-cgi/explorer/api/storage/kv/namespaces${path}`);
    if (response.status !== 200 || !response.json?.success) {
      throw new Error(
        `wrangler's local explorer answered ${response.status} for ${path}: ${response.text.slice(0, 200)}`,
      );
    }
    return response.json;
  };

  return {
    url,
    lines,
    /** wrangler's own access log (`[wrangler:info] METHOD /path STATUS …`), from `mark` on: every request, preflights included. */
    accessLog(mark = 0) {
      return lines.slice(mark).flatMap((line) => {
        const match = /^\[wrangler:info\] ([A-Z]+) (\S+) (\d{3}) /.exec(line);
        return match ? [{ method: match[1], path: match[2], status: Number(match[3]) }] : [];
      });
    },
    /** Waits until a line from `mark` on satisfies `test`: workerd's output reaches us a little after the answer. */
    waitForLine(test, mark, what) {
      return waitFor(what, () => lines.slice(mark).find(test), { timeoutMs: LOG_WAIT_MS });
    },
    /** Runs the cron handler once, as Cloudflare would on schedule (needs --test-scheduled). */
    scheduled: () => call(`${url}/__scheduled?cron=${encodeURIComponent("* * * * *")}`),
    /**
     * Every key of the SESSIONS namespace with its metadata, read through
     * wrangler's local explorer API: what KV holds, not what the worker says.
     */
    async kvKeys() {
      if (namespaceId === undefined) {
        const { result } = await explorer("");
        namespaceId = result.find((ns) => ns.title === "SESSIONS")?.id;
        if (namespaceId === undefined) throw new Error("no SESSIONS namespace in the local explorer");
      }
      const { result } = await explorer(`/${namespaceId}/keys`);
      return result;
    },
    /** One KV value as stored, as text. */
    async kvValue(key) {
      if (namespaceId === undefined) await this.kvKeys();
      const response = await call(
        `${url}/cdn-cgi/explorer/api/storage/kv/namespaces/${namespaceId}/values/${encodeURIComponent(key)}`,
      );
      return response.status === 200 ? response.text : undefined;
    },
    stop,
  };
}
