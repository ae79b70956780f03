// "The usual way", written the way a typical tutorial does it: hono's jwk
// middleware pointed at the provider's JWKS, a plain fetch to ChatKit, and
// the session put in KV with its user. It is deliberately not optimised:
// hono/jwk fetches the JWKS and imports the key on every request.
import { Hono } from "hono";
import { jwk } from "hono/jwk";

const app = new Hono();

app.use("/v1/*", (c, next) =>
  jwk({
    jwks_uri: c.env.AUTH_JWKS_URL,
    alg: ["RS256", "ES256"],
    verification: { iss: c.env.AUTH_ISSUER, aud: c.env.AUTH_AUDIENCE },
  })(c, next),
);

app.post("/v1/chatkit/sessions", async (c) => {
  const { sub } = c.get("jwtPayload");
  const response = await fetch(`${c.env.OPENAI_BASE_URL}/chatkit/sessions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${c.env.OPENAI_API_KEY}`,
      "openai-beta": "chatkit_beta=v1",
      "content-type": "application/json",
    },
    body: JSON.stringify({ user: sub, workflow: { id: c.env.CHATKIT_WORKFLOW_ID } }),
  });
  if (!response.ok) return c.json({ error: "upstream error" }, 502);
  const session = await response.json();
  await c.env.SESSIONS.put(
    `session:${session.id}`,
    JSON.stringify({ user: sub, session_id: session.id, expires_at: session.expires_at, status: session.status }),
  );
  return c.json({ session_id: session.id, client_secret: session.client_secret, expires_at: session.expires_at });
});

export default app;
