// `wrangler dev` as a child process group on 127.0.0.1, offline, with its own
// ports and local state, stopped as a whole group afterwards.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WRANGLER_ENV } from "./build.mjs";
import { freePort } from "./ports.mjs";
import { spawnGroup, stopGroup } from "./processes.mjs";

/** A cold `wrangler dev` (esbuild, workerd start) takes a few seconds; on a busy 2-core box, much longer. */
const READY_TIMEOUT_MS = 120_000;
const READY_POLL_MS = 250;
/** The tail of wrangler's output kept for the error message when it fails to start. */
const OUTPUT_TAIL_CHARS = 4_000;

/**
 * Starts `wrangler dev` for one worker. `script` overrides the config's
 * `main` (the pre-built bundle, run with --no-bundle); `vars` are written to
 * an env file passed with --env-file, as scripts/dev.mjs does.
 */
export async function startWranglerDev({ name, cwd, config, script, vars }) {
  const state = mkdtempSync(join(tmpdir(), `chatkit-gate-bench-${name}-`));
  const envFile = join(state, "bench.env");
  writeFileSync(
    envFile,
    `${Object.entries(vars)
      .map(([key, value]) => `${key}=${value}`)
      .join("\n")}\n`,
  );
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = ["wrangler", "dev", ...(script ? [script, "--no-bundle"] : [])];
  args.push("--config", config, "--env-file", envFile, "--persist-to", join(state, "persist"));
  args.push("--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort));
  // The same log level for every worker: request lines are not printed, warnings and errors are.
  args.push("--log-level", "warn", "--show-interactive-dev-session=false");

  const child = spawnGroup("npx", args, { cwd, env: WRANGLER_ENV, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopGroup(child);
    rmSync(state, { recursive: true, force: true });
  };
  try {
    await waitReady(url, child);
  } catch (error) {
    await stop();
    throw new Error(`wrangler dev for ${name} did not start: ${error.message}\n${output}`);
  }
  return { name, url, pgid: child.pid, stop, output: () => output };
}

async function waitReady(url, child) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    try {
      await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(READY_POLL_MS * 4) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }
  throw new Error(`no answer within ${READY_TIMEOUT_MS / 1000} s`);
}
