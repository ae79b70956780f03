// Replaces globalThis.fetch with the two peers the worker talks to, answering
// at once from memory: the identity provider (discovery and JWKS) and ChatKit
// (create and cancel, shaped like ChatSessionResource), and optionally a
// self-hosted ChatKit server (a `fetch`-style handler). Counts every call.
import { ISSUER } from "./tokens.mjs";

export const CHATKIT_BASE_URL = "https://chatkit.bench.test/v1";
export const JWKS_URL = `${ISSUER}/jwks.json`;
const DISCOVERY_URL = `${ISSUER}/.well-known/openid-configuration`;
const CANCEL_PATH = /^\/v1\/chatkit\/sessions\/(cksess_[A-Za-z0-9_-]+)\/cancel$/;
/** The real API's default session lifetime, used when the answer needs an expiry. */
const SESSION_SECONDS = 600;

const JSON_HEADERS = { "content-type": "application/json" };

/** The static tail of a ChatSessionResource, serialised once: the stub must cost next to nothing. */
const SESSION_TAIL = JSON.stringify({
  object: "chatkit.session",
  workflow: { id: "wf_bench", version: "3", state_variables: null, tracing: { enabled: true } },
  rate_limits: { max_requests_per_1_minute: 10 },
  max_requests_per_1_minute: 10,
  chatkit_configuration: {
    automatic_thread_titling: { enabled: true },
    file_upload: { enabled: false, max_file_size: null, max_files: null },
    history: { enabled: true, recent_threads: 5 },
  },
}).slice(1);
/** A cancel's answer names the session's user; the stub does not keep sessions, and the gate does not check it. */
const CANCEL_USER = "bench-user";

/** The session as ChatKit answers it: for the user that was asked, ending `seconds` from now. */
function sessionJson(id, status, user, seconds = SESSION_SECONDS) {
  const expiresAt = Math.floor(Date.now() / 1000) + seconds;
  return `{"id":"${id}","client_secret":"ek_bench_${id}","expires_at":${expiresAt},"status":"${status}","user":${JSON.stringify(user)},${SESSION_TAIL}`;
}

/** The create's `user` and `expires_after.seconds`, as ChatKit reads them from the body. */
async function createParams(input, init) {
  const raw = init?.body ?? (input instanceof Request ? await input.text() : undefined);
  const text = typeof raw === "string" ? raw : raw === undefined ? "{}" : new TextDecoder().decode(raw);
  const body = JSON.parse(text);
  return { user: body.user, seconds: body.expires_after?.seconds };
}

/**
 * `server`: a self-hosted ChatKit server stand-in, `{ url, handle(Request) }`;
 * a fetch to exactly `url` is answered by `handle`, as the network would
 * deliver it: a Request built from what the worker passed.
 */
export function installFakePeers(jwks, { server } = {}) {
  const counts = { discovery: 0, jwks: 0, create: 0, cancel: 0, server: 0, unexpected: 0 };
  const state = { jwks: JSON.stringify(jwks), sequence: 0 };
  const original = globalThis.fetch;

  globalThis.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (server !== undefined && url === server.url) {
      counts.server++;
      const streamed = init?.body instanceof ReadableStream;
      return server.handle(
        input instanceof Request ? input : new Request(url, streamed ? { ...init, duplex: "half" } : init),
      );
    }
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
        const { user, seconds } = await createParams(input, init);
        return new Response(sessionJson(`cksess_bench${state.sequence}`, "active", user, seconds), { headers });
      }
      const cancel = CANCEL_PATH.exec(path);
      if (cancel) {
        counts.cancel++;
        return new Response(sessionJson(cancel[1], "cancelled", CANCEL_USER), { headers });
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
