// Mints tokens the way a real relying party does: endpoints from discovery,
// authorization code with PKCE (S256) following the provider's redirects
// with its cookies, and client_credentials with HTTP Basic client auth.
import { createHash, randomBytes } from "node:crypto";

/** The provider redirects a handful of times (auth → login → auth → consent → auth → callback); more means a loop. */
const MAX_REDIRECTS = 10;
/** RFC 7636 §4.1 allows 43..128 characters; 32 random bytes give 43. */
const PKCE_VERIFIER_BYTES = 32;

const random = () => randomBytes(PKCE_VERIFIER_BYTES).toString("base64url");

async function discover(issuer) {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`discovery answered ${response.status}`);
  return response.json();
}

/**
 * A minimal cookie jar for one login: keeps name, value and path, drops
 * expired cookies, and sends only those whose path matches, as a browser would.
 */
class CookieJar {
  #cookies = new Map();

  store(setCookies) {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(";").map((part) => part.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const attrs = Object.fromEntries(attributes.map((a) => [a.split("=")[0].toLowerCase(), a.split("=")[1] ?? ""]));
      const path = attrs.path || "/";
      const expired =
        attrs["max-age"] === "0" || (attrs.expires !== undefined && Date.parse(attrs.expires) <= Date.now());
      const key = `${path}\n${name}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value: pair.slice(eq + 1), path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }
}

async function tokenRequest(endpoint, form, headers = {}) {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

/**
 * Signs `user` in through the authorization code flow with PKCE and returns
 * the provider's `id_token` and JWT `access_token` (for `resource`).
 */
export async function loginWithPkce({ issuer, clientId, redirectUri, user, resource, scope }) {
  const metadata = await discover(issuer);
  const verifier = random();
  const state = random();
  const authorize = new URL(metadata.authorization_endpoint);
  authorize.search = new URLSearchParams({
    client_id: clientId,
    response_type: "code",
    redirect_uri: redirectUri,
    scope,
    state,
    nonce: random(),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    login_hint: user,
    resource,
  }).toString();

  const jar = new CookieJar();
  let url = authorize.href;
  let callback;
  for (let hop = 0; hop < MAX_REDIRECTS && callback === undefined; hop++) {
    const response = await fetch(url, { redirect: "manual", headers: { cookie: jar.header(url) } });
    jar.store(response.headers.getSetCookie());
    const location = response.headers.get("location");
    if (location === null) throw new Error(`${url} answered ${response.status} without a redirect`);
    const next = new URL(location, url);
    if (next.href.startsWith(redirectUri)) callback = next;
    else url = next.href;
  }
  if (callback === undefined) throw new Error(`no redirect to ${redirectUri} within ${MAX_REDIRECTS} hops`);
  const error = callback.searchParams.get("error");
  if (error) throw new Error(`authorization failed: ${error} ${callback.searchParams.get("error_description")}`);
  if (callback.searchParams.get("state") !== state) throw new Error("state mismatch");
  if (callback.searchParams.get("iss") !== issuer) throw new Error("iss mismatch in the authorization response");

  const tokens = await tokenRequest(metadata.token_endpoint, {
    grant_type: "authorization_code",
    code: callback.searchParams.get("code"),
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: clientId,
  });
  return { idToken: tokens.id_token, accessToken: tokens.access_token, expiresIn: tokens.expires_in };
}

/** A client_credentials access token for `resource`. */
export async function clientCredentials({ issuer, client, resource, scope }) {
  const metadata = await discover(issuer);
  const basic = Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString("base64");
  const tokens = await tokenRequest(
    metadata.token_endpoint,
    { grant_type: "client_credentials", resource, scope },
    { authorization: `Basic ${basic}` },
  );
  return { accessToken: tokens.access_token, expiresIn: tokens.expires_in };
}
