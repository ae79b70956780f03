// The floor: what any worker in front of ChatKit must at least do. It
// forwards a create to the same upstream with the server key and returns the
// answer as it streams in: no token check, no KV, no validation.

export default {
  async fetch(request, env) {
    if (request.method !== "POST" || new URL(request.url).pathname !== "/v1/chatkit/sessions") {
      return new Response("not found", { status: 404 });
    }
    return fetch(`${env.OPENAI_BASE_URL}/chatkit/sessions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${env.OPENAI_API_KEY}`,
        "openai-beta": "chatkit_beta=v1",
        "content-type": "application/json",
      },
      body: JSON.stringify({ user: "anonymous", workflow: { id: env.CHATKIT_WORKFLOW_ID } }),
    });
  },
};
