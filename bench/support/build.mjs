// The deployable artifact, built exactly as `wrangler deploy` would build it.
// Every section measures this one bundle, not the TypeScript sources.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Offline and quiet: wrangler must not reach Cloudflare from the bench. */
export const WRANGLER_ENV = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

/** `wrangler deploy --dry-run --outdir <tmp>`: returns the bundle directory, its entry and its .js files. */
export async function buildBundle(projectDir) {
  const outdir = mkdtempSync(join(tmpdir(), "chatkit-gate-bench-"));
  await run("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], {
    cwd: projectDir,
    env: WRANGLER_ENV,
    // The dry run prints every binding; this is far above that, and far below a problem.
    maxBuffer: 16 * 1024 * 1024,
  });
  const files = readdirSync(outdir).filter((name) => name.endsWith(".js"));
  return {
    dir: outdir,
    entry: join(outdir, "index.js"),
    files,
    code: Buffer.concat(files.map((name) => readFileSync(join(outdir, name)))),
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  };
}
