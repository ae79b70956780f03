// `npm run dev`: with a .dev.vars, runs `wrangler dev` on the real settings.
// Without one, starts a clearly labelled local demo: a dev token issuer and a
// ChatKit stand-in on 127.0.0.1, and the worker configured against them.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO_AUDIENCE, startChatKit, startIssuer } from "./dev-peers.mjs";

const WORKER_PORT = Number(process.env.PORT ?? 8787);
const ISSUER_PORT = 8788;
const CHATKIT_PORT = 8789;
const DEMO_API_KEY = "sk-demo-local-only";
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
const args = ["wrangler", "dev", "--port", String(WORKER_PORT), ...process.argv.slice(2)];
const cleanups = [];

if (existsSync(".dev.vars")) {
  console.log("chatkit-gate: using .dev.vars (real configuration, no stand-ins)");
} else {
  const issuer = await startIssuer({ port: ISSUER_PORT });
  const chatkit = await startChatKit({ port: CHATKIT_PORT, apiKey: DEMO_API_KEY });
  const dir = mkdtempSync(join(tmpdir(), "chatkit-gate-demo-"));
  const file = join(dir, "demo.env");
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
      ALLOWED_ORIGINS: `http://127.0.0.1:${WORKER_PORT},http://localhost:${WORKER_PORT}`,
    })
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
  );
  args.push("--env-file", file);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), issuer.close, chatkit.close);
  const w = `http://127.0.0.1:${WORKER_PORT}`;
  console.log(`
  ┌─ chatkit-gate LOCAL DEMO MODE ───────────────────────────────────────────
  │ No .dev.vars found, so the worker talks to local stand-ins, not OpenAI:
  │   dev token issuer   ${issuer.issuer}   (ES256, audience ${DEMO_AUDIENCE})
  │   ChatKit stand-in   ${chatkit.baseUrl}
  │ Copy .dev.vars.example to .dev.vars to use a real provider and key.
  │
  │ Try the whole flow:
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
