// 3b (optional, `npm run bench -- diagnose`): where the gate's workerd CPU
// goes under `wrangler dev`. The same bundle runs as deployed, without the
// rate limiter binding, with console output dropped, and with neither, next
// to the floor, the floor plus one KV write, and the usual way. It is not in
// the default run because it takes about three minutes on its own.
import { join } from "node:path";
import { bundleWithoutConsole, configWithoutLimiter } from "../support/gate-variants.mjs";
import { CONNECTIONS, measuredRun, startLoadRig, startServers } from "../support/load-rig.mjs";
import { grouped, heading, line, ms, table } from "../support/print.mjs";
import { median } from "../support/stats.mjs";

/** Creates per measured run; CPU per create settles well within this. */
const REQUESTS_PER_RUN = 1_000;
/** Alternating rounds per variant; the median of three survives one disturbed round. */
const ROUNDS = 3;
/** Unmeasured creates per variant first. */
const WARMUP_REQUESTS = 200;

export async function diagnoseSection({ bundle, projectDir }) {
  heading("3b", `Where the gate's workerd CPU goes under wrangler dev (${CONNECTIONS} connections, creates)`);
  const noLimiter = configWithoutLimiter(projectDir, bundle.dir);
  const quiet = bundleWithoutConsole(bundle);
  const variants = [
    { name: "deployed", label: "chatkit-gate as deployed", config: "wrangler.toml", script: bundle.entry },
    { name: "nolimit", label: "without the rate limiter binding", config: noLimiter, script: bundle.entry },
    { name: "quiet", label: "console output dropped", config: "wrangler.toml", script: quiet },
    { name: "bare", label: "neither", config: noLimiter, script: quiet },
  ];
  const references = [
    { name: "floor", label: "floor (pass-through)", dir: "bench/floor" },
    { name: "floorkv", label: "floor + one KV put (bench/floor-kv)", dir: "bench/floor-kv" },
    { name: "usual", label: "usual way (hono/jwk)", dir: "bench/usual-way" },
  ];
  const all = [...variants, ...references];
  const rig = await startLoadRig(all.length * (WARMUP_REQUESTS + ROUNDS * REQUESTS_PER_RUN));
  try {
    const { vars } = rig;
    const servers = await startServers([
      ...variants.map(({ name, config, script }) => ({ name, cwd: projectDir, config, script, vars })),
      ...references.map(({ name, dir }) => ({ name, cwd: join(projectDir, dir), config: "wrangler.toml", vars })),
    ]);
    try {
      const runs = Object.fromEntries(all.map(({ name }) => [name, []]));
      for (const { name } of all) await measuredRun(rig, servers[name], WARMUP_REQUESTS);
      for (let round = 0; round < ROUNDS; round++) {
        for (const { name } of all) runs[name].push(await measuredRun(rig, servers[name], REQUESTS_PER_RUN));
      }
      const cpu = (name) => median(runs[name].map((r) => r.cpuMs));
      table([
        ["variant", "workerd CPU ms per create", "vs as deployed", "req/s", "failed"],
        ...all.map(({ name, label }) => [
          label,
          ms(cpu(name)),
          `${cpu(name) - cpu("deployed") >= 0 ? "+" : ""}${ms(cpu(name) - cpu("deployed"))}`,
          grouped(median(runs[name].map((r) => r.rps))),
          grouped(runs[name].reduce((sum, r) => sum + r.failed, 0)),
        ]),
      ]);
      line(`   medians of ${ROUNDS} alternating rounds of ${grouped(REQUESTS_PER_RUN)} creates each.`);
    } finally {
      await Promise.all(Object.values(servers).map((server) => server.stop()));
    }
  } finally {
    await rig.peers.close();
  }
}
