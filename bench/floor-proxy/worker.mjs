// The floor of a self-hosted proxy under `wrangler dev`: it forwards a
// `POST /chatkit` body to the ChatKit server and streams the answer back, with
// no secret, no check, no assertion and no KV. The gate against it prices the
// gate's own work; the floor against a direct call prices wrangler dev's
// proxy and workerd's extra hop.

export default {
  async fetch(request, env) {
    if (request.method !== "POST" || new URL(request.url).pathname !== "/chatkit") {
      return new Response("not found", { status: 404 });
    }
    const upstream = await fetch(env.CHATKIT_SERVER_URL, {
      method: "POST",
      headers: { "content-type": request.headers.get("content-type") ?? "application/json" },
      body: request.body,
    });
    return new Response(upstream.body, {
      status: upstream.status,
      headers: { "content-type": upstream.headers.get("content-type") ?? "application/octet-stream" },
    });
  },
};
