// `npm run test:e2e`: chatkit-gate between real peers. Starts, on 127.0.0.1
// with free ports: a real OpenID provider, OpenAI's ChatKit contract under
// Prism, a recording ChatKit fake, the worker under `wrangler dev` (hosted
// mode, and a second one in self-hosted mode in front of a real ChatKit
// server), and chromium; runs the flows; stops every peer, also on failure
// or a signal.
import "./node-version.mjs";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { flows } from "./flows/index.mjs";
import { runFlows, summary } from "./harness.mjs";
import { browserAvailable, CHROMIUM_PATH, startBrowser } from "./peers/browser.mjs";
import { startChatKitServerPeer } from "./peers/chatkit-server.mjs";
import { startFakeChatKit } from "./peers/fake-chatkit.mjs";
import { gateSigningKey } from "./peers/gate-key.mjs";
import {
  RESOURCE,
  RESOURCE_SCOPE,
  SERVICE_CLIENT,
  SHORT_LIVED_CLIENT,
  SPA_CLIENT_ID,
  startOidc,
} from "./peers/oidc.mjs";
import { clientCredentials, loginWithPkce } from "./peers/oidc-client.mjs";
import { findSpec, startPrism } from "./peers/prism.mjs";
import { startSpaOrigins } from "./peers/spa.mjs";
import { startWorker } from "./peers/worker.mjs";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Screenshots and peer logs; git-ignored, rewritten by every run. */
const OUTPUT_DIR = join(REPO_ROOT, "e2e", "output");
/** After a signal, cleanup gets this long before the process exits regardless. */
const SIGNAL_CLEANUP_MS = 10_000;
/** Twice the issue's 5-minute budget: a run still going by then is hung, not slow. */
const RUN_DEADLINE_MS = 10 * 60_000;

/** What the run configures the worker with; flows assert against the same values. */
const SETTINGS = {
  apiKey: `sk-e2e-${randomBytes(16).toString("hex")}`,
  workflowId: "wf_e2e_chatkit_gate",
  userPrefix: "e2e|",
  // Provider and worker share this machine's clock, so a small skew keeps the expiry flow to seconds.
  clockToleranceSeconds: 2,
  // The contract's defaults, stated so the flows can check what reaches ChatKit.
  expiresAfterSeconds: 600,
  maxRequestsPerMinute: 10,
};
/**
 * The self-hosted worker's own limit per gate session: every ChatKit request
 * counts, and the time-to-first-event flow sends sixteen on one session.
 */
const SELF_HOSTED_REQUESTS_PER_MINUTE = 60;

const started = Date.now();
const peers = [];
const register = (peer) => peers.push(peer);
const log = (line) => console.log(line);

async function stopAll() {
  while (peers.length > 0) {
    const peer = peers.pop();
    try {
      await peer.stop();
    } catch (error) {
      console.error(`could not stop ${peer.name}: ${error.message}`);
      peer.kill();
    }
  }
}

let interrupted;
/** Stops every peer and exits with `code`, whatever the flows are doing. */
function abort(reason, code) {
  if (interrupted) return;
  interrupted = reason;
  console.error(`\n${reason}: stopping every peer`);
  setTimeout(() => process.exit(code), SIGNAL_CLEANUP_MS).unref();
  stopAll().finally(() => process.exit(code));
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  // The shell convention for "killed by signal N".
  process.on(signal, () => abort(signal, 128 + constants.signals[signal]));
}
setTimeout(() => abort(`still running after ${RUN_DEADLINE_MS / 60_000} minutes`, 1), RUN_DEADLINE_MS).unref();
// Last resort if the process ends any other way: process groups are killed synchronously.
process.on("exit", () => {
  for (const peer of peers) peer.kill();
});

async function startPeers() {
  // First, before any peer starts: under CI=true a missing chromium fails the run instead of skipping.
  const withBrowser = browserAvailable();
  const spa = await startSpaOrigins({ register });
  const oidc = await startOidc({
    redirectUris: [`${spa.allowedOrigin}/callback`, `${spa.blockedOrigin}/callback`],
    log: (line) => console.error(`oidc: ${line}`),
  });
  register({ name: "oidc provider", stop: oidc.close, kill: () => {} });
  const fake = await startFakeChatKit({ apiKey: SETTINGS.apiKey });
  register({ name: "fake chatkit", stop: fake.close, kill: () => {} });
  // Trusts the self-hosted worker once its URL is known (trustGate below).
  const chatkitServer = await startChatKitServerPeer({ register, log: (line) => console.error(line) });
  const signingKey = await gateSigningKey("e2e-gate-1");

  const vars = (baseUrl) => ({
    OPENAI_API_KEY: SETTINGS.apiKey,
    OPENAI_BASE_URL: baseUrl,
    CHATKIT_WORKFLOW_ID: SETTINGS.workflowId,
    SESSION_EXPIRES_AFTER_SECONDS: SETTINGS.expiresAfterSeconds,
    SESSION_MAX_REQUESTS_PER_MINUTE: SETTINGS.maxRequestsPerMinute,
    AUTH_ISSUER: oidc.issuer,
    // ID tokens name the SPA's client id; JWT access tokens name the resource indicator.
    AUTH_AUDIENCE: `${SPA_CLIENT_ID},${RESOURCE}`,
    // Empty on purpose: the worker must find the JWKS through OIDC discovery.
    AUTH_JWKS_URL: "",
    AUTH_ALGORITHMS: "RS256,ES256",
    AUTH_USER_CLAIM: "sub",
    AUTH_USER_PREFIX: SETTINGS.userPrefix,
    AUTH_CLOCK_TOLERANCE_SECONDS: SETTINGS.clockToleranceSeconds,
    ALLOWED_ORIGINS: spa.allowedOrigin,
  });
  // Self-hosted mode: the same identity settings, no OpenAI key; the gate signs with its own key.
  const { OPENAI_API_KEY: _key, OPENAI_BASE_URL: _base, ...identity } = vars("");
  const selfHostedVars = {
    ...identity,
    CHATKIT_MODE: "self-hosted",
    CHATKIT_SERVER_URL: chatkitServer.url,
    GATE_SIGNING_KEY: JSON.stringify(signingKey.privateJwk),
    SESSION_MAX_REQUESTS_PER_MINUTE: SELF_HOSTED_REQUESTS_PER_MINUTE,
  };
  const common = { repoRoot: REPO_ROOT, outputDir: OUTPUT_DIR, register };
  const spec = findSpec(REPO_ROOT);
  const startPrismSide = async () => {
    const prism = await startPrism({ spec, ...common });
    const [, worker] = await Promise.all([
      prism.ready(),
      startWorker({ name: "prism", vars: vars(prism.baseUrl), testScheduled: false, ...common }),
    ]);
    return { prism, worker };
  };
  const [worker, selfHostedWorker, prismSide, browser] = await Promise.all([
    startWorker({ name: "fake", vars: vars(fake.baseUrl), testScheduled: true, ...common }),
    startWorker({ name: "self-hosted", vars: selfHostedVars, testScheduled: false, ...common }),
    spec ? startPrismSide() : undefined,
    withBrowser ? startBrowser({ register }) : undefined,
  ]);
  // The assertion's iss is the gate's origin as the request named it; aud defaults to the server's origin.
  chatkitServer.trustGate({ jwksUrl: `${selfHostedWorker.url}/.well-known/jwks.json`, issuer: selfHostedWorker.url });
  const metadata = await (await fetch(`${oidc.issuer}/.well-known/openid-configuration`)).json();
  spa.configure({
    authorizationEndpoint: metadata.authorization_endpoint,
    tokenEndpoint: metadata.token_endpoint,
    clientId: SPA_CLIENT_ID,
    resource: RESOURCE,
    scope: `openid ${RESOURCE_SCOPE}`,
    workerUrl: worker.url,
    selfHostedWorkerUrl: selfHostedWorker.url,
  });

  log(`peers up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  log(`provider ${oidc.issuer} (keys ${oidc.kids.join(", ")})`);
  log(`worker   ${worker.url} → fake ChatKit ${fake.baseUrl}`);
  log(`worker   ${selfHostedWorker.url} (self-hosted, key ${signingKey.kid}) → ChatKit server ${chatkitServer.url}`);
  if (prismSide) log(`worker   ${prismSide.worker.url} → Prism ${prismSide.prism.baseUrl} (${spec})`);
  else log("Prism    skipped: ../shared/upstream/chatkit-openapi.{yaml,json} not found beside the repository");
  if (browser)
    log(`browser  chromium ${browser.version}; SPA ${spa.allowedOrigin} (allowed), ${spa.blockedOrigin} (not)`);
  else log(`browser  skipped: no chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`);
  log("");

  const spaRedirect = `${spa.allowedOrigin}/callback`;
  return {
    repoRoot: REPO_ROOT,
    outputDir: OUTPUT_DIR,
    settings: SETTINGS,
    oidc,
    fake,
    worker,
    prism: prismSide?.prism,
    prismWorker: prismSide?.worker,
    selfHosted: {
      worker: selfHostedWorker,
      server: chatkitServer,
      signingKey,
      maxRequestsPerMinute: SELF_HOSTED_REQUESTS_PER_MINUTE,
    },
    browser,
    spa,
    tokens: {
      login: (user) =>
        loginWithPkce({
          issuer: oidc.issuer,
          clientId: SPA_CLIENT_ID,
          redirectUri: spaRedirect,
          user,
          resource: RESOURCE,
          scope: `openid ${RESOURCE_SCOPE}`,
        }),
      service: () =>
        clientCredentials({ issuer: oidc.issuer, client: SERVICE_CLIENT, resource: RESOURCE, scope: RESOURCE_SCOPE }),
      shortLived: () =>
        clientCredentials({
          issuer: oidc.issuer,
          client: SHORT_LIVED_CLIENT,
          resource: RESOURCE,
          scope: RESOURCE_SCOPE,
        }),
    },
  };
}

let counts = { passed: 0, failed: 0, pending: 0, skipped: 0 };
rmSync(OUTPUT_DIR, { recursive: true, force: true });
mkdirSync(OUTPUT_DIR, { recursive: true });
try {
  const ctx = await startPeers();
  counts = await runFlows(flows, ctx);
} catch (error) {
  // After an abort, peers vanish under the setup on purpose: that is not a failure worth a stack trace.
  if (!interrupted) console.error(`✖ setup failed\n${String(error?.stack ?? error).replace(/^/gm, "    ")}`);
  counts.failed++;
} finally {
  await stopAll();
}
log(`\n${summary(counts, Date.now() - started)}; screenshots and peer logs in e2e/output/`);
process.exitCode = counts.failed > 0 ? 1 : 0;
