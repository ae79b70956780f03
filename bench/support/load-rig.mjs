// What every workerd load run shares: the local peers with their minted
// users, the settings the workers get, `wrangler dev` servers started
// together, and one measured autocannon run with its workerd CPU.
import autocannon from "autocannon";
import { LOAD_AUDIENCE } from "./load-peers.mjs";
import { startLoadPeersThread } from "./load-peers-client.mjs";
import { workerdCpuSeconds } from "./process-cpu.mjs";
import { startWranglerDev } from "./wrangler-dev.mjs";

/** Issue #5: concurrent clients during each run. */
export const CONNECTIONS = 20;
/** Each user creates at most this many sessions over the whole bench, well under the gate's 10-a-minute limit. */
const CREATES_PER_USER = 5;

/**
 * Starts the peers with enough users for `totalRequests` creates, and hands
 * out their tokens in turn; `peers.setDelays` switches their delay profile.
 */
export async function startLoadRig(totalRequests) {
  const peers = await startLoadPeersThread({ users: Math.ceil(totalRequests / CREATES_PER_USER) });
  let cursor = 0;
  return {
    peers,
    nextToken: () => peers.tokens[Math.floor(cursor++ / CREATES_PER_USER) % peers.tokens.length],
    /** The same settings for every worker; the fixtures read the names they need. */
    vars: {
      OPENAI_API_KEY: "sk-bench-local-only",
      OPENAI_BASE_URL: peers.chatkitBaseUrl,
      CHATKIT_WORKFLOW_ID: "wf_bench",
      AUTH_ISSUER: peers.issuer,
      AUTH_AUDIENCE: LOAD_AUDIENCE,
      AUTH_JWKS_URL: peers.jwksUrl,
      AUTH_ALGORITHMS: "ES256",
    },
  };
}

/** Starts every server at once; if one fails, stops the others and throws its error. */
export async function startServers(specs) {
  const started = await Promise.allSettled(specs.map((spec) => startWranglerDev(spec)));
  const servers = started.filter((s) => s.status === "fulfilled").map((s) => s.value);
  const failure = started.find((s) => s.status === "rejected");
  if (failure) {
    await Promise.all(servers.map((server) => server.stop()));
    throw failure.reason;
  }
  return Object.fromEntries(servers.map((server) => [server.name, server]));
}

/**
 * One autocannon run of `amount` creates, each with the next user's token.
 * Throughput and percentiles come from the per-response events: with
 * `amount`, autocannon's own duration ends on its next one-second tick.
 */
function autocannonRun(url, amount, nextToken) {
  const latencies = [];
  let last = 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/v1/chatkit/sessions`,
        method: "POST",
        connections: CONNECTIONS,
        amount,
        headers: { origin: "https://app.example.com" },
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              headers: { ...request.headers, authorization: `Bearer ${nextToken()}` },
            }),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const sorted = latencies.sort((a, b) => a - b);
        const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
        resolve({
          rps: sorted.length / ((last - started) / 1000),
          p50: at(0.5),
          p99: at(0.99),
          failed: result.non2xx + result.errors + result.timeouts,
          answered: sorted.length,
        });
      },
    );
    instance.on("response", (_client, _status, _bytes, responseTime) => {
      latencies.push(responseTime);
      last = performance.now();
    });
  });
}

/** A measured run: latency and throughput, workerd CPU per create, and JWKS fetches the issuer saw meanwhile. */
export async function measuredRun(rig, server, amount) {
  const before = await rig.peers.counts();
  const cpuBefore = workerdCpuSeconds(server.pgid);
  const result = await autocannonRun(server.url, amount, rig.nextToken);
  const cpuSpent = workerdCpuSeconds(server.pgid) - cpuBefore;
  // Less CPU after than before: a workerd process ended during the run (wrangler dev restarted it), and its
  // time went with it. The run's CPU is then unknown, not negative.
  const cpuMs = cpuSpent < 0 ? Number.NaN : (cpuSpent * 1000) / Math.max(1, result.answered);
  const jwks = (await rig.peers.counts()).jwks - before.jwks;
  return { ...result, cpuMs, jwks };
}
