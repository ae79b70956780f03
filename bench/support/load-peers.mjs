// The peers for the workerd load runs, as real HTTP servers on 127.0.0.1:
// a token issuer (discovery, JWKS, ES256 tokens) and a ChatKit stand-in that
// answers create at once. Both count what they serve. They run in a worker
// thread (see load-peers-thread.mjs) so autocannon's event loop is not theirs.
import { createServer } from "node:http";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

export const LOAD_AUDIENCE = "chatkit-gate-bench";
/** Tokens outlive every load run. */
const TOKEN_SECONDS = 3600;
/** The real API's default session lifetime. */
const SESSION_SECONDS = 600;

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

/** Drains the request body without keeping it: the stand-ins answer the same whatever was sent. */
function drained(req) {
  return new Promise((resolve) => {
    req.on("data", () => {});
    req.on("end", resolve);
  });
}

/** `users`: how many distinct signed-in users to mint one token each for. */
export async function startLoadPeers({ users }) {
  const counts = { discovery: 0, jwks: 0, create: 0, other: 0 };
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench-load", alg: "ES256", use: "sig" };
  let issuer = "";

  const idp = createServer(async (req, res) => {
    await drained(req);
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
    await drained(req);
    if (req.method === "POST" && req.url === "/v1/chatkit/sessions") {
      counts.create++;
      const id = `cksess_load${++sequence}`;
      const expiresAt = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
      return json(
        res,
        200,
        JSON.stringify({
          id,
          object: "chatkit.session",
          client_secret: `ek_load_${id}`,
          expires_at: expiresAt,
          status: "active",
          user: "bench-user",
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
    tokens,
    counts,
    close: () => Promise.all([idp, chatkit].map((server) => new Promise((resolve) => server.close(resolve)))),
  };
}
