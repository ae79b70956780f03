// `npm run dev`: with a .dev.vars, runs `wrangler dev` on the real settings.
// Without one, starts a clearly labelled local demo: a dev token issuer, a
// ChatKit stand-in and a demo page on 127.0.0.1, and the worker configured
// against them. Extra arguments go to `wrangler dev`.
//
// Ports come from PORT (worker), ISSUER_PORT, CHATKIT_PORT and DEMO_PORT.
// CHATKIT_GATE_DEMO=1 starts demo mode even when .dev.vars exists, so a test
// never runs against someone's real provider and key.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoPage } from "./dev-demo-page.mjs";
import { DEMO_AUDIENCE, startChatKit, startIssuer } from "./dev-peers.mjs";

const port = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${name} must be a port number`);
  return value;
};
const WORKER_PORT = port("PORT", 8787);
const ISSUER_PORT = port("ISSUER_PORT", 8788);
const CHATKIT_PORT = port("CHATKIT_PORT", 8789);
const DEMO_PORT = port("DEMO_PORT", 8790);
const DEMO_API_KEY = "sk-demo-local-only";
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
const extraArgs = process.argv.slice(2);
const args = ["wrangler", "dev", "--port", String(WORKER_PORT), ...extraArgs];
const cleanups = [];

/** Starts a stand-in, naming the variable that moves it when its port is taken. */
async function standIn(name, variable, start) {
  try {
    return await start();
  } catch (error) {
    for (const cleanup of cleanups) await cleanup();
    const reason = error.code === "EADDRINUSE" ? `its port is in use; set ${variable} to another` : error.message;
    console.error(`chatkit-gate: could not start the ${name}: ${reason}`);
    process.exit(1);
  }
}

if (existsSync(".dev.vars") && process.env.CHATKIT_GATE_DEMO !== "1") {
  console.log("chatkit-gate: using .dev.vars (real configuration, no stand-ins)");
} else {
  const issuer = await standIn("token issuer", "ISSUER_PORT", () => startIssuer({ port: ISSUER_PORT }));
  cleanups.push(issuer.close);
  const chatkit = await standIn("ChatKit stand-in", "CHATKIT_PORT", () =>
    startChatKit({ port: CHATKIT_PORT, apiKey: DEMO_API_KEY }),
  );
  cleanups.push(chatkit.close);
  const page = await standIn("demo page", "DEMO_PORT", () => startDemoPage({ port: DEMO_PORT }));
  cleanups.push(page.close);
  const dir = mkdtempSync(join(tmpdir(), "chatkit-gate-demo-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "demo.env");
  const origins = [WORKER_PORT, DEMO_PORT].flatMap((p) => [`http://127.0.0.1:${p}`, `http://localhost:${p}`]);
  writeFileSync(
    file,
    Object.entries({
      OPENAI_API_KEY: DEMO_API_KEY,
      OPENAI_BASE_URL: chatkit.baseUrl,
      CHATKIT_WORKFLOW_ID: "wf_demo",
      AUTH_ISSUER: issuer.issuer,
      AUTH_AUDIENCE: DEMO_AUDIENCE,
      AUTH_ALGORITHMS: "ES256",
      AUTH_USER_PREFIX: "demo|",
      ALLOWED_ORIGINS: origins.join(","),
    })
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
  );
  args.push("--env-file", file);
  // The banner and the demo page say 127.0.0.1; wrangler's default, localhost, may resolve to ::1 only.
  if (!extraArgs.some((arg) => arg === "--ip" || arg.startsWith("--ip="))) args.push("--ip", "127.0.0.1");
  const w = `http://127.0.0.1:${WORKER_PORT}`;
  const defaults = WORKER_PORT === 8787 && ISSUER_PORT === 8788;
  const pageUrl = defaults
    ? page.url
    : `${page.url}/?worker=${encodeURIComponent(w)}&issuer=${encodeURIComponent(issuer.issuer)}`;
  console.log(`
  ┌─ chatkit-gate LOCAL DEMO MODE ───────────────────────────────────────────
  │ ${existsSync(".dev.vars") ? "CHATKIT_GATE_DEMO=1, so" : "No .dev.vars found, so"} the worker talks to local stand-ins, not OpenAI:
  │   dev token issuer   ${issuer.issuer}   (ES256, audience ${DEMO_AUDIENCE})
  │   ChatKit stand-in   ${chatkit.baseUrl}
  │ Copy .dev.vars.example to .dev.vars to use a real provider and key.
  │
  │ Demo page (sign in as alice or bob, start, list and cancel sessions):
  │   ${pageUrl}
  │
  │ Or try the whole flow with curl:
  │   TOKEN=$(curl -s '${issuer.issuer}/token?sub=alice' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  │   curl -s -X POST ${w}/v1/chatkit/sessions -H "authorization: Bearer $TOKEN"
  │   curl -s ${w}/v1/chatkit/sessions -H "authorization: Bearer $TOKEN"
  │   curl -s -X POST ${w}/v1/chatkit/sessions/<session_id>/cancel -H "authorization: Bearer $TOKEN"
  │   curl -s -X POST ${w}/v1/chatkit/sessions/cancel_all -H "authorization: Bearer $TOKEN"
  └──────────────────────────────────────────────────────────────────────────
`);
}

const child = spawn("npx", args, { stdio: "inherit", env });
const stop = async (code) => {
  for (const cleanup of cleanups) await cleanup();
  process.exit(code);
};
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => stop(code ?? 0));
