// `npm run bench`: every performance figure of issues #5 and #11 in one run.
// Speed is reported, never asserted; see docs/benchmarks.md for how to read
// it. `npm run bench -- cpu jwks` runs only the named sections; `diagnose`
// runs only when named.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleSection } from "./sections/bundle.mjs";
import { cpuSection } from "./sections/cpu.mjs";
import { diagnoseSection } from "./sections/diagnose.mjs";
import { jwksSection } from "./sections/jwks.mjs";
import { kvSection } from "./sections/kv.mjs";
import { loadSection } from "./sections/load.mjs";
import { proxySection } from "./sections/proxy.mjs";
import { buildBundle } from "./support/build.mjs";
import { line, table, yesNo } from "./support/print.mjs";

const projectDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECTIONS = [
  ["bundle", bundleSection],
  ["cpu", cpuSection],
  ["load", loadSection],
  ["diagnose", diagnoseSection],
  ["jwks", jwksSection],
  ["kv", kvSection],
  ["proxy", proxySection],
];
/** Sections run by default; `diagnose` takes as long as `load` and only explains it. */
const DEFAULT_SECTIONS = new Set(["bundle", "cpu", "load", "jwks", "kv", "proxy"]);

const only = new Set(process.argv.slice(2));
const unknown = [...only].filter((name) => !SECTIONS.some(([known]) => known === name));
if (unknown.length > 0) {
  console.error(`unknown section ${unknown.join(", ")}; known: ${SECTIONS.map(([name]) => name).join(", ")}`);
  process.exit(2);
}
const wanted = (name) => (only.size === 0 ? DEFAULT_SECTIONS.has(name) : only.has(name));

const packageVersion = (name) =>
  JSON.parse(readFileSync(join(projectDir, "node_modules", name, "package.json"), "utf8")).version;

function gitDescription() {
  try {
    const run = (...args) => execFileSync("git", args, { cwd: projectDir, encoding: "utf8" }).trim();
    const dirty = run("status", "--porcelain", "--", "src", "wrangler.toml", "package.json") !== "";
    return `${run("rev-parse", "--short", "HEAD")}${dirty ? " + uncommitted changes in src/ or config" : ""}`;
  } catch {
    return "unknown";
  }
}

function printHeader() {
  const cpu = cpus();
  line(`chatkit-gate bench, ${new Date().toISOString()}`);
  line(
    `machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
      `load average ${loadavg()
        .map((n) => n.toFixed(2))
        .join(" ")}`,
  );
  line(
    `node ${process.version}, workerd ${packageVersion("workerd")}, wrangler ${packageVersion("wrangler")}, ` +
      `commit ${gitDescription()}`,
  );
}

const started = performance.now();
printHeader();
const goals = [];
let failed = false;
const bundle = await buildBundle(projectDir);
try {
  for (const [name, section] of SECTIONS) {
    if (!wanted(name)) continue;
    try {
      goals.push(...((await section({ bundle, projectDir })) ?? []));
    } catch (error) {
      failed = true;
      line(`   FAILED: ${error.stack ?? error}`);
      // undici's "fetch failed" says why only in its cause (a refused or reset connection, a timeout), which
      // a wrapper may wrap again: print the whole chain.
      for (let cause = error.cause; cause !== undefined; cause = cause?.cause) {
        line(`   cause: ${cause?.stack ?? cause}`);
      }
    }
  }
} finally {
  bundle.remove();
}

if (goals.length > 0) {
  line();
  line("Goals of issues #5 and #11 (speed goals are reported here, never asserted)");
  table([
    ["goal", "result", "met"],
    ...goals.map(({ goal, result, met }) => [goal, result, met === undefined ? "skipped" : yesNo(met)]),
  ]);
}
line();
line(
  `bench finished in ${((performance.now() - started) / 1000).toFixed(0)} s, load average ${loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")}`,
);
if (failed) process.exitCode = 1;
