// The floor plus the one KV write every create needs, and nothing else: the
// difference to the floor is what one KV put costs under `wrangler dev`.
import floor from "../floor/worker.mjs";

/** The gate keeps a record an hour past its session; the same TTL keeps the write comparable. */
const RECORD_TTL_SECONDS = 4200;

export default {
  async fetch(request, env) {
    const upstream = await floor.fetch(request, env);
    if (!upstream.ok) return upstream;
    const body = await upstream.text();
    const { id } = JSON.parse(body);
    await env.SESSIONS.put(`session:${id}`, body, { expirationTtl: RECORD_TTL_SECONDS });
    return new Response(body, { status: 201, headers: { "content-type": "application/json" } });
  },
};
