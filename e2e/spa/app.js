// The SPA a chatkit-gate customer would write, reduced to its essentials:
// sign in at the OpenID provider with authorization code + PKCE (the page
// is a public client), then ask the worker for a ChatKit session with the
// access token. The worker is on another origin, so the browser sends a
// CORS preflight first and only then the POST, if the worker allows it.
// With `?flow=chatkit`, the signed-in page instead drives a self-hosted
// gate's `/chatkit` through chatkit-gate/client (chatkit-flow.js).

const config = await (await fetch("/config.json")).json();
const show = (id, text) => {
  document.getElementById(id).textContent = text;
};
const finish = (state, result) => {
  show("state", state);
  show("result", typeof result === "string" ? result : JSON.stringify(result, null, 2));
  document.body.dataset.state = state;
};
const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const random = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

async function signIn(user, flow) {
  const verifier = random();
  const state = random();
  // A test may hand the page a client secret in the fragment, which no server sees; it must survive the sign-in.
  const handed = new URLSearchParams(location.hash.slice(1)).get("secret");
  sessionStorage.setItem("pkce", JSON.stringify({ verifier, state, user, flow, handed }));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
  );
  const url = new URL(config.authorizationEndpoint);
  url.search = new URLSearchParams({
    client_id: config.clientId,
    response_type: "code",
    redirect_uri: `${location.origin}/callback`,
    scope: config.scope,
    resource: config.resource,
    state,
    nonce: random(),
    code_challenge: challenge,
    code_challenge_method: "S256",
    login_hint: user,
  }).toString();
  location.assign(url);
}

async function redeem(params) {
  const saved = JSON.parse(sessionStorage.getItem("pkce") ?? "{}");
  sessionStorage.removeItem("pkce");
  if (params.get("error")) throw new Error(`sign-in failed: ${params.get("error")}`);
  if (params.get("state") !== saved.state) throw new Error("sign-in state mismatch");
  const response = await fetch(config.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: `${location.origin}/callback`,
      code_verifier: saved.verifier,
      client_id: config.clientId,
    }),
  });
  const tokens = await response.json();
  if (!response.ok) throw new Error(`token endpoint: ${tokens.error}`);
  show("user", saved.user);
  return { token: tokens.access_token, flow: saved.flow, handed: saved.handed };
}

async function createSession(token) {
  let response;
  try {
    response = await fetch(`${config.workerUrl}/v1/chatkit/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
  } catch (error) {
    // What a browser reports when CORS refuses the call: the script learns nothing more.
    return finish("blocked", `${error.name}: ${error.message}`);
  }
  const body = await response.json();
  // A real SPA hands the client secret to ChatKit and never displays it.
  if (body.client_secret) body.client_secret = `${body.client_secret.slice(0, 8)}… (hidden)`;
  finish(response.ok ? "done" : "error", {
    status: response.status,
    request_id: response.headers.get("x-request-id"),
    body,
  });
}

show("origin", location.origin);
try {
  const params = new URLSearchParams(location.search);
  if (location.pathname === "/callback") {
    const { token, flow, handed } = await redeem(params);
    if (flow === "chatkit") {
      const { runChatKitFlow } = await import("/chatkit-flow.js");
      await runChatKitFlow({ config, token, handed, finish });
    } else await createSession(token);
  } else await signIn(params.get("user") ?? "alice", params.get("flow") ?? "sessions");
} catch (error) {
  finish("error", String(error));
}
