// 3. Through workerd under load: autocannon against `wrangler dev` for
// chatkit-gate (the built bundle), the floor and the usual way, in
// alternating rounds, all against the same local peers.
import { join } from "node:path";
import { CONNECTIONS, measuredRun, startLoadRig, startServers } from "../support/load-rig.mjs";
import { grouped, heading, line, ms, percent, ratio, table, yesNo } from "../support/print.mjs";
import { median, spread } from "../support/stats.mjs";

/** Creates per measured run: a few seconds per run on this machine; 10 samples lie above the p99. */
const REQUESTS_PER_RUN = 1_000;
/** Measured runs per worker, alternating gate, floor, usual way; the median is reported. */
const ROUNDS = 3;
/** Unmeasured creates per worker first: JIT, the JWKS fetch and KV set-up happen here. */
const WARMUP_REQUESTS = 300;
/** Issue #5's goal: the gate keeps at least this share of the floor's throughput. */
const FLOOR_GOAL = 0.7;
/** Past this share of failed answers, a run measured errors rather than creates, and says so. */
const MAX_FAILURE_SHARE = 0.01;

const WORKERS = [
  { name: "gate", label: "chatkit-gate" },
  { name: "floor", label: "floor (pass-through)" },
  { name: "usual", label: "usual way (hono/jwk)" },
];

export async function loadSection({ bundle, projectDir }) {
  heading(
    3,
    `Through workerd under load: wrangler dev + autocannon, ${CONNECTIONS} connections, ${grouped(REQUESTS_PER_RUN)} creates per run`,
  );
  const rig = await startLoadRig(WORKERS.length * (WARMUP_REQUESTS + ROUNDS * REQUESTS_PER_RUN));
  try {
    const { vars } = rig;
    const servers = await startServers([
      { name: "gate", cwd: projectDir, config: "wrangler.toml", script: bundle.entry, vars },
      { name: "floor", cwd: join(projectDir, "bench/floor"), config: "wrangler.toml", vars },
      { name: "usual", cwd: join(projectDir, "bench/usual-way"), config: "wrangler.toml", vars },
    ]);
    try {
      const runs = Object.fromEntries(WORKERS.map(({ name }) => [name, []]));
      const jwks = Object.fromEntries(WORKERS.map(({ name }) => [name, { warmup: 0, measured: 0 }]));
      for (const { name } of WORKERS) {
        const warm = await measuredRun(rig, servers[name], WARMUP_REQUESTS);
        if (warm.failed > 0) throw new Error(`${name} failed ${warm.failed} of ${WARMUP_REQUESTS} warm-up creates`);
        jwks[name].warmup = warm.jwks;
      }
      for (let round = 0; round < ROUNDS; round++) {
        for (const { name } of WORKERS) {
          const result = await measuredRun(rig, servers[name], REQUESTS_PER_RUN);
          jwks[name].measured += result.jwks;
          runs[name].push(result);
        }
      }
      return report(runs, jwks);
    } finally {
      await Promise.all(Object.values(servers).map((server) => server.stop()));
    }
  } finally {
    await rig.peers.close();
  }
}

function report(runs, jwks) {
  const rows = [["round", ...WORKERS.map(({ label }) => label)]];
  for (let round = 0; round < ROUNDS; round++) {
    rows.push([
      String(round + 1),
      ...WORKERS.map(({ name }) => {
        const r = runs[name][round];
        const failed = r.failed > 0 ? `, ${r.failed} failed` : "";
        return `${grouped(r.rps)} req/s, p50 ${ms(r.p50)}, p99 ${ms(r.p99)} ms, CPU ${ms(r.cpuMs)} ms${failed}`;
      }),
    ]);
  }
  table(rows);
  line();
  const figures = Object.fromEntries(
    WORKERS.map(({ name }) => {
      const list = runs[name];
      const pick = (key) => list.map((r) => r[key]);
      return [
        name,
        {
          rps: median(pick("rps")),
          p50: median(pick("p50")),
          p99: median(pick("p99")),
          cpuMs: median(pick("cpuMs")),
          rpsSpread: spread(pick("rps")),
          p99Spread: spread(pick("p99")),
          failedShare: pick("failed").reduce((a, b) => a + b, 0) / pick("answered").reduce((a, b) => a + b, 0),
        },
      ];
    }),
  );
  table([
    ["median of rounds", "req/s", "p50 ms", "p99 ms", "workerd CPU ms", "req/s spread", "p99 spread", "failed"],
    ...WORKERS.map(({ name, label }) => {
      const f = figures[name];
      return [
        label,
        grouped(f.rps),
        ms(f.p50),
        ms(f.p99),
        ms(f.cpuMs),
        percent(f.rpsSpread),
        percent(f.p99Spread),
        percent(f.failedShare),
      ];
    }),
  ]);
  line("   spread: (max - min) / median over the rounds; the rounds alternate gate, floor, usual way.");
  line(
    "   workerd CPU ms: CPU time of the worker's workerd processes (wrangler dev's proxy included) per create, from /proc.",
  );
  const { gate, floor, usual } = figures;
  const floorRatio = gate.rps / floor.rps;
  line(
    `   gate / floor throughput: ${ratio(floorRatio)} (goal ≥ ${ratio(FLOOR_GOAL)}: ${yesNo(floorRatio >= FLOOR_GOAL)})`,
  );
  line(
    `   gate / floor workerd CPU per create: ${ratio(gate.cpuMs / floor.cpuMs)}, gate / usual way: ${ratio(gate.cpuMs / usual.cpuMs)}`,
  );
  line(
    `   gate / usual way throughput: ${ratio(gate.rps / usual.rps)} (goal > 1: ${yesNo(gate.rps > usual.rps)}); ` +
      `p99 ${ms(gate.p99)} vs ${ms(usual.p99)} ms (goal lower: ${yesNo(gate.p99 < usual.p99)})`,
  );
  line(
    `   JWKS fetches seen by the issuer, warm-up (${grouped(WARMUP_REQUESTS)} creates, ${CONNECTIONS} at once from cold) / ` +
      `measured (${grouped(ROUNDS * REQUESTS_PER_RUN)} creates): ` +
      WORKERS.map(({ name, label }) => `${label} ${jwks[name].warmup} / ${jwks[name].measured}`).join(", "),
  );
  const failing = WORKERS.filter(({ name }) => figures[name].failedShare > MAX_FAILURE_SHARE);
  if (failing.length > 0) line(`   WARNING: more than 1% failed for ${failing.map((w) => w.label).join(", ")}`);
  return [
    {
      goal: `workerd throughput ≥ ${ratio(FLOOR_GOAL)} the floor`,
      result: ratio(floorRatio),
      met: floorRatio >= FLOOR_GOAL,
    },
    {
      goal: "workerd throughput ahead of the usual way",
      result: ratio(gate.rps / usual.rps),
      met: gate.rps > usual.rps,
    },
    {
      goal: "workerd p99 below the usual way",
      result: `${ms(gate.p99)} vs ${ms(usual.p99)} ms`,
      met: gate.p99 < usual.p99,
    },
  ];
}
