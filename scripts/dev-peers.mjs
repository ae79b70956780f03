// Local stand-ins for the two peers chatkit-gate talks to, for `npm run dev`
// demo mode, end-to-end tests and benchmarks. Dev-only: never bundled.
//  - a token issuer: OIDC discovery, a JWKS, and GET /token?sub=alice[&expires_in=-60]
//  - a ChatKit stand-in: create and cancel answered the way the real API does
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT } from "jose";

export const DEMO_AUDIENCE = "chatkit-gate-demo";
/** Demo tokens last an hour, so a person can follow the README at leisure. */
const DEMO_TOKEN_SECONDS = 3600;
/** How far in the past an expired demo token may have expired: a day is plenty to show the error. */
const MAX_TOKEN_AGE_SECONDS = 86_400;

/**
 * `expires_in` for GET /token: the default lifetime when absent; a negative
 * value gives an expired token, for trying the error path. Undefined when bad.
 */
function tokenLifetime(value) {
  if (value === null) return DEMO_TOKEN_SECONDS;
  const seconds = Number(value);
  return /^-?\d+$/.test(value) && seconds <= DEMO_TOKEN_SECONDS && seconds >= -MAX_TOKEN_AGE_SECONDS
    ? seconds
    : undefined;
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server.address().port));
  });
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", "access-control-allow-origin": "*", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The issuer's signing key: read from `keyFile` when it holds one, else made
 * and (with a `keyFile`) saved there, so a restarted `npm run dev` signs with
 * the key the worker already cached. The kid is the key's RFC 7638
 * thumbprint, so a different key never hides behind a known kid.
 */
async function signingKey(keyFile) {
  let privateJwk;
  if (keyFile !== undefined) {
    try {
      privateJwk = JSON.parse(readFileSync(keyFile, "utf8"));
    } catch {}
  }
  if (privateJwk?.kty !== "EC" || privateJwk?.crv !== "P-256" || typeof privateJwk?.d !== "string") {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    privateJwk = await exportJWK(privateKey);
    if (keyFile !== undefined) {
      mkdirSync(dirname(keyFile), { recursive: true });
      // A dev-only key, but still a private key: readable by its owner only.
      writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
    }
  }
  const { kty, crv, x, y } = privateJwk;
  const publicJwk = { kty, crv, x, y };
  return {
    privateKey: await importJWK(privateJwk, "ES256"),
    jwk: { ...publicJwk, kid: await calculateJwkThumbprint(publicJwk), alg: "ES256", use: "sig" },
  };
}

/**
 * Where the demo issuer keeps its key: git-ignored, beside the KV state
 * (`.wrangler/state`) that persists the JWKS the worker fetched from it.
 */
const DEMO_KEY_FILE = fileURLToPath(new URL("../.wrangler/demo-issuer-key.json", import.meta.url));

/**
 * A token issuer on 127.0.0.1 whose issuer URL is `http://127.0.0.1:<port>`.
 * Its key survives restarts in `keyFile` (by default under `.wrangler/`), so
 * tokens issued before a restart still verify; `keyFile: null` gives a fresh
 * key (and kid) on every start.
 */
export async function startIssuer({ port = 0, keyFile = DEMO_KEY_FILE } = {}) {
  const { privateKey, jwk } = await signingKey(keyFile ?? undefined);
  let issuer = "";
  const server = createServer((req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === "/.well-known/openid-configuration") {
      return send(res, 200, {
        issuer,
        jwks_uri: `${issuer}/jwks.json`,
        id_token_signing_alg_values_supported: ["ES256"],
      });
    }
    if (url.pathname === "/jwks.json") return send(res, 200, { keys: [jwk] });
    if (url.pathname === "/token") {
      const sub = url.searchParams.get("sub") ?? "alice";
      const expiresIn = tokenLifetime(url.searchParams.get("expires_in"));
      if (expiresIn === undefined) {
        return send(res, 400, { error: `expires_in must be a whole number of seconds up to ${DEMO_TOKEN_SECONDS}` });
      }
      const now = Math.floor(Date.now() / 1000);
      const exp = now + expiresIn;
      return (
        new SignJWT({ name: sub })
          .setProtectedHeader({ alg: "ES256", kid: jwk.kid, typ: "JWT" })
          .setIssuer(issuer)
          .setAudience(DEMO_AUDIENCE)
          .setSubject(sub)
          // An already expired token (negative expires_in) looks like one issued a full lifetime before it expired.
          .setIssuedAt(Math.min(now, exp - DEMO_TOKEN_SECONDS))
          .setExpirationTime(exp)
          .sign(privateKey)
          .then((token) => send(res, 200, { token, expires_in: expiresIn }))
      );
    }
    send(res, 404, { error: "not found" });
  });
  const bound = await listen(server, port);
  issuer = `http://127.0.0.1:${bound}`;
  return { issuer, port: bound, close: () => new Promise((r) => server.close(r)) };
}

/** ChatKit's defaults when a create names none (ExpiresAfterParam, RateLimitsParam). */
const DEFAULT_EXPIRES_AFTER_SECONDS = 600;
const DEFAULT_REQUESTS_PER_MINUTE = 10;

/**
 * The `ChatSessionResource` ChatKit answers a create with, for a create body:
 * a fresh `cksess_` id and client secret, and every field the spec requires.
 */
export function chatSessionResource(body, secretPrefix = "ek_") {
  const random = () => crypto.randomUUID().replace(/-/g, "");
  const perMinute = body?.rate_limits?.max_requests_per_1_minute ?? DEFAULT_REQUESTS_PER_MINUTE;
  return {
    id: `cksess_${random()}`,
    object: "chatkit.session",
    client_secret: `${secretPrefix}${random()}`,
    expires_at: Math.floor(Date.now() / 1000) + (body?.expires_after?.seconds ?? DEFAULT_EXPIRES_AFTER_SECONDS),
    status: "active",
    user: body?.user,
    workflow: {
      id: body?.workflow?.id,
      version: body?.workflow?.version ?? null,
      state_variables: body?.workflow?.state_variables ?? null,
      tracing: { enabled: true },
    },
    rate_limits: { max_requests_per_1_minute: perMinute },
    max_requests_per_1_minute: perMinute,
    chatkit_configuration: {
      automatic_thread_titling: { enabled: true },
      file_upload: { enabled: false, max_file_size: null, max_files: null },
      history: { enabled: true, recent_threads: null },
    },
  };
}

/**
 * A ChatKit stand-in on 127.0.0.1 that answers `POST /v1/chatkit/sessions`
 * and `POST /v1/chatkit/sessions/{id}/cancel` with ChatSessionResource
 * objects, and records every call in `calls`.
 */
export async function startChatKit({ port = 0, apiKey } = {}) {
  const sessions = new Map();
  const calls = [];
  const server = createServer(async (req, res) => {
    const text = await readBody(req);
    const body = text ? JSON.parse(text) : undefined;
    calls.push({ method: req.method, path: req.url, headers: req.headers, body });
    const headers = { "x-request-id": `req_${calls.length}` };
    if (apiKey && req.headers.authorization !== `Bearer ${apiKey}`) {
      return send(
        res,
        401,
        {
          error: {
            message: "Incorrect API key provided",
            type: "invalid_request_error",
            param: null,
            code: "invalid_api_key",
          },
        },
        headers,
      );
    }
    if (req.method === "POST" && req.url === "/v1/chatkit/sessions") {
      const session = chatSessionResource(body, "ek_demo_");
      sessions.set(session.id, session);
      return send(res, 200, session, headers);
    }
    const cancel = /^\/v1\/chatkit\/sessions\/(cksess_[A-Za-z0-9_-]+)\/cancel$/.exec(req.url ?? "");
    if (req.method === "POST" && cancel && sessions.has(cancel[1])) {
      const session = { ...sessions.get(cancel[1]), status: "cancelled" };
      sessions.set(cancel[1], session);
      return send(res, 200, session, headers);
    }
    send(
      res,
      404,
      { error: { message: "Not found", type: "invalid_request_error", param: null, code: null } },
      headers,
    );
  });
  const bound = await listen(server, port);
  return {
    baseUrl: `http://127.0.0.1:${bound}/v1`,
    port: bound,
    calls,
    sessions,
    close: () => new Promise((r) => server.close(r)),
  };
}
