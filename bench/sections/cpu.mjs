// 2. The worker's own cost per request, in this process: the built bundle's
// fetch with an in-memory KV and peers that answer at once, against the floor
// of a bare jose.jwtVerify of the same token with an already-imported key.
import { jwtVerify } from "jose";
import { measure } from "mitata";
import { installFakePeers } from "../support/fake-peers.mjs";
import { MemoryKV } from "../support/memory-kv.mjs";
import { grouped, heading, line, percent, ratio, table, yesNo } from "../support/print.mjs";
import { median, spread } from "../support/stats.mjs";
import { createKeys, importHmac, jwksOf, mint, mintAsymmetric } from "../support/tokens.mjs";
import {
  BASE_VARS,
  caller,
  coldIsolate,
  countKeyImports,
  isolateEnv,
  scopeTimeoutsToRequests,
  silenceConsole,
} from "../support/worker-instance.mjs";

/** Issue #5: a create may cost at most this multiple of the bare verification. */
const CREATE_GOAL_RATIO = 1.5;
/** Each benchmark runs this many times, alternating with the others, so one noisy moment cannot decide a figure. */
const ROUNDS = 3;
/** mitata samples each benchmark for at least this long per round (in ns); 3 rounds keep the section near a minute. */
const MIN_SAMPLE_NS = 400e6;
/**
 * Every sample times one call: mitata would otherwise time calls under 65 µs
 * (the fast floors) in batches of 4096, and a batch's p99 is not a call's p99.
 * No forced GC: without --expose-gc, mitata's fallback allocates 1 GiB.
 * A fresh object per call, because mitata writes its settings (and a
 * generator's per-call inputs) into the object it is given.
 */
const mitataOptions = () => ({ min_cpu_time: MIN_SAMPLE_NS, batch_threshold: 0, gc: false });
/**
 * Each benchmark runs this long before the first round. V8 needs a few
 * thousand requests (2-3 s here) before the worker's code settles at its
 * optimised speed; the benchmarks share most of that code, so each needs less.
 */
const WARMUP_MS = 1_000;
/** A user's live sessions at the README's 10 creates a minute and 10-minute sessions: a handful. */
const LIST_SESSIONS = 5;

const SESSIONS = "/v1/chatkit/sessions";
const sessionIdOf = (answer) => JSON.parse(answer.body).session_id;

/** Calls the worker and refuses any unexpected status, so an error path is never benchmarked by mistake. */
function expecting(call, status) {
  return async (method, path, token) => {
    const answer = await call(method, path, token);
    if (answer.status !== status) throw new Error(`${method} ${path} answered ${answer.status}: ${answer.body}`);
    return answer;
  };
}

/** One HS256 token and imported key per reading of the secret; made before key imports are counted. */
async function hs256Candidates(keys) {
  const candidates = [];
  for (const [reading, bytes] of Object.entries(keys.hs256.readings)) {
    candidates.push({ reading, token: await mint(bytes, "HS256"), key: await importHmac(bytes) });
  }
  return candidates;
}

/**
 * Finds whether this build accepts HS256 (AUTH_HS256_SECRET with
 * AUTH_ALGORITHMS=HS256), and which reading of the secret it uses.
 */
async function detectHs256(candidates, call) {
  let refusal;
  for (const candidate of candidates) {
    const answer = await call("GET", SESSIONS, candidate.token);
    if (answer.status === 200) return { supported: true, ...candidate };
    refusal ??= `${answer.status} ${answer.body.match(/"code":"([^"]+)"/)?.[1] ?? ""}`.trim();
  }
  return { supported: false, refusal, ...candidates[0] };
}

/** The benchmarks of one algorithm: name → { run, prepare? }. `prepare` makes per-call input outside the timing. */
function suiteFor({ token, key, call, kv }) {
  const created = expecting(call, 201);
  const ok = expecting(call, 200);
  let sessionId;
  return {
    floor: { reset: () => {}, run: () => jwtVerify(token, key) },
    create: { reset: () => kv.clearSessions(), run: () => created("POST", SESSIONS, token) },
    get: {
      reset: async () => {
        kv.clearSessions();
        sessionId = sessionIdOf(await created("POST", SESSIONS, token));
      },
      run: () => ok("GET", `${SESSIONS}/${sessionId}`, token),
    },
    cancel: {
      reset: () => kv.clearSessions(),
      prepare: async () => sessionIdOf(await created("POST", SESSIONS, token)),
      run: (id) => ok("POST", `${SESSIONS}/${id}/cancel`, token),
    },
    list: {
      reset: async () => {
        kv.clearSessions();
        for (let i = 0; i < LIST_SESSIONS; i++) await created("POST", SESSIONS, token);
      },
      run: () => ok("GET", SESSIONS, token),
    },
  };
}

async function measureOne(bench) {
  if (bench.prepare === undefined) return measure(bench.run, mitataOptions());
  return measure(function* () {
    yield { 0: bench.prepare, bench: bench.run };
  }, mitataOptions());
}

async function warmUp(bench) {
  await bench.reset();
  const until = performance.now() + WARMUP_MS;
  while (performance.now() < until) await bench.run(bench.prepare ? await bench.prepare() : undefined);
}

/** Context rows: what the Node harness itself costs, so the ratios can be read. */
function contextBenchmarks(call) {
  const ok = expecting(call, 200);
  const user = new TextEncoder().encode("bench|alice");
  return {
    "harness only: one Request built, one JSON Response read, no worker": {
      reset: () => {},
      run: async () => [new Request("https://gate.bench.example/healthz"), await Response.json({ ok: 1 }).text()],
    },
    "GET /healthz through the worker (routing, config, CORS, log; no token)": {
      reset: () => {},
      run: () => ok("GET", "/healthz"),
    },
    "one async Node WebCrypto call (SHA-256 of the user)": {
      reset: () => {},
      run: () => crypto.subtle.digest("SHA-256", user),
    },
  };
}

export async function cpuSection({ bundle }) {
  heading(2, "CPU per request, in process: the bundle's fetch on Node, in-memory KV, peers that answer at once");
  const keys = await createKeys();
  const tokens = { RS256: await mintAsymmetric(keys.RS256), ES256: await mintAsymmetric(keys.ES256) };
  const candidates = await hs256Candidates(keys);
  const kv = new MemoryKV();
  const peers = installFakePeers(jwksOf(keys));
  const imports = countKeyImports();
  const quiet = silenceConsole();
  const timeouts = scopeTimeoutsToRequests();
  const served = { requests: 0 };
  try {
    const worker = await coldIsolate(bundle.entry);
    const asymmetric = isolateEnv(BASE_VARS, kv);
    const symmetric = isolateEnv(
      { ...BASE_VARS, AUTH_ALGORITHMS: "HS256", AUTH_JWKS_URL: "", AUTH_HS256_SECRET: keys.hs256.secret },
      kv,
    );
    const callAsymmetric = caller(worker, asymmetric.env, served);
    const callSymmetric = caller(worker, symmetric.env, served);

    const hs256 = await detectHs256(candidates, callSymmetric);
    const algorithms = [
      { alg: "RS256", token: tokens.RS256, key: keys.RS256.publicKey, call: callAsymmetric },
      { alg: "ES256", token: tokens.ES256, key: keys.ES256.publicKey, call: callAsymmetric },
      { alg: "HS256", token: hs256.token, key: hs256.key, call: callSymmetric, unsupported: !hs256.supported },
    ];
    const benchmarks = [];
    for (const algorithm of algorithms) {
      const suite = suiteFor({ ...algorithm, kv });
      for (const [name, bench] of Object.entries(suite)) {
        if (algorithm.unsupported && name !== "floor") continue;
        benchmarks.push({ alg: algorithm.alg, name, bench, rounds: [] });
      }
    }
    for (const [name, bench] of Object.entries(contextBenchmarks(callAsymmetric))) {
      benchmarks.push({ alg: "", name, bench, rounds: [], context: true });
    }

    for (const entry of benchmarks) await warmUp(entry.bench);
    const before = {
      imports: imports.counter.imports,
      parses: asymmetric.counter.parses + symmetric.counter.parses,
      jwks: peers.counts.jwks,
      discovery: peers.counts.discovery,
      requests: served.requests,
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const entry of benchmarks) {
        await entry.bench.reset();
        entry.rounds.push(await measureOne(entry.bench));
      }
    }
    kv.clearSessions();
    const after = {
      imports: imports.counter.imports,
      parses: asymmetric.counter.parses + symmetric.counter.parses,
      jwks: peers.counts.jwks,
      discovery: peers.counts.discovery,
      requests: served.requests,
    };
    return report({ benchmarks, algorithms, hs256, before, after, unexpected: peers.counts.unexpected });
  } finally {
    timeouts.restore();
    quiet.restore();
    imports.restore();
    peers.restore();
  }
}

function report({ benchmarks, algorithms, hs256, before, after, unexpected }) {
  const figure = (entry) => ({
    avg: median(entry.rounds.map((s) => s.avg)),
    p50: median(entry.rounds.map((s) => s.p50)),
    p99: median(entry.rounds.map((s) => s.p99)),
    spread: spread(entry.rounds.map((s) => s.avg)),
  });
  const rows = [["alg", "request", "ns/op avg", "p50", "p99", "spread", "× floor", "µs over floor"]];
  const createRatios = {};
  for (const { alg, unsupported } of algorithms) {
    const mine = benchmarks.filter((entry) => entry.alg === alg);
    const floor = figure(mine.find((entry) => entry.name === "floor"));
    for (const entry of mine) {
      const f = figure(entry);
      const label = entry.name === "floor" ? "floor: jose.jwtVerify, key already imported" : entry.name;
      const over = entry.name === "floor" ? "" : ((f.avg - floor.avg) / 1000).toFixed(0);
      rows.push([
        alg,
        label,
        grouped(f.avg),
        grouped(f.p50),
        grouped(f.p99),
        percent(f.spread),
        ratio(f.avg / floor.avg),
        over,
      ]);
      if (entry.name === "create") createRatios[alg] = f.avg / floor.avg;
    }
    if (unsupported) rows.push([alg, "create, get, cancel, list", "not supported by this build", "", "", "", "", ""]);
  }
  table(rows);
  line();
  table([
    ["context (same process, same rounds)", "ns/op avg", "p50", "spread"],
    ...benchmarks
      .filter((entry) => entry.context)
      .map((entry) => {
        const f = figure(entry);
        return [entry.name, grouped(f.avg), grouped(f.p50), percent(f.spread)];
      }),
  ]);
  line(
    `   ns/op: median over ${ROUNDS} alternating rounds of mitata's mean; spread: (max - min) / median of the rounds.`,
  );
  if (!hs256.supported) line(`   HS256: not supported by this build (a valid HS256 token got ${hs256.refusal}).`);
  else line(`   HS256: supported; the worker reads AUTH_HS256_SECRET as ${hs256.reading} bytes.`);

  const verdicts = Object.entries(createRatios).map(
    ([alg, value]) => `${alg} ${ratio(value)} ${yesNo(value <= CREATE_GOAL_RATIO)}`,
  );
  line(`   goal create ≤ ${ratio(CREATE_GOAL_RATIO)} the floor: ${verdicts.join(", ")}`);
  const measured = after.requests - before.requests;
  const delta = (name) => after[name] - before[name];
  line(
    `   per-request work over ${grouped(measured)} measured requests: key imports ${delta("imports")}, ` +
      `config parses ${delta("parses")}, JWKS fetches ${delta("jwks")}, discovery fetches ${delta("discovery")}`,
  );
  line(
    `   (once per isolate, during warm-up: key imports ${before.imports}, config parses ${before.parses}, ` +
      `JWKS fetches ${before.jwks})`,
  );
  const none = delta("imports") === 0 && delta("parses") === 0 && delta("jwks") + delta("discovery") === 0;
  line(`   goal no per-request key import, config parse or JWKS fetch: ${yesNo(none)}`);
  if (unexpected > 0) line(`   WARNING: ${unexpected} fetches went to no known peer`);
  return [
    ...Object.entries(createRatios).map(([alg, value]) => ({
      goal: `${alg} create ≤ ${ratio(CREATE_GOAL_RATIO)} jose.jwtVerify (in process)`,
      result: ratio(value),
      met: value <= CREATE_GOAL_RATIO,
    })),
    ...(hs256.supported ? [] : [{ goal: "HS256 create", result: "not supported by this build", met: false }]),
    {
      goal: "no per-request key import, config parse or JWKS fetch",
      result: `${delta("imports")} / ${delta("parses")} / ${delta("jwks") + delta("discovery")}`,
      met: none,
    },
  ];
}
