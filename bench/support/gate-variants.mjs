// The gate's bundle as deployed, less one of wrangler dev's local
// simulations: its rate limiter (the [[ratelimits]] binding removed, so the
// gate skips the limit) or its console output (every console method a no-op,
// so the log line is still built but not forwarded by wrangler). Their
// difference to the gate as deployed prices what `wrangler dev` adds. And the
// gate without its authentication, the floor of a repeat request.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

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

/**
 * The gate's own floor for a repeat request (issue #11, goal 1): the same
 * worker built from the same sources with `src/auth/middleware.ts` swapped
 * for one that sets a fixed, already-verified user and does nothing else.
 * Routing, config, CORS, the log line, KV and the handlers stay; only the
 * authentication is gone, so a request to it costs what the gate costs
 * before any token is looked at. Built with esbuild and wrangler's settings
 * for a module worker; returns the entry's path.
 */
export async function bundleWithoutAuth(projectDir, bundle, identity) {
  const stub = join(bundle.dir, "no-auth-middleware.mjs");
  writeFileSync(
    stub,
    `export { ownerKeyFor } from ${JSON.stringify(join(projectDir, "src/auth/identity.ts"))};\n` +
      // The admin API's operator check stays as it is (the name with .ts escapes the swap below).
      `export { verifiedBearer } from ${JSON.stringify(join(projectDir, "src/auth/middleware.ts"))};\n` +
      `const IDENTITY = ${JSON.stringify(identity)};\n` +
      "export function requireUser() {\n" +
      "  return async (c, next) => {\n" +
      '    c.set("user", IDENTITY.user);\n' +
      '    c.set("claims", IDENTITY.claims);\n' +
      '    c.set("ownerKey", IDENTITY.ownerKey);\n' +
      "    await next();\n" +
      "  };\n" +
      "}\n",
  );
  const outfile = join(bundle.dir, "no-auth.js");
  await build({
    entryPoints: [join(projectDir, "src/index.ts")],
    outfile,
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    logLevel: "silent",
    plugins: [
      {
        name: "no-auth",
        setup(builder) {
          builder.onResolve({ filter: /\/auth\/middleware$/ }, () => ({ path: stub }));
        },
      },
    ],
  });
  return outfile;
}
