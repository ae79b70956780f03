// Replaces globalThis.fetch with the two peers the worker talks to, answering
// at once from memory: the identity provider (discovery and JWKS) and ChatKit
// (create and cancel, shaped like ChatSessionResource). Counts every call.
import { ISSUER } from "./tokens.mjs";

export const CHATKIT_BASE_URL = "https://chatkit.bench.example/v1";
export const JWKS_URL = `${ISSUER}/jwks.json`;
const DISCOVERY_URL = `${ISSUER}/.well-known/openid-configuration`;
const CANCEL_PATH = /^\/v1\/chatkit\/sessions\/(cksess_[A-Za-z0-9_-]+)\/cancel$/;
/** The real API's default session lifetime, used when the answer needs an expiry. */
const SESSION_SECONDS = 600;

const JSON_HEADERS = { "content-type": "application/json" };

/** The static tail of a ChatSessionResource, serialised once: the stub must cost next to nothing. */
const SESSION_TAIL = JSON.stringify({
  object: "chatkit.session",
  user: "bench-user",
  workflow: { id: "wf_bench", version: "3", state_variables: null, tracing: { enabled: true } },
  rate_limits: { max_requests_per_1_minute: 10 },
  max_requests_per_1_minute: 10,
  chatkit_configuration: {
    automatic_thread_titling: { enabled: true },
    file_upload: { enabled: false, max_file_size: null, max_files: null },
    history: { enabled: true, recent_threads: 5 },
  },
}).slice(1);

function sessionJson(id, status) {
  const expiresAt = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
  return `{"id":"${id}","client_secret":"ek_bench_${id}","expires_at":${expiresAt},"status":"${status}",${SESSION_TAIL}`;
}

export function installFakePeers(jwks) {
  const counts = { discovery: 0, jwks: 0, create: 0, cancel: 0, unexpected: 0 };
  const state = { jwks: JSON.stringify(jwks), sequence: 0 };
  const original = globalThis.fetch;

  globalThis.fetch = async (input) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url === JWKS_URL) {
      counts.jwks++;
      return new Response(state.jwks, { headers: JSON_HEADERS });
    }
    if (url === DISCOVERY_URL) {
      counts.discovery++;
      return Response.json({ issuer: ISSUER, jwks_uri: JWKS_URL });
    }
    if (url.startsWith(CHATKIT_BASE_URL)) {
      const headers = { ...JSON_HEADERS, "x-request-id": `req_${++state.sequence}` };
      const path = new URL(url).pathname;
      if (path === "/v1/chatkit/sessions") {
        counts.create++;
        return new Response(sessionJson(`cksess_bench${state.sequence}`, "active"), { headers });
      }
      const cancel = CANCEL_PATH.exec(path);
      if (cancel) {
        counts.cancel++;
        return new Response(sessionJson(cancel[1], "cancelled"), { headers });
      }
    }
    counts.unexpected++;
    return new Response("no such peer in the bench", { status: 599 });
  };

  return {
    counts,
    restore: () => {
      globalThis.fetch = original;
    },
  };
}
