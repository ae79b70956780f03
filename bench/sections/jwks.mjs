// 4. JWKS behaviour, in process with a movable clock: fetches per isolate,
// refetches under a storm of unknown kids, forged tokens arriving together
// (issue 9 §3), and a cold isolate that finds the key set another isolate
// persisted in KV.

import { actLikeWorkers, movableClock } from "../support/clock.mjs";
import { installFakePeers } from "../support/fake-peers.mjs";
import { MemoryKV } from "../support/memory-kv.mjs";
import { grouped, heading, line, yesNo } from "../support/print.mjs";
import { createKeys, jwksOf, mintAsymmetric } from "../support/tokens.mjs";
import {
  BASE_VARS,
  caller,
  coldIsolate,
  isolateEnv,
  scopeTimeoutsToRequests,
  silenceConsole,
} from "../support/worker-instance.mjs";

/** Issue #5's request count for "one JWKS fetch per isolate". */
const STEADY_REQUESTS = 10_000;
/** Requests in flight at once, as in the load section. */
const CONCURRENCY = 20;
/** Issue #5's storm size. */
const STORM_TOKENS = 1_000;
/** src/auth/keys.ts JWKS_COOLDOWN_MS: a kid miss refetches at most this often. */
const COOLDOWN_MS = 30_000;
/** The spread storm lasts this long in simulated time: ten cooldowns. */
const STORM_SPAN_MS = 10 * COOLDOWN_MS;
/** A valid token is mixed into the storm this often, to show real users still get through. */
const VALID_EVERY = 100;

/** Issue 9 §3's scenarios: forged tokens at once at a cold isolate, at once after the cooldown, and spaced. */
const FORGED_COLD = 25;
const FORGED_WARM = 30;
const FORGED_SPACED = 5;

/** Discovery is left on (AUTH_JWKS_URL unset), as in a default deployment. */
const DISCOVERY_VARS = { ...BASE_VARS, AUTH_JWKS_URL: "" };
const SESSIONS = "/v1/chatkit/sessions";

async function freshIsolate(bundle, kv = new MemoryKV()) {
  const worker = await coldIsolate(bundle.entry);
  return { call: caller(worker, isolateEnv(DISCOVERY_VARS, kv).env), kv };
}

const fetched = (peers, since) => ({
  discovery: peers.counts.discovery - since.discovery,
  jwks: peers.counts.jwks - since.jwks,
});
const snapshot = (peers) => ({ ...peers.counts });

async function inWaves(total, concurrency, send) {
  const statuses = new Map();
  for (let sent = 0; sent < total; sent += concurrency) {
    const wave = Array.from({ length: Math.min(concurrency, total - sent) }, (_, i) => send(sent + i));
    for (const { status } of await Promise.all(wave)) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  return statuses;
}

export async function jwksSection({ bundle }) {
  heading(4, "JWKS fetches (in process, jose as on Workers, movable clock, OIDC discovery on)");
  const keys = await createKeys();
  const token = await mintAsymmetric(keys.ES256);
  const stormTokens = [];
  for (let i = 0; i < STORM_TOKENS; i++) {
    stormTokens.push(await mintAsymmetric(keys.unpublished, { kid: `random-${crypto.randomUUID()}` }));
  }
  const peers = installFakePeers(jwksOf(keys));
  const quiet = silenceConsole();
  const timeouts = scopeTimeoutsToRequests();
  const workers = actLikeWorkers();
  const clock = movableClock();
  const results = {};
  try {
    // One request first, then the rest 20 at a time: a warm isolate's steady state.
    let since = snapshot(peers);
    let isolate = await freshIsolate(bundle);
    await isolate.call("GET", SESSIONS, token);
    const steady = await inWaves(STEADY_REQUESTS - 1, CONCURRENCY, () => isolate.call("GET", SESSIONS, token));
    results.steady = { ...fetched(peers, since), ok: (steady.get(200) ?? 0) + 1 };

    // The same, but the first 20 arrive together at a cold isolate with nothing in KV.
    since = snapshot(peers);
    isolate = await freshIsolate(bundle);
    const burst = await inWaves(STEADY_REQUESTS, CONCURRENCY, () => isolate.call("GET", SESSIONS, token));
    results.burst = { ...fetched(peers, since), ok: burst.get(200) ?? 0 };

    // Storms, on a warm isolate whose last fetch is older than the cooldown.
    isolate = await freshIsolate(bundle);
    await isolate.call("GET", SESSIONS, token);
    clock.advance(COOLDOWN_MS + 1_000);
    since = snapshot(peers);
    let refused = 0;
    for (const stormToken of stormTokens) refused += (await isolate.call("GET", SESSIONS, stormToken)).status === 401;
    results.burstStorm = { ...fetched(peers, since), refused };

    clock.advance(COOLDOWN_MS + 1_000);
    since = snapshot(peers);
    refused = 0;
    let valid = 0;
    for (const [i, stormToken] of stormTokens.entries()) {
      clock.advance(STORM_SPAN_MS / STORM_TOKENS);
      refused += (await isolate.call("GET", SESSIONS, stormToken)).status === 401;
      if (i % VALID_EVERY === 0) valid += (await isolate.call("GET", SESSIONS, token)).status === 200;
    }
    results.spreadStorm = { ...fetched(peers, since), refused, valid, validSent: STORM_TOKENS / VALID_EVERY };

    // Issue 9 §3: forged tokens (configured iss, allowed alg, random kid, any key) arriving together.
    since = snapshot(peers);
    isolate = await freshIsolate(bundle);
    const forged = stormTokens.slice(0, FORGED_COLD);
    const coldForged = await Promise.all(forged.map((t) => isolate.call("GET", SESSIONS, t)));
    results.forgedCold = { ...fetched(peers, since), refused: coldForged.filter((r) => r.status === 401).length };

    const kvForged = new MemoryKV();
    isolate = await freshIsolate(bundle, kvForged);
    await isolate.call("GET", SESSIONS, token);
    clock.advance(COOLDOWN_MS + 1_000);
    since = snapshot(peers);
    const warmForged = await Promise.all(
      stormTokens.slice(0, FORGED_WARM).map((t) => isolate.call("GET", SESSIONS, t)),
    );
    results.forgedWarm = { ...fetched(peers, since), refused: warmForged.filter((r) => r.status === 401).length };

    kvForged.resetCounts();
    since = snapshot(peers);
    for (const t of stormTokens.slice(0, FORGED_SPACED)) {
      clock.advance(COOLDOWN_MS + 1_000);
      await isolate.call("GET", SESSIONS, t);
    }
    results.forgedSpaced = { ...fetched(peers, since), writes: kvForged.counts.other.write };

    // A cold isolate after another one persisted the key set in the shared KV.
    const kv = new MemoryKV();
    const first = await freshIsolate(bundle, kv);
    await first.call("GET", SESSIONS, token);
    const persisted = kv.otherKeys();
    kv.resetCounts();
    since = snapshot(peers);
    const cold = await freshIsolate(bundle, kv);
    const status = (await cold.call("GET", SESSIONS, token)).status;
    results.persisted = { ...fetched(peers, since), persisted, status, reads: kv.counts.other.read };
  } finally {
    clock.restore();
    workers.restore();
    timeouts.restore();
    quiet.restore();
    peers.restore();
  }
  return report(results);
}

function report({ steady, burst, burstStorm, spreadStorm, forgedCold, forgedWarm, forgedSpaced, persisted }) {
  const fetches = (r) => `${r.jwks} JWKS + ${r.discovery} discovery fetches`;
  const forgedColdOk = forgedCold.jwks <= 1 && forgedCold.discovery <= 1;
  line(
    `   ${FORGED_COLD} forged tokens at once, cold isolate: ${fetches(forgedCold)}, ${forgedCold.refused} refused 401 ` +
      `(goal ≤ 1 of each: ${yesNo(forgedColdOk)})`,
  );
  line(
    `   ${FORGED_WARM} forged tokens at once, cooldown over: ${fetches(forgedWarm)}, ${forgedWarm.refused} refused 401 ` +
      `(goal ≤ 1 JWKS: ${yesNo(forgedWarm.jwks <= 1)})`,
  );
  line(
    `   ${FORGED_SPACED} forged tokens ${(COOLDOWN_MS + 1_000) / 1000} s apart: ${fetches(forgedSpaced)}, ` +
      `${forgedSpaced.writes} KV writes of jwks: (goal 0, the key set did not change: ${yesNo(forgedSpaced.writes === 0)})`,
  );
  const steadyOk = steady.jwks === 1 && steady.discovery <= 1;
  line(
    `   ${grouped(STEADY_REQUESTS)} requests, first alone then ${CONCURRENCY} at a time: ${fetches(steady)}, ` +
      `${grouped(steady.ok)} answered 200 (goal exactly 1 JWKS fetch: ${yesNo(steadyOk)})`,
  );
  line(
    `   ${grouped(STEADY_REQUESTS)} requests, ${CONCURRENCY} at a time from a cold isolate: ${fetches(burst)}, ` +
      `${grouped(burst.ok)} answered 200 (goal exactly 1 JWKS fetch: ${yesNo(burst.jwks === 1)})`,
  );
  const spreadBound = STORM_SPAN_MS / COOLDOWN_MS;
  line(
    `   ${grouped(STORM_TOKENS)} unknown kids at once, cooldown (${COOLDOWN_MS / 1000} s) over: ` +
      `${burstStorm.jwks} refetch, ${grouped(burstStorm.refused)} refused 401 (goal ≤ 1: ${yesNo(burstStorm.jwks <= 1)})`,
  );
  line(
    `   ${grouped(STORM_TOKENS)} unknown kids over ${STORM_SPAN_MS / 1000} simulated s: ${spreadStorm.jwks} refetches, ` +
      `${grouped(spreadStorm.refused)} refused 401, valid tokens mixed in ${spreadStorm.valid}/${spreadStorm.validSent} ` +
      `accepted (goal ≤ 1 per cooldown, ≤ ${spreadBound}: ${yesNo(spreadStorm.jwks <= spreadBound)})`,
  );
  const available = persisted.persisted.length > 0;
  const zero = available && persisted.jwks === 0 && persisted.discovery === 0 && persisted.status === 200;
  const persistedGoal = {
    goal: "cold isolate with the JWKS persisted in KV: 0 fetches",
    result: available ? `${persisted.jwks + persisted.discovery}` : "not yet available",
    met: zero,
  };
  if (!available) {
    line("   cold isolate with the JWKS persisted in KV: not yet available (this build persists nothing in KV)");
  } else {
    line(
      `   cold isolate with the JWKS persisted in KV (${persisted.persisted.join(", ")}): ${fetches(persisted)}, ` +
        `${persisted.reads} KV read, answered ${persisted.status} (goal 0 fetches: ${yesNo(zero)})`,
    );
  }
  return [
    {
      goal: `${grouped(STEADY_REQUESTS)} requests: exactly 1 JWKS fetch per isolate`,
      result: `${steady.jwks}`,
      met: steadyOk,
    },
    {
      goal: `the same, ${CONCURRENCY} concurrent at a cold isolate`,
      result: `${burst.jwks}`,
      met: burst.jwks === 1,
    },
    {
      goal: `${grouped(STORM_TOKENS)} unknown kids: ≤ 1 refetch per cooldown`,
      result: `${burstStorm.jwks} at once, ${spreadStorm.jwks} over ${STORM_SPAN_MS / 1000} s`,
      met: burstStorm.jwks <= 1 && spreadStorm.jwks <= spreadBound,
    },
    {
      goal: `${FORGED_COLD} forged at once at a cold isolate: ≤ 1 JWKS and ≤ 1 discovery fetch`,
      result: `${forgedCold.jwks} + ${forgedCold.discovery}`,
      met: forgedColdOk,
    },
    {
      goal: `${FORGED_WARM} forged at once after the cooldown: ≤ 1 JWKS fetch`,
      result: `${forgedWarm.jwks}`,
      met: forgedWarm.jwks <= 1,
    },
    {
      goal: `${FORGED_SPACED} forged, spaced past the cooldown: 0 KV writes (unchanged key set)`,
      result: `${forgedSpaced.writes}`,
      met: forgedSpaced.writes === 0,
    },
    persistedGoal,
  ];
}
