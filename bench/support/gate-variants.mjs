// The gate's bundle as deployed, less one of wrangler dev's local
// simulations: its rate limiter (the [[ratelimits]] binding removed, so the
// gate skips the limit) or its console output (every console method a no-op,
// so the log line is still built but not forwarded by wrangler). Their
// difference to the gate as deployed prices what `wrangler dev` adds.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** wrangler.toml without its [[ratelimits]] tables, written next to the bundle; returns its path. */
export function configWithoutLimiter(projectDir, dir) {
  const source = readFileSync(join(projectDir, "wrangler.toml"), "utf8");
  const stripped = source.replace(/^\[\[ratelimits\]\][\s\S]*?(?=^\[|(?![\s\S]))/gm, "");
  const path = join(dir, "wrangler.no-limiter.toml");
  writeFileSync(path, stripped);
  return path;
}

/** The bundle with every console method replaced by a no-op before it runs; returns its path. */
export function bundleWithoutConsole(bundle) {
  const path = join(bundle.dir, "quiet.js");
  const prelude = "for (const m of ['log','info','warn','error','debug']) console[m] = () => {};\n";
  writeFileSync(path, prelude + readFileSync(bundle.entry, "utf8"));
  return path;
}
