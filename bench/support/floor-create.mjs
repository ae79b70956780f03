// `floor-create` (issue #11, goal 2): the least any worker must do for a
// create, written the simplest way: one `jose.jwtVerify` with an
// already-imported key, one fetch to the same ChatKit stand-in, one KV put,
// and the answer. It runs in the same process as the gate, called through the
// same harness (`caller`: one Request built, the Response read), against the
// same stand-ins (the fake peers' fetch and the same in-memory KV).
//
// It leaves out everything the gate adds beyond that minimum: request
// validation, CORS, the rate limit, the log line, the owner key hash, the
// upstream answer's checks, retries and timeouts. That is the point of a
// floor: the gate's ratio to it is the price of those.
import { jwtVerify } from "jose";
import { CHATKIT_BASE_URL } from "./fake-peers.mjs";
import { AUDIENCE, ISSUER } from "./tokens.mjs";

/** The gate keeps a record an hour past its session; the same TTL keeps the write comparable (as bench/floor-kv). */
const RECORD_TTL_SECONDS = 4200;

/** A worker (`fetch(request, env)`) whose only key is `key`; env.SESSIONS is the KV. */
export function floorCreateWorker(key) {
  return {
    async fetch(request, env) {
      const token = request.headers.get("authorization")?.slice("Bearer ".length) ?? "";
      // issuer and audience: without them a verified token from any app of the same IdP would pass.
      const { payload } = await jwtVerify(token, key, { issuer: ISSUER, audience: AUDIENCE });
      const upstream = await fetch(`${CHATKIT_BASE_URL}/chatkit/sessions`, {
        method: "POST",
        headers: {
          authorization: "Bearer sk-bench-not-a-real-key",
          "openai-beta": "chatkit_beta=v1",
          "content-type": "application/json",
        },
        body: JSON.stringify({ user: payload.sub, workflow: { id: "wf_bench" } }),
      });
      const session = await upstream.json();
      await env.SESSIONS.put(
        `session:${payload.sub}:${session.id}`,
        JSON.stringify({ session_id: session.id, expires_at: session.expires_at, status: session.status }),
        { expirationTtl: RECORD_TTL_SECONDS },
      );
      return Response.json(
        { session_id: session.id, client_secret: session.client_secret, expires_at: session.expires_at },
        { status: 201 },
      );
    },
  };
}
