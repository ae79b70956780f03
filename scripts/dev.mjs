// `npm run dev`: with a .dev.vars, runs `wrangler dev` on the real settings.
// Without one, starts a clearly labelled local demo: a dev token issuer, a
// ChatKit stand-in and a demo page on 127.0.0.1, and the worker configured
// against them. Extra arguments go to `wrangler dev`; `--port N` moves the
// worker.
//
// Ports come from PORT (worker), ISSUER_PORT, CHATKIT_PORT and DEMO_PORT,
// and are all checked before anything starts (scripts/dev-ports.mjs).
// CHATKIT_GATE_DEMO=1 starts demo mode even when .dev.vars exists, so a test
// never runs against someone's real provider and key. Demo mode never takes a
// setting from the shell: every name in src/config/settings.json is removed
// from wrangler's environment (scripts/dev-settings.mjs).
//
// `npm run dev -- --self-hosted` starts the self-hosted flavour of demo mode:
// the worker with CHATKIT_MODE=self-hosted in front of a real ChatKit server
// (scripts/chatkit-server.mjs, on CHATKIT_PORT) that trusts it. With a real
// .dev.vars, self-hosted mode is a setting there instead.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { exportJWK, generateKeyPair } from "jose";
import { startChatKitServer } from "./chatkit-server.mjs";
import { startDemoPage } from "./dev-demo-page.mjs";
import { DEMO_AUDIENCE, startChatKit, startIssuer } from "./dev-peers.mjs";
import { DevUsageError, portProblems, resolvePorts, takePortArg } from "./dev-ports.mjs";
import { settingNames, unknownKeyWarnings, withoutSettings } from "./dev-settings.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEMO_API_KEY = "sk-demo-local-only";
/** The flag that picks the self-hosted demo flavour; taken out before wrangler sees the arguments. */
const SELF_HOSTED_FLAG = "--self-hosted";
/** Slower than the stand-in's default, so a person watching the demo page sees the reply arrive word by word. */
const DEMO_REPLY_DELAY_MS = 120;
/** Room for a person to explore the self-hosted demo without meeting the per-session limit at once. */
const DEMO_SELF_HOSTED_REQUESTS_PER_MINUTE = 30;
/** Keeps wrangler on loopback: no cf.json fetch, no metrics. */
const WRANGLER_ENV = { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
const cleanups = [];

async function fail(message) {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  console.error(`chatkit-gate: ${message}`);
  process.exit(1);
}

/** The value of `--name V` or `--name=V` among wrangler's arguments, if given. */
function argValue(args, name) {
  const index = args.findIndex((arg) => arg === name || arg.startsWith(`${name}=`));
  if (index === -1) return undefined;
  return args[index] === name ? args[index + 1] : args[index].slice(name.length + 1);
}

/** Starts a stand-in, naming the variable that moves it when its port is taken after all. */
async function standIn(name, variable, start) {
  try {
    const peer = await start();
    cleanups.push(peer.close);
    return peer;
  } catch (error) {
    const reason = error.code === "EADDRINUSE" ? `its port is in use; set ${variable} to another` : error.message;
    return fail(`could not start the ${name}: ${reason}`);
  }
}

/**
 * Writes the worker's demo settings to a temporary env file for `--env-file`.
 * A JSON value (GATE_SIGNING_KEY) goes in single quotes, which dotenv keeps literal.
 */
function envFile(vars) {
  const dir = mkdtempSync(join(tmpdir(), "chatkit-gate-demo-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "demo.env");
  writeFileSync(
    file,
    Object.entries(vars)
      .map(([key, value]) => `${key}=${String(value).includes('"') ? `'${value}'` : value}\n`)
      .join(""),
  );
  return file;
}

/**
 * The demo gate's GATE_SIGNING_KEY: a new key each start, never written to
 * disk. Secrets of sessions from an earlier start no longer open; the page's
 * chatKitApi() then starts a new session by itself.
 */
async function demoSigningKey() {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = `demo-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, "")}`;
  return { ...(await exportJWK(privateKey)), kid };
}

/**
 * Demo flavours: the ChatKit side of demo mode. Each starts its stand-in on
 * CHATKIT_PORT and returns the worker settings that point at it, the banner
 * lines naming it, and curl lines that try the flow with `$TOKEN` against
 * `worker`. Issuer, demo page, allowed origins and the banner are shared.
 * A self-hosted flavour (the gate proxying to a local ChatKit server
 * stand-in) is one more function here.
 */
const FLAVOURS = {
  /** Hosted ChatKit: the gate creates and cancels sessions at an OpenAI stand-in. */
  async hosted({ port, worker }) {
    const chatkit = await standIn("ChatKit stand-in", "CHATKIT_PORT", () =>
      startChatKit({ port, apiKey: DEMO_API_KEY }),
    );
    return {
      vars: { OPENAI_API_KEY: DEMO_API_KEY, OPENAI_BASE_URL: chatkit.baseUrl, CHATKIT_WORKFLOW_ID: "wf_demo" },
      standIns: [["ChatKit stand-in", chatkit.baseUrl]],
      curl: [
        `curl -s -X POST ${worker}/v1/chatkit/sessions -H "authorization: Bearer $TOKEN"`,
        `curl -s ${worker}/v1/chatkit/sessions -H "authorization: Bearer $TOKEN"`,
        `curl -s -X POST ${worker}/v1/chatkit/sessions/<session_id>/cancel -H "authorization: Bearer $TOKEN"`,
        `curl -s -X POST ${worker}/v1/chatkit/sessions/cancel_all -H "authorization: Bearer $TOKEN"`,
      ],
    };
  },
  /**
   * Self-hosted: the gate issues its own sessions and forwards ChatKit
   * requests, with its signed assertion, to a real ChatKit server
   * (chatkit-node-backend-sdk) that verifies it against the gate's JWKS.
   */
  async "self-hosted"({ port, worker }) {
    const signingKey = await demoSigningKey();
    const server = await standIn("ChatKit server", "CHATKIT_PORT", () =>
      startChatKitServer({
        port,
        gateJwksUrl: `${worker}/.well-known/jwks.json`,
        issuer: worker,
        replyDelayMs: DEMO_REPLY_DELAY_MS,
        log: (line) => console.error(line),
      }),
    );
    const message = JSON.stringify({
      type: "threads.create",
      params: { input: { content: [{ type: "input_text", text: "Hello" }], attachments: [], inference_options: {} } },
    });
    const chatkit = `curl -s ${worker}/chatkit -H "authorization: Bearer $SECRET" -H 'content-type: application/json'`;
    return {
      vars: {
        CHATKIT_MODE: "self-hosted",
        CHATKIT_SERVER_URL: server.url,
        GATE_SIGNING_KEY: JSON.stringify(signingKey),
        // Every ChatKit request counts in self-hosted mode (a message is two: the message and the thread list).
        SESSION_MAX_REQUESTS_PER_MINUTE: DEMO_SELF_HOSTED_REQUESTS_PER_MINUTE,
      },
      standIns: [["ChatKit server", `${server.url}   (chatkit-node-backend-sdk, trusts ${worker})`]],
      page: { query: { mode: "self-hosted" }, what: "sign in as alice or bob, chat, see each one's threads" },
      curl: [
        `SECRET=$(curl -s -X POST ${worker}/v1/chatkit/sessions -H "authorization: Bearer $TOKEN" | node -pe 'JSON.parse(require("fs").readFileSync(0)).client_secret')`,
        `${chatkit.replace("curl -s", "curl -sN")} -d '${message}'`,
        `${chatkit} -d '{"type":"threads.list","params":{}}'`,
        `curl -s ${worker}/.well-known/jwks.json`,
        `curl -s -X POST ${worker}/v1/chatkit/sessions/cancel_all -H "authorization: Bearer $TOKEN"`,
      ],
    };
  },
};

/** Real mode: wrangler reads .dev.vars itself; unknown keys are named (never their values). */
function realMode(wranglerArgs, names) {
  const environment = argValue(wranglerArgs, "--env") ?? argValue(wranglerArgs, "-e");
  const file = [environment && `.dev.vars.${environment}`, ".dev.vars"].find((f) => f && existsSync(join(ROOT, f)));
  console.log(`chatkit-gate: using ${file} (real configuration, no stand-ins)`);
  for (const warning of unknownKeyWarnings(readFileSync(join(ROOT, file), "utf8"), names, file)) {
    console.warn(`chatkit-gate: ${warning}`);
  }
  return { args: [], env: process.env };
}

/** Demo mode: stand-ins on loopback, the worker configured against them, a banner saying so. */
async function demoMode({ ports, wranglerArgs, names, flavour }) {
  const port = Object.fromEntries(ports.map((entry) => [entry.variable, entry.port]));
  const worker = `http://127.0.0.1:${port.PORT}`;
  const issuer = await standIn("token issuer", "ISSUER_PORT", () => startIssuer({ port: port.ISSUER_PORT }));
  const side = await FLAVOURS[flavour]({ port: port.CHATKIT_PORT, worker });
  const page = await standIn("demo page", "DEMO_PORT", () => startDemoPage({ port: port.DEMO_PORT }));
  const origins = [port.PORT, port.DEMO_PORT].flatMap((p) => [`http://127.0.0.1:${p}`, `http://localhost:${p}`]);
  const file = envFile({
    ...side.vars,
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: DEMO_AUDIENCE,
    AUTH_ALGORITHMS: "ES256",
    AUTH_USER_PREFIX: "demo|",
    ALLOWED_ORIGINS: origins.join(","),
  });
  const args = ["--env-file", file];
  // The banner and the demo page say 127.0.0.1; wrangler's default, localhost, may resolve to ::1 only.
  if (argValue(wranglerArgs, "--ip") === undefined) args.push("--ip", "127.0.0.1");
  // wrangler lets the shell override the env file: an exported OPENAI_API_KEY would reach the stand-in.
  const { env, removed } = withoutSettings(process.env, names);

  const defaults = port.PORT === 8787 && port.ISSUER_PORT === 8788;
  const query = new URLSearchParams({
    ...(defaults ? {} : { worker, issuer: issuer.issuer }),
    ...side.page?.query,
  }).toString();
  const pageUrl = query ? `${page.url}/?${query}` : page.url;
  const peers = [["dev token issuer", `${issuer.issuer}   (ES256, audience ${DEMO_AUDIENCE})`], ...side.standIns];
  const lines = [
    `${existsSync(join(ROOT, ".dev.vars")) ? "CHATKIT_GATE_DEMO=1, so" : "No .dev.vars found, so"} the worker talks to local stand-ins, not OpenAI:`,
    ...peers.map(([name, url]) => `  ${name.padEnd(18)} ${url}`),
    ...(removed.length > 0
      ? [`Ignored from your shell, as demo mode uses none of your settings:`, `  ${removed.join(", ")}`]
      : []),
    "Copy .dev.vars.example to .dev.vars to use a real provider and key.",
    "",
    `Demo page (${side.page?.what ?? "sign in as alice or bob, start, list and cancel sessions"}):`,
    `  ${pageUrl}`,
    "",
    "Or try the whole flow with curl:",
    `  TOKEN=$(curl -s '${issuer.issuer}/token?sub=alice' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')`,
    ...side.curl.map((line) => `  ${line}`),
  ];
  console.log(`
  ┌─ chatkit-gate LOCAL DEMO MODE ───────────────────────────────────────────
${lines.map((line) => `  │ ${line}`.trimEnd()).join("\n")}
  └──────────────────────────────────────────────────────────────────────────
`);
  return { args, env };
}

async function main() {
  let portArg;
  let wranglerArgs;
  let ports;
  const given = process.argv.slice(2);
  const selfHosted = given.includes(SELF_HOSTED_FLAG);
  try {
    ({ port: portArg, rest: wranglerArgs } = takePortArg(given.filter((arg) => arg !== SELF_HOSTED_FLAG)));
    ports = resolvePorts(process.env, portArg);
  } catch (error) {
    if (error instanceof DevUsageError) return fail(error.message);
    throw error;
  }
  const names = settingNames();
  const demo = !existsSync(join(ROOT, ".dev.vars")) || process.env.CHATKIT_GATE_DEMO === "1";
  if (selfHosted && !demo) {
    return fail(
      `${SELF_HOSTED_FLAG} picks the demo's flavour, and .dev.vars means your real configuration: ` +
        "set CHATKIT_MODE=self-hosted there (see docs/self-hosted.md), or run CHATKIT_GATE_DEMO=1 npm run dev -- --self-hosted",
    );
  }
  // Real mode runs only the worker; its host is wrangler's default unless --ip says otherwise.
  const used = demo ? ports : ports.filter((entry) => entry.variable === "PORT");
  const host = argValue(wranglerArgs, "--ip") ?? (demo ? "127.0.0.1" : "localhost");
  const problems = await portProblems(used, host);
  if (problems.length > 0) return fail(`cannot start:\n${problems.map((p) => `  - ${p}`).join("\n")}`);

  const mode = demo
    ? await demoMode({ ports, wranglerArgs, names, flavour: selfHosted ? "self-hosted" : "hosted" })
    : realMode(wranglerArgs, names);
  const workerPort = ports.find((entry) => entry.variable === "PORT").port;
  const args = ["wrangler", "dev", "--port", String(workerPort), ...mode.args, ...wranglerArgs];
  const child = spawn("npx", args, { stdio: "inherit", env: { ...mode.env, ...WRANGLER_ENV } });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", async (code) => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    process.exit(code ?? 0);
  });
}

await main();
