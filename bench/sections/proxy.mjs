// 6. Self-hosted proxy overhead (issue #11, goal 4): `POST /chatkit` through
// the gate against the same request straight to a ChatKit server stand-in
// (bench/support/chatkit-server-stand-in.mjs). In process: CPU per proxied
// request against a direct call, KV operations per proxied request counted on
// the in-memory KV, and the heap across a long stream. Under `wrangler dev`:
// time to first event, streamed bytes per second and workerd's memory across
// a long stream, with bench/floor-proxy (a bare pass-through worker) to price
// wrangler dev's own hop. Until the build serves `/chatkit` in self-hosted
// mode, the section says so and skips.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { exportJWK, generateKeyPair, importJWK, jwtVerify } from "jose";
import { measure } from "mitata";
import floorProxy from "../floor-proxy/worker.mjs";
import { chatKitRequestBody, handleChatKitRequest } from "../support/chatkit-server-stand-in.mjs";
import { installFakePeers } from "../support/fake-peers.mjs";
import { bundleWithoutConsole } from "../support/gate-variants.mjs";
import { EMPTY_CALL, interleave } from "../support/interleaved.mjs";
import { CONNECTIONS, startLoadRig, startServers } from "../support/load-rig.mjs";
import { MemoryKV } from "../support/memory-kv.mjs";
import { grouped, heading, line, ms, percent, ratio, table, yesNo } from "../support/print.mjs";
import { workerdRssBytes } from "../support/process-cpu.mjs";
import { median, spread } from "../support/stats.mjs";
import { createKeys, jwksOf, mintAsymmetric } from "../support/tokens.mjs";
import {
  BASE,
  BASE_VARS,
  caller,
  coldIsolate,
  isolateEnv,
  ORIGIN,
  scopeTimeoutsToRequests,
  silenceConsole,
} from "../support/worker-instance.mjs";

/** Goal 4: the CPU a proxied request adds over a direct call, at most this multiple of a bare ES256 jwtVerify. */
const ADDED_CPU_GOAL = 1;
/** Goal 4: KV operations per proxied request, at most. */
const KV_GOAL = { read: 1, write: 0 };
/** Goal 4: time to first event through the gate, at most the direct p50 plus this (ms), under wrangler dev. */
const FIRST_EVENT_GOAL_MS = 5;
/** Goal 4: streamed bytes per second through the gate, at least this share of direct. */
const THROUGHPUT_GOAL = 0.9;
/**
 * Goal 4: memory flat across a long stream. Growth beyond this over the
 * stream counts as not flat: far below the stream's own size, so buffering
 * any real part of it shows, and above the noise of a collected heap.
 */
const FLAT_HEAP_BYTES = 4 * 2 ** 20;
/** workerd's resident memory moves with its allocator and wrangler's proxy; a buffered stream would add its size. */
const FLAT_RSS_BYTES = 8 * 2 ** 20;

/** The in-process server URL, answered by the stand-in through the fake peers' fetch. */
const SERVER_URL = "https://chatkit-server.bench.test/chatkit";
/** Settings only hosted mode reads; in self-hosted mode they are config_invalid, so they go. */
const HOSTED_ONLY = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "CHATKIT_CONFIGURATION"];
/**
 * The per-session limit stays on (its cost is part of every request) but is
 * set to the gate's highest allowed value, and requests rotate over
 * {@link SESSIONS_IN_ROTATION} sessions, so a benchmark's thousands of calls a
 * second stay under it.
 */
const REQUESTS_PER_MINUTE = "10000";
/** Few enough for the gate's opened-secret cache (512), enough to keep each session under the limit. */
const SESSIONS_IN_ROTATION = 64;
/** Many short alternating rounds, as in the CPU section (bench/sections/cpu.mjs, ROUNDS). */
const ROUNDS = 9;
const MIN_SAMPLE_NS = 100e6;
/** Under wrangler dev: long streams per target for bytes per second; each takes seconds, and their spread is printed. */
const STREAM_ROUNDS = 3;
const WARMUP_MS = 1_000;
const mitataOptions = () => ({ min_cpu_time: MIN_SAMPLE_NS, batch_threshold: 0, gc: false });
/**
 * Turns per round of the side-by-side CPU measurement (bench/support/interleaved.mjs):
 * each turn calls every benchmark once, so each benchmark is timed 700 times
 * a round, and GC pauses and the CPU clock's 1 µs grain average out over them.
 */
const CPU_TURNS = 700;
/** New sessions whose first proxied request is counted, then this many requests on sessions already used. */
const KV_FIRST_REQUESTS = 20;
const KV_REPEAT_REQUESTS = 200;
/** The in-process long stream: events of 200 bytes, as text deltas are; heap sampled after a GC every 4 MiB. */
const HEAP_STREAM_BYTES = 64 * 2 ** 20;
const HEAP_SAMPLE_EVERY_BYTES = 4 * 2 ** 20;
const EVENT_BYTES = 200;
/** Under wrangler dev: sequential requests per target for time to first event, alternating targets. */
const FIRST_EVENT_REQUESTS = 200;
/**
 * Under wrangler dev: one stream of this size per target and round for bytes
 * per second. Its proxy passes a few MiB/s of 200-byte events, so 8 MiB is a
 * few seconds a stream.
 */
const THROUGHPUT_STREAM_BYTES = 8 * 2 ** 20;
/** Under wrangler dev: the long stream through the gate while workerd's memory is sampled: 4× the flat tolerance. */
const RSS_STREAM_BYTES = 32 * 2 ** 20;
const RSS_SAMPLE_MS = 250;

const STREAM_HEADERS = { "content-type": "application/json", accept: "text/event-stream" };
const JSON_HEADERS = { "content-type": "application/json", accept: "application/json" };
const SESSIONS = "/v1/chatkit/sessions";
const eventsFor = (bytes) => Math.ceil(bytes / EVENT_BYTES);

/** A GATE_SIGNING_KEY: a private EC P-256 JWK with a kid. */
async function signingKey() {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const { kty, crv, d, x, y } = await exportJWK(privateKey);
  return JSON.stringify({ kty, crv, kid: "bench-gate-1", d, x, y });
}

export async function proxySection({ bundle, projectDir }) {
  heading(6, "Self-hosted proxy overhead: POST /chatkit through the gate against the ChatKit server stand-in directly");
  const gateKey = await signingKey();
  const inProcess = await inProcessPart(bundle, gateKey);
  if (!inProcess.available) {
    line(`   self-hosted mode not available in this build (${inProcess.reason}); section skipped.`);
    return [
      { goal: "#11.4 self-hosted proxy overhead", result: "skipped: self-hosted mode not available in this build" },
    ];
  }
  const underWorkerd = await workerdPart(bundle, projectDir, gateKey);
  return [...inProcess.goals, ...underWorkerd];
}

/**
 * Whether this build serves POST /chatkit in self-hosted mode; `reason` says
 * why not. A build without the mode asks for OPENAI_API_KEY or refuses
 * CHATKIT_MODE, or has no /chatkit route; any other failure is the bench's or
 * the gate's, and fails the section instead of hiding as "not available".
 */
async function probe(call, token) {
  const created = await call("POST", SESSIONS, token);
  const code = (answer) => `${answer.status} ${answer.body.match(/"code":"([^"]+)"/)?.[1] ?? ""}`.trim();
  if (created.status === 503 && /OPENAI_API_KEY|CHATKIT_MODE/.test(created.body)) {
    return { available: false, reason: `a self-hosted create answered ${code(created)}` };
  }
  if (created.status !== 201) throw new Error(`a self-hosted create answered ${created.status}: ${created.body}`);
  const secret = JSON.parse(created.body).client_secret;
  const proxied = await call("POST", "/chatkit", secret, {
    headers: STREAM_HEADERS,
    body: chatKitRequestBody("threads.add_user_message"),
  });
  if (proxied.status === 404) return { available: false, reason: `POST /chatkit answered ${code(proxied)}` };
  if (proxied.status !== 200 || !proxied.body.startsWith("data: ")) {
    throw new Error(`POST /chatkit answered ${proxied.status}: ${proxied.body.slice(0, 300)}`);
  }
  return { available: true };
}

async function inProcessPart(bundle, gateKey) {
  const keys = await createKeys();
  const token = await mintAsymmetric(keys.ES256);
  const kv = new MemoryKV();
  const peers = installFakePeers(jwksOf(keys), { server: { url: SERVER_URL, handle: handleChatKitRequest } });
  const quiet = silenceConsole();
  const timeouts = scopeTimeoutsToRequests();
  try {
    const vars = Object.fromEntries(Object.entries(BASE_VARS).filter(([name]) => !HOSTED_ONLY.includes(name)));
    Object.assign(vars, {
      CHATKIT_MODE: "self-hosted",
      CHATKIT_SERVER_URL: SERVER_URL,
      GATE_SIGNING_KEY: gateKey,
      SESSION_MAX_REQUESTS_PER_MINUTE: REQUESTS_PER_MINUTE,
    });
    const worker = await coldIsolate(bundle.entry);
    const { env } = isolateEnv(vars, kv);
    const call = caller(worker, env);
    const found = await probe(call, token);
    if (!found.available) return found;

    const secrets = [];
    for (let i = 0; i < SESSIONS_IN_ROTATION; i++) {
      secrets.push(JSON.parse((await call("POST", SESSIONS, token)).body).client_secret);
    }
    let turn = 0;
    const nextSecret = () => secrets[turn++ % secrets.length];
    const direct = async (body, headers) => {
      const answer = await handleChatKitRequest(new Request(SERVER_URL, { method: "POST", headers, body }));
      return { status: answer.status, body: await answer.text() };
    };
    const ok = (answer) => {
      if (answer.status !== 200) throw new Error(`a proxied request answered ${answer.status}: ${answer.body}`);
    };
    const stream = chatKitRequestBody("threads.add_user_message");
    const list = chatKitRequestBody("threads.list");
    const signature = await bareSignature(gateKey);
    // bench/floor-proxy in this process: what a bare pass-through costs Node here (its Request, its fetch
    // to the stand-in, and the answer's stream handed on through a new Response, chunk by chunk in JS).
    const floor = caller(floorProxy, { CHATKIT_SERVER_URL: SERVER_URL });
    const benchmarks = [
      {
        name: "verify",
        label: "floor: jose.jwtVerify ES256, key already imported",
        run: () => jwtVerify(token, keys.ES256.publicKey),
      },
      {
        name: "sign",
        label: "floor: one assertion's ES256 signature (crypto.subtle.sign)",
        run: signature,
      },
      {
        name: "direct stream",
        label: "direct: threads.add_user_message, 6 events",
        run: async () => ok(await direct(stream, STREAM_HEADERS)),
      },
      {
        name: "gate stream",
        label: "through the gate: threads.add_user_message, 6 events",
        run: async () => ok(await call("POST", "/chatkit", nextSecret(), { headers: STREAM_HEADERS, body: stream })),
      },
      {
        name: "floor stream",
        label: "bench/floor-proxy: threads.add_user_message, 6 events",
        run: async () => ok(await floor("POST", "/chatkit", undefined, { headers: STREAM_HEADERS, body: stream })),
      },
      {
        name: "direct json",
        label: "direct: threads.list (JSON)",
        run: async () => ok(await direct(list, JSON_HEADERS)),
      },
      {
        name: "floor json",
        label: "bench/floor-proxy: threads.list (JSON)",
        run: async () => ok(await floor("POST", "/chatkit", undefined, { headers: JSON_HEADERS, body: list })),
      },
      {
        name: "gate json",
        label: "through the gate: threads.list (JSON)",
        run: async () => ok(await call("POST", "/chatkit", nextSecret(), { headers: JSON_HEADERS, body: list })),
      },
    ].map((entry) => ({ ...entry, rounds: [] }));
    for (const entry of benchmarks) {
      const until = performance.now() + WARMUP_MS;
      while (performance.now() < until) await entry.run();
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const entry of benchmarks) entry.rounds.push(await measure(entry.run, mitataOptions()));
    }
    // mitata times each call on the wall clock, which also counts waits: Node runs WebCrypto on its thread
    // pool, so a signature or a verify is partly an idle wait for the main thread. Workers bill CPU time,
    // so each call is also priced by the process's CPU time (every thread), side by side: the gate, the
    // direct call and the verify the goal compares them with run call by call, in an order shuffled each turn.
    const sideBySide = await interleave(benchmarks, { rounds: ROUNDS, turns: CPU_TURNS });

    // KV operations: the first request of new sessions, then requests on sessions already used.
    const fresh = [];
    for (let i = 0; i < KV_FIRST_REQUESTS; i++)
      fresh.push(JSON.parse((await call("POST", SESSIONS, token)).body).client_secret);
    const kvCount = async (secretsToUse, amount) => {
      kv.resetCounts();
      for (let i = 0; i < amount; i++) {
        ok(
          await call("POST", "/chatkit", secretsToUse[i % secretsToUse.length], {
            headers: STREAM_HEADERS,
            body: stream,
          }),
        );
      }
      const all = (kind) => kv.counts.session[kind] + kv.counts.other[kind];
      return { read: all("read") / amount, write: (all("write") + all("delete")) / amount, list: all("list") / amount };
    };
    const kvFirst = await kvCount(fresh, KV_FIRST_REQUESTS);
    const kvRepeat = await kvCount(fresh, KV_REPEAT_REQUESTS);

    const heap = await heapAcrossStream(worker, env, nextSecret());
    return {
      available: true,
      goals: reportInProcess({ benchmarks, sideBySide, kvFirst, kvRepeat, heap, unexpected: peers.counts.unexpected }),
    };
  } finally {
    timeouts.restore();
    quiet.restore();
    peers.restore();
  }
}

/**
 * The one piece of a proxied request no cache can serve: an ES256 signature
 * over an assertion-sized signing input with the gate's key, exactly the
 * WebCrypto call src/selfhosted/assertion.ts makes. Issue #10 asks for a
 * `jti` unique per request, so every proxied request signs once; this prices
 * that floor in the same process as the verify it is compared with.
 */
async function bareSignature(gateKey) {
  const { kty, crv, d, x, y } = JSON.parse(gateKey);
  const key = await importJWK({ kty, crv, d, x, y }, "ES256");
  const claims = {
    iss: BASE,
    aud: SERVER_URL,
    sub: "bench|user",
    sid: `cksess_${"x".repeat(22)}`,
    iat: 1_800_000_000,
    exp: 1_800_000_060,
    jti: "y".repeat(22),
  };
  const input = new TextEncoder().encode(`${"h".repeat(60)}.${btoa(JSON.stringify(claims))}`);
  return () => crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, input);
}

/** Streams {@link HEAP_STREAM_BYTES} through the gate, reading as it comes, with the heap after a GC every few MiB. */
async function heapAcrossStream(worker, env, secret) {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc");
  const body = chatKitRequestBody("threads.add_user_message", {
    events: eventsFor(HEAP_STREAM_BYTES),
    eventBytes: EVENT_BYTES,
  });
  const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };
  const request = new Request(`${BASE}/chatkit`, {
    method: "POST",
    headers: { ...STREAM_HEADERS, origin: ORIGIN, authorization: `Bearer ${secret}` },
    body,
  });
  const started = performance.now();
  const response = await worker.fetch(request, env, ctx);
  const reader = response.body.getReader();
  const samples = [];
  let bytes = 0;
  let next = HEAP_SAMPLE_EVERY_BYTES;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes >= next) {
      next += HEAP_SAMPLE_EVERY_BYTES;
      gc();
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      samples.push(heapUsed + arrayBuffers);
    }
  }
  return { bytes, seconds: (performance.now() - started) / 1000, samples };
}

function reportInProcess({ benchmarks, sideBySide, kvFirst, kvRepeat, heap, unexpected }) {
  const figure = Object.fromEntries(
    benchmarks.map((entry) => [
      entry.name,
      {
        avg: median(entry.rounds.map((s) => s.avg)),
        p50: median(entry.rounds.map((s) => s.p50)),
        p99: median(entry.rounds.map((s) => s.p99)),
        spread: spread(entry.rounds.map((s) => s.avg)),
        cpu: sideBySide.mean(entry.name, "cpu"),
        cpuSpread: sideBySide.spread(entry.name, "cpu"),
      },
    ]),
  );
  line("   In process (the bundle's fetch on Node, in-memory KV, the stand-in answering through fetch):");
  table([
    ["request", "ns/op avg", "p50", "p99", "spread", "CPU ns/op", "spread"],
    ...benchmarks.map(({ name, label }) => {
      const f = figure[name];
      return [
        label,
        grouped(f.avg),
        grouped(f.p50),
        grouped(f.p99),
        percent(f.spread),
        grouped(f.cpu),
        percent(f.cpuSpread),
      ];
    }),
  ]);
  line(
    `   ns/op: median over ${ROUNDS} alternating rounds of mitata's mean (wall clock); CPU ns/op: the process's CPU time ` +
      `(all threads), side by side (bench/support/interleaved.mjs): ${ROUNDS} rounds of ${grouped(CPU_TURNS)} turns, each ` +
      "turn calling every row once in an order shuffled anew each turn (seeded); the median round's mean. The gate's requests " +
      `rotate over ${SESSIONS_IN_ROTATION} sessions (SESSION_MAX_REQUESTS_PER_MINUTE ${REQUESTS_PER_MINUTE}). The clocks' own ` +
      `cost, an empty call's ${(sideBySide.mean(EMPTY_CALL, "cpu") / 1000).toFixed(1)} µs of CPU, is taken off every CPU figure.`,
  );
  /**
   * The gate's added cost on one clock: over a direct call, the signature's
   * share, and over floor-proxy, each as a share of the bare verify. On CPU
   * time the shares are taken within each side-by-side round (median round).
   */
  const addedOn = (clock) => {
    const share =
      clock === "cpu"
        ? (of) => sideBySide.ratio("cpu", of, (round) => round("verify")).value
        : (of) => of((name) => figure[name].avg) / figure.verify.avg;
    const us = clock === "cpu" ? (name) => figure[name].cpu : (name) => figure[name].avg;
    // On CPU time the difference is taken within each round too (median round), like its share.
    const difference =
      clock === "cpu"
        ? (gate, base) =>
            sideBySide.ratio(
              "cpu",
              (round) => round(gate) - round(base),
              () => 1,
            ).value
        : (gate, base) => us(gate) - us(base);
    const over = (gate, base) => ({
      ns: difference(gate, base),
      share: share((round) => round(gate) - round(base)),
    });
    const added = { stream: over("gate stream", "direct stream"), json: over("gate json", "direct json") };
    const overFloor = { stream: over("gate stream", "floor stream"), json: over("gate json", "floor json") };
    const sign = share((round) => round("sign"));
    const both = (pair) =>
      `streamed ${grouped(pair.stream.ns / 1000)} µs = ${ratio(pair.stream.share)}, JSON ${grouped(pair.json.ns / 1000)} µs = ${ratio(pair.json.share)}`;
    const within = (pair) => Math.max(pair.stream.share, pair.json.share) <= ADDED_CPU_GOAL;
    line(
      `   ${clock === "cpu" ? "CPU time" : "wall clock"}: the gate adds ${both(added)} a bare ES256 verify ` +
        `(goal ≤ ${ratio(ADDED_CPU_GOAL)}: ${yesNo(within(added))}); over floor-proxy ${both(overFloor)} (${yesNo(within(overFloor))}); ` +
        `the assertion's one signature ${grouped(us("sign") / 1000)} µs = ${ratio(sign)} of it`,
    );
    return {
      text: `streamed ${ratio(added.stream.share)}, JSON ${ratio(added.json.share)} (signature ${ratio(sign)})`,
      met: within(added),
    };
  };
  line(
    "   floor-proxy: a bare pass-through in this process, paying Node's Request, fetch and stream plumbing, which workerd does natively;",
  );
  line("   signature: the assertion's one ES256 signature per request (issue #10: a jti unique per request).");
  const wall = addedOn("avg");
  const cpu = addedOn("cpu");
  const kvMet = (ops) => ops.read <= KV_GOAL.read && ops.write <= KV_GOAL.write;
  const kvText = (ops) => `${ops.read.toFixed(2)} reads, ${ops.write.toFixed(2)} writes, ${ops.list.toFixed(2)} lists`;
  line(
    `   KV per proxied request: first request of a session ${kvText(kvFirst)}; later requests ${kvText(kvRepeat)} ` +
      `(goal ≤ ${KV_GOAL.read} read, ${KV_GOAL.write} writes: ${yesNo(kvMet(kvFirst) && kvMet(kvRepeat))})`,
  );
  const steady = heap.samples.slice(1);
  const growth = steady.length > 1 ? steady.at(-1) - steady[0] : 0;
  const peak = steady.length > 0 ? Math.max(...steady) - steady[0] : 0;
  const heapFlat = growth <= FLAT_HEAP_BYTES && peak <= FLAT_HEAP_BYTES;
  line(
    `   heap (after GC) across a ${mib(heap.bytes)} stream through the gate, ${heap.samples.length} samples: ` +
      `${mib(steady[0] ?? 0)} after the first ${mib(2 * HEAP_SAMPLE_EVERY_BYTES)}, peak +${mib(peak)}, end ${growth >= 0 ? "+" : ""}${mib(growth)} ` +
      `(goal flat, within ${mib(FLAT_HEAP_BYTES)}: ${yesNo(heapFlat)}); ${mib(heap.bytes / heap.seconds)}/s in process`,
  );
  if (unexpected > 0) line(`   WARNING: ${unexpected} fetches went to no known peer`);
  return [
    {
      goal: `#11.4 added CPU per proxied request ≤ ${ratio(ADDED_CPU_GOAL)} ES256 jwtVerify (in process, CPU time)`,
      result: `${cpu.text}; wall clock ${wall.text}`,
      met: cpu.met,
    },
    {
      goal: `#11.4 KV per proxied request ≤ ${KV_GOAL.read} read, ${KV_GOAL.write} writes`,
      result: `first ${kvFirst.read.toFixed(2)} r / ${kvFirst.write.toFixed(2)} w, later ${kvRepeat.read.toFixed(2)} r / ${kvRepeat.write.toFixed(2)} w`,
      met: kvMet(kvFirst) && kvMet(kvRepeat),
    },
    {
      goal: "#11.4 heap flat across a long stream (in process)",
      result: `${mib(heap.bytes)} streamed, end ${growth >= 0 ? "+" : ""}${mib(growth)}`,
      met: heapFlat,
    },
  ];
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** One POST to `url`: time to the first body chunk, then the rest read and counted. */
async function timedStream(url, body, headers) {
  const started = performance.now();
  const response = await fetch(url, { method: "POST", headers: { ...headers, origin: ORIGIN }, body });
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  const reader = response.body.getReader();
  let first;
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    first ??= performance.now();
    bytes += value.byteLength;
  }
  const ended = performance.now();
  return { firstMs: first - started, bytes, streamSeconds: (ended - first) / 1000 };
}

/**
 * `wrangler dev` can restart its workerd once more just after it first
 * answers (one run of the bench lost the section to a refused connection
 * there). A call that could not connect (refused, or reset before any
 * answer) is tried again, at most
 * {@link CONNECT_ATTEMPTS} times, {@link CONNECT_RETRY_MS} apart; any answer,
 * whatever its status, is returned as it is.
 */
const CONNECT_ATTEMPTS = 3;
const CONNECT_RETRY_MS = 1_000;

/** undici's codes for a connection refused or dropped before any answer: nothing was processed, so a retry is safe. */
const NOT_CONNECTED = new Set(["ECONNREFUSED", "ECONNRESET", "UND_ERR_SOCKET"]);

async function withRetries(call) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!NOT_CONNECTED.has(error?.cause?.code)) throw error;
      if (attempt >= CONNECT_ATTEMPTS) throw new Error(`no connection after ${attempt} tries`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS));
    }
  }
}

async function workerdPart(bundle, projectDir, gateKey) {
  line();
  line(
    `   Under wrangler dev (the stand-in on 127.0.0.1, one request at a time; load runs use ${CONNECTIONS} connections):`,
  );
  const rig = await startLoadRig(10);
  try {
    const { vars: loadVars, peers } = rig;
    const vars = {
      AUTH_ISSUER: loadVars.AUTH_ISSUER,
      AUTH_AUDIENCE: loadVars.AUTH_AUDIENCE,
      AUTH_JWKS_URL: loadVars.AUTH_JWKS_URL,
      AUTH_ALGORITHMS: loadVars.AUTH_ALGORITHMS,
      CHATKIT_WORKFLOW_ID: "wf_bench",
      CHATKIT_MODE: "self-hosted",
      CHATKIT_SERVER_URL: peers.chatkitServerUrl,
      GATE_SIGNING_KEY: gateKey,
      // wrangler.toml's [vars] set it for hosted mode; empty means unset.
      OPENAI_BASE_URL: "",
      ALLOWED_ORIGINS: ORIGIN,
      SESSION_MAX_REQUESTS_PER_MINUTE: REQUESTS_PER_MINUTE,
    };
    const servers = await startServers([
      { name: "gate", cwd: projectDir, config: "wrangler.toml", script: bundle.entry, vars },
      // The same gate with console.* a no-op (the log line is still built): wrangler dev forwards every
      // console call to its terminal through the inspector, which production does not; this prices it.
      { name: "quiet", cwd: projectDir, config: "wrangler.toml", script: bundleWithoutConsole(bundle), vars },
      {
        name: "floor",
        cwd: `${projectDir}/bench/floor-proxy`,
        config: "wrangler.toml",
        vars: { CHATKIT_SERVER_URL: peers.chatkitServerUrl },
      },
    ]);
    try {
      const secretOf = async (server) => {
        const created = await withRetries(() =>
          fetch(`${server.url}${SESSIONS}`, {
            method: "POST",
            headers: { origin: ORIGIN, authorization: `Bearer ${rig.nextToken()}` },
          }),
        );
        const createdBody = await created.text();
        if (created.status !== 201)
          throw new Error(`a self-hosted create under wrangler dev answered ${created.status}: ${createdBody}`);
        return JSON.parse(createdBody).client_secret;
      };
      const targets = [
        { name: "direct", label: "direct to the stand-in", url: peers.chatkitServerUrl, headers: {} },
        { name: "floor", label: "bench/floor-proxy (pass-through)", url: `${servers.floor.url}/chatkit`, headers: {} },
        {
          name: "gate",
          label: "through chatkit-gate",
          url: `${servers.gate.url}/chatkit`,
          headers: { authorization: `Bearer ${await secretOf(servers.gate)}` },
        },
        {
          name: "quiet",
          label: "through chatkit-gate, console output dropped",
          url: `${servers.quiet.url}/chatkit`,
          headers: { authorization: `Bearer ${await secretOf(servers.quiet)}` },
        },
      ];
      const short = chatKitRequestBody("threads.add_user_message");
      const first = Object.fromEntries(targets.map(({ name }) => [name, []]));
      for (const target of targets) await timedStream(target.url, short, { ...STREAM_HEADERS, ...target.headers });
      for (let i = 0; i < FIRST_EVENT_REQUESTS; i++) {
        for (const target of targets) {
          first[target.name].push(
            (await timedStream(target.url, short, { ...STREAM_HEADERS, ...target.headers })).firstMs,
          );
        }
      }
      const long = chatKitRequestBody("threads.add_user_message", {
        events: eventsFor(THROUGHPUT_STREAM_BYTES),
        eventBytes: EVENT_BYTES,
      });
      const rates = Object.fromEntries(targets.map(({ name }) => [name, []]));
      for (let round = 0; round < STREAM_ROUNDS; round++) {
        for (const target of targets) {
          const run = await timedStream(target.url, long, { ...STREAM_HEADERS, ...target.headers });
          rates[target.name].push(run.bytes / run.streamSeconds);
        }
      }
      const rss = await rssAcrossStream(servers.gate, targets[2]);
      return reportWorkerd({ targets, first, rates, rss });
    } finally {
      await Promise.all(Object.values(servers).map((server) => server.stop()));
    }
  } finally {
    await rig.peers.close();
  }
}

/** One long stream through the gate while workerd's resident memory is sampled. */
async function rssAcrossStream(server, target) {
  const body = chatKitRequestBody("threads.add_user_message", {
    events: eventsFor(RSS_STREAM_BYTES),
    eventBytes: EVENT_BYTES,
  });
  const samples = [workerdRssBytes(server.pgid)];
  const timer = setInterval(() => samples.push(workerdRssBytes(server.pgid)), RSS_SAMPLE_MS);
  try {
    const run = await timedStream(target.url, body, { ...STREAM_HEADERS, ...target.headers });
    samples.push(workerdRssBytes(server.pgid));
    return { bytes: run.bytes, samples };
  } finally {
    clearInterval(timer);
  }
}

function percentile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function reportWorkerd({ targets, first, rates, rss }) {
  table([
    ["target", "first event p50 ms", "p99 ms", "vs direct p50", "stream MiB/s (median)", "spread", "vs direct"],
    ...targets.map(({ name, label }) => [
      label,
      ms(percentile(first[name], 0.5)),
      ms(percentile(first[name], 0.99)),
      `+${ms(percentile(first[name], 0.5) - percentile(first.direct, 0.5))}`,
      (median(rates[name]) / 2 ** 20).toFixed(1),
      percent(spread(rates[name])),
      ratio(median(rates[name]) / median(rates.direct)),
    ]),
  ]);
  line(
    `   first event: ${grouped(FIRST_EVENT_REQUESTS)} sequential threads.add_user_message requests per target, alternating; ` +
      `streams: ${mib(THROUGHPUT_STREAM_BYTES)} of ${EVENT_BYTES}-byte events, ${STREAM_ROUNDS} rounds, from the first byte to the last.`,
  );
  line(
    "   bench/floor-proxy prices wrangler dev's own hop (its proxy worker and workerd), which direct calls do not pay.",
  );
  const gateFirst = percentile(first.gate, 0.5);
  const directFirst = percentile(first.direct, 0.5);
  const floorFirst = percentile(first.floor, 0.5);
  const firstMet = gateFirst <= directFirst + FIRST_EVENT_GOAL_MS;
  const quietFirst = percentile(first.quiet, 0.5);
  const rateRatio = median(rates.gate) / median(rates.direct);
  const floorRateRatio = median(rates.gate) / median(rates.floor);
  const rateMet = rateRatio >= THROUGHPUT_GOAL;
  line(
    `   time to first event p50: gate ${ms(gateFirst)} ms vs direct ${ms(directFirst)} + ${FIRST_EVENT_GOAL_MS} ms (goal: ${yesNo(firstMet)}); ` +
      `without wrangler dev's hop, gate vs floor-proxy: +${ms(gateFirst - floorFirst)} ms (≤ ${FIRST_EVENT_GOAL_MS}: ${yesNo(gateFirst - floorFirst <= FIRST_EVENT_GOAL_MS)})`,
  );
  line(
    `   of which wrangler dev's forwarding of the request log line: ${ms(gateFirst - quietFirst)} ms ` +
      `(gate with console output dropped: ${ms(quietFirst)} ms, +${ms(quietFirst - floorFirst)} over floor-proxy)`,
  );
  line(
    `   streamed bytes/s: gate ${ratio(rateRatio)} direct (goal ≥ ${ratio(THROUGHPUT_GOAL)}: ${yesNo(rateMet)}); ` +
      `without wrangler dev's hop, gate vs floor-proxy: ${ratio(floorRateRatio)} (≥ ${ratio(THROUGHPUT_GOAL)}: ${yesNo(floorRateRatio >= THROUGHPUT_GOAL)})`,
  );
  const base = rss.samples[0];
  const peak = Math.max(...rss.samples) - base;
  const end = rss.samples.at(-1) - base;
  const rssFlat = peak <= FLAT_RSS_BYTES;
  line(
    `   workerd resident memory across a ${mib(rss.bytes)} stream through the gate, ${rss.samples.length} samples: ` +
      `${mib(base)} before, peak +${mib(peak)}, end ${end >= 0 ? "+" : ""}${mib(end)} (goal flat, within ${mib(FLAT_RSS_BYTES)}: ${yesNo(rssFlat)})`,
  );
  return [
    {
      goal: `#11.4 time to first event p50 ≤ direct + ${FIRST_EVENT_GOAL_MS} ms (wrangler dev)`,
      result: `${ms(gateFirst)} vs ${ms(directFirst)} ms; floor-proxy ${ms(floorFirst)}, console dropped ${ms(quietFirst)}`,
      met: firstMet,
    },
    {
      goal: `#11.4 streamed bytes/s ≥ ${ratio(THROUGHPUT_GOAL)} direct (wrangler dev)`,
      result: `${ratio(rateRatio)}; vs floor-proxy ${ratio(floorRateRatio)}`,
      met: rateMet,
    },
    {
      goal: "#11.4 workerd memory flat across a long stream",
      result: `${mib(rss.bytes)} streamed, peak +${mib(peak)}`,
      met: rssFlat,
    },
  ];
}
