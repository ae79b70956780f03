// The peers for the workerd load runs, as real HTTP servers on 127.0.0.1:
// a token issuer (discovery, JWKS, ES256 tokens), a ChatKit stand-in that
// answers create, and a self-hosted ChatKit server stand-in (SSE). All count
// what they serve. They answer at once, or after the delays of a profile
// (issue #11: the IdP 30-80 ms away, ChatKit create at 300 ms). They run in a
// worker thread (see load-peers-thread.mjs) so autocannon's event loop is not
// theirs.
import { createServer } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { serveChatKitRequest } from "./chatkit-server-stand-in.mjs";
import { seeded } from "./seeded.mjs";

export const LOAD_AUDIENCE = "chatkit-gate-bench";
/** Tokens outlive every load run. */
const TOKEN_SECONDS = 3600;
/** The real API's default session lifetime. */
const SESSION_SECONDS = 600;

/** Answers at once: the zero-delay runs. */
export const NO_DELAYS = { idpMs: [0, 0], createMs: 0, seed: 1 };

/** The delays in force: `idpMs` [min, max] uniform for discovery and JWKS, `createMs` fixed for ChatKit create. */
function delayProfile({ idpMs, createMs, seed }) {
  const random = seeded(seed);
  const [min, max] = idpMs;
  return { idp: () => (max > 0 ? min + random() * (max - min) : 0), create: () => createMs };
}

const pause = (ms) => (ms > 0 ? sleep(ms) : undefined);

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Reads the request body; the stand-ins answer the same whatever was sent, but for the create's user. */
function drained(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

/** The create's `user` and `expires_after.seconds`, as ChatKit reads them; the gate checks both in the answer. */
function createParams(text) {
  try {
    const body = JSON.parse(text);
    return { user: body.user, seconds: body.expires_after?.seconds ?? SESSION_SECONDS };
  } catch {
    return { user: undefined, seconds: SESSION_SECONDS };
  }
}

/** `users`: how many distinct signed-in users to mint one token each for. */
export async function startLoadPeers({ users, delays = NO_DELAYS }) {
  const counts = { discovery: 0, jwks: 0, create: 0, server: 0, other: 0 };
  let delay = delayProfile(delays);
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench-load", alg: "ES256", use: "sig" };
  let issuer = "";

  const idp = createServer(async (req, res) => {
    await drained(req);
    if (req.url === "/.well-known/openid-configuration" || req.url === "/jwks.json") await pause(delay.idp());
    if (req.url === "/.well-known/openid-configuration") {
      counts.discovery++;
      return json(res, 200, JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks.json` }));
    }
    if (req.url === "/jwks.json") {
      counts.jwks++;
      return json(res, 200, JSON.stringify({ keys: [jwk] }));
    }
    counts.other++;
    json(res, 404, "{}");
  });
  issuer = `http://127.0.0.1:${await listen(idp)}`;

  let sequence = 0;
  const chatkit = createServer(async (req, res) => {
    const text = await drained(req);
    if (req.method === "POST" && req.url === "/v1/chatkit/sessions") {
      counts.create++;
      await pause(delay.create());
      const id = `cksess_load${++sequence}`;
      const { user, seconds } = createParams(text);
      const expiresAt = Math.floor(Date.now() / 1000) + seconds;
      return json(
        res,
        200,
        JSON.stringify({
          id,
          object: "chatkit.session",
          client_secret: `ek_load_${id}`,
          expires_at: expiresAt,
          status: "active",
          user,
          workflow: { id: "wf_bench", version: null, state_variables: null, tracing: { enabled: true } },
          rate_limits: { max_requests_per_1_minute: 10 },
          max_requests_per_1_minute: 10,
          chatkit_configuration: {
            automatic_thread_titling: { enabled: true },
            file_upload: { enabled: false, max_file_size: null, max_files: null },
            history: { enabled: true, recent_threads: null },
          },
        }),
      );
    }
    counts.other++;
    json(res, 404, JSON.stringify({ error: { message: "Not found", type: "invalid_request_error" } }));
  });
  const chatkitBaseUrl = `http://127.0.0.1:${await listen(chatkit)}/v1`;

  const server = createServer((req, res) => {
    if (req.method === "POST" && req.url === "/chatkit") {
      counts.server++;
      return serveChatKitRequest(req, res);
    }
    counts.other++;
    json(res, 404, "{}");
  });
  // The stand-in serves few, long connections; keep-alive as a real server would.
  server.keepAliveTimeout = 60_000;
  const chatkitServerUrl = `http://127.0.0.1:${await listen(server)}/chatkit`;

  const now = Math.floor(Date.now() / 1000);
  const mintFor = (sub) =>
    new SignJWT({ sub })
      .setProtectedHeader({ alg: "ES256", kid: jwk.kid, typ: "JWT" })
      .setIssuer(issuer)
      .setAudience(LOAD_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + TOKEN_SECONDS)
      .sign(privateKey);
  const tokens = [];
  for (let i = 0; i < users; i++) tokens.push(await mintFor(`load-user-${i}`));

  return {
    issuer,
    jwksUrl: `${issuer}/jwks.json`,
    chatkitBaseUrl,
    chatkitServerUrl,
    tokens,
    counts,
    setDelays: (profile) => {
      delay = delayProfile(profile);
    },
    close: () =>
      Promise.all(
        [idp, chatkit, server].map((s) => {
          s.closeAllConnections?.();
          return new Promise((resolve) => s.close(resolve));
        }),
      ),
  };
}
