// 1. Bundle size: the deterministic figure, also enforced by `npm run size` in CI.
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { attributeBundle } from "../support/bundle-attribution.mjs";
import { heading, kib, line, percent, table, yesNo } from "../support/print.mjs";

/** Issue #5's budget for the gzip size of the deployed bundle. */
const BUDGET_BYTES = 40 * 1024;
/** The figure for the openai SDK; it is not installed here, so it cannot be measured. */
const OPENAI_SDK_GZIP_KIB = 180;
/** Same level as scripts/bundle-size.mjs, so both print the same figure. */
const GZIP_LEVEL = 9;

/** Where the bytes are: this many of the largest packages and modules. */
const ATTRIBUTION_ROWS = 16;

/** The same esbuild settings wrangler uses for a module worker, for the reference bundles. */
const REFERENCES = [
  {
    label: "hono + jose, everything exported",
    source: 'import { Hono } from "hono"; import * as jose from "jose"; export default { Hono, jose };',
  },
  {
    label: "hono + jose, only what chatkit-gate imports",
    source:
      'import { Hono } from "hono/tiny"; import { createMiddleware } from "hono/factory"; import { matchedRoutes } from "hono/route";' +
      ' import { base64url, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";' +
      " export default { Hono, createMiddleware, matchedRoutes, base64url, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify };",
  },
];

const gzipSize = (bytes) => gzipSync(bytes, { level: GZIP_LEVEL }).length;

async function referenceSize(source, projectDir) {
  const result = await build({
    stdin: { contents: source, resolveDir: projectDir, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    write: false,
    logLevel: "silent",
  });
  const bytes = result.outputFiles[0].contents;
  return { raw: bytes.length, gzip: gzipSize(bytes) };
}

export async function bundleSection({ bundle, projectDir }) {
  heading(1, "Bundle: wrangler deploy --dry-run --outdir, gzip -9");
  const gzip = gzipSize(bundle.code);
  const rows = [["bundle", "raw", "gzip", "note"]];
  rows.push([
    `chatkit-gate (${bundle.files.join(", ")})`,
    kib(bundle.code.length),
    kib(gzip),
    `budget ${kib(BUDGET_BYTES)}, ${percent(gzip / BUDGET_BYTES)} used`,
  ]);
  for (const reference of REFERENCES) {
    const size = await referenceSize(reference.source, projectDir);
    rows.push([reference.label, kib(size.raw), kib(size.gzip), "esbuild --minify, for comparison"]);
  }
  rows.push(["openai SDK", "", `~${OPENAI_SDK_GZIP_KIB}.0 KiB`, "figure from issue #5; not installed, not measured"]);
  table(rows);
  const shares = attributeBundle(bundle.entry, GZIP_LEVEL).slice(0, ATTRIBUTION_ROWS);
  line("   where the gzip bytes are (the bundle's gzip without each package or module, from its source map):");
  line(`   ${shares.map(({ group, bytes }) => `${group} ${(bytes / 1024).toFixed(2)}`).join(", ")} KiB`);
  const ok = gzip <= BUDGET_BYTES;
  line(`   goal gzip ≤ ${kib(BUDGET_BYTES)}: ${yesNo(ok)} (${kib(gzip)})`);
  return [{ goal: `bundle gzip ≤ ${kib(BUDGET_BYTES)}`, result: kib(gzip), met: ok }];
}
