#!/usr/bin/env node
// Builds the worker exactly as `wrangler deploy` would (--dry-run) and fails
// when its gzip size passes the budget. The budget is deterministic, so CI
// enforces it; every other performance figure lives in the benchmark.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

/**
 * Issue #5 set 40 KiB for the v1 worker (hono and jose alone are about 25 KiB, the full openai SDK
 * about 180 KiB), and issue #11 kept it for the worker with both modes and issue #12's access
 * policy, quotas, operator API and metrics. `npm run bench -- bundle` shows where the bytes go.
 */
const BUDGET_BYTES = 40 * 1024;

const outdir = mkdtempSync(join(tmpdir(), "chatkit-gate-bundle-"));
try {
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  const files = readdirSync(outdir).filter((name) => name.endsWith(".js"));
  const raw = Buffer.concat(files.map((name) => readFileSync(join(outdir, name))));
  const gzip = gzipSync(raw, { level: 9 }).length;
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(
    `bundle: ${files.join(", ")} ${kib(raw.length)} raw, ${kib(gzip)} gzip (budget ${kib(BUDGET_BYTES)}, ${((gzip / BUDGET_BYTES) * 100).toFixed(0)}% used)`,
  );
  if (gzip > BUDGET_BYTES) {
    console.error(`bundle: over budget by ${kib(gzip - BUDGET_BYTES)}`);
    process.exitCode = 1;
  }
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
