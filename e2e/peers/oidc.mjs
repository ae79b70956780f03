// A real OpenID Connect provider (the `oidc-provider` package) on 127.0.0.1,
// signing ID tokens with RS256 and JWT access tokens with ES256. The only
// non-standard part is the interaction: a headless route that logs in the
// account named by `login_hint` and grants what was asked, so grants stay
// real (cookies, PKCE, codes) without a login form.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { errors } from "oidc-provider";
import { createMemoryAdapter } from "oidc-provider/lib/adapters/memory_adapter.js";
import { closeNow, listen, sleep } from "../support.mjs";

/** The SPA: a public client, so the provider insists on PKCE (its default for `none` auth). */
export const SPA_CLIENT_ID = "chatkit-gate-spa";
/** A backend using client_credentials; its tokens carry `sub` = its client id. */
export const SERVICE_CLIENT = { id: "chatkit-gate-backend", secret: randomBytes(24).toString("base64url") };
/** A backend whose tokens live only seconds, for the expiry flow. */
export const SHORT_LIVED_CLIENT = { id: "chatkit-gate-short-lived", secret: randomBytes(24).toString("base64url") };
/** The resource indicator (RFC 8707) for chatkit-gate: the audience of its JWT access tokens. */
export const RESOURCE = "urn:chatkit-gate:e2e";
/** The resource server's one scope. */
export const RESOURCE_SCOPE = "chatkit";
/** Accounts the headless login accepts as `login_hint`. */
export const ACCOUNTS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"];

/** ID and access tokens outlive any run, so only the expiry flow ever sees one expire. */
const TOKEN_TTL_SECONDS = 600;
/** Short enough that the expiry flow waits seconds, long enough to be used once before it lapses. */
const SHORT_TTL_SECONDS = 3;
/** A pause between stop and start, so clients notice their old connections closed, as after any real restart. */
const RESTART_PAUSE_MS = 100;
/** Interactions, sessions and grants only need to last one run. */
const ARTIFACT_TTL_SECONDS = 600;

/** A fresh signing key set: one RSA and one P-256 key, each with its own kid. */
export async function generateKeySet(label) {
  const keys = [];
  for (const alg of ["RS256", "ES256"]) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    keys.push({ ...(await exportJWK(privateKey)), kid: `${label}-${alg.toLowerCase()}`, alg, use: "sig" });
  }
  return { keys };
}

function configuration(jwks, redirectUris) {
  const resourceServer = {
    scope: RESOURCE_SCOPE,
    audience: RESOURCE,
    accessTokenFormat: "jwt",
    accessTokenTTL: TOKEN_TTL_SECONDS,
    jwt: { sign: { alg: "ES256" } },
  };
  return {
    // The package's own memory store, passed explicitly: one run's state is all we need, and a restart drops it.
    adapter: createMemoryAdapter(),
    jwks,
    clients: [
      {
        client_id: SPA_CLIENT_ID,
        token_endpoint_auth_method: "none",
        application_type: "web",
        grant_types: ["authorization_code"],
        response_types: ["code"],
        redirect_uris: redirectUris,
        id_token_signed_response_alg: "RS256",
      },
      ...[SERVICE_CLIENT, SHORT_LIVED_CLIENT].map(({ id, secret }) => ({
        client_id: id,
        client_secret: secret,
        token_endpoint_auth_method: "client_secret_basic",
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
      })),
    ],
    findAccount: (_ctx, id) => (ACCOUNTS.includes(id) ? { accountId: id, claims: () => ({ sub: id }) } : undefined),
    claims: { openid: ["sub"] },
    // The SPA may call the token endpoint from the origins of its redirect URIs, and from nowhere else.
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris.some((uri) => new URL(uri).origin === origin),
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== RESOURCE) throw new errors.InvalidTarget();
          return resourceServer;
        },
      },
    },
    ttl: {
      AccessToken: TOKEN_TTL_SECONDS,
      IdToken: TOKEN_TTL_SECONDS,
      ClientCredentials: (_ctx, _token, client) =>
        client.clientId === SHORT_LIVED_CLIENT.id ? SHORT_TTL_SECONDS : TOKEN_TTL_SECONDS,
      Interaction: ARTIFACT_TTL_SECONDS,
      Session: ARTIFACT_TTL_SECONDS,
      Grant: ARTIFACT_TTL_SECONDS,
    },
  };
}

/** Logs in the `login_hint` account, then grants every scope, claim and resource scope requested. */
async function interact(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === "login") {
    const accountId = typeof params.login_hint === "string" ? params.login_hint : "";
    const result = ACCOUNTS.includes(accountId)
      ? { login: { accountId } }
      : { error: "access_denied", error_description: "unknown login_hint" };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  if (prompt.name === "consent") {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  throw new Error(`unexpected prompt ${prompt.name}`);
}

/**
 * Starts the provider. `restart(keys)` replaces it on the same issuer with a
 * new key set, as a provider rotating keys would.
 */
export async function startOidc({ redirectUris, log = () => {} }) {
  let issuer = "";
  let jwks = await generateKeySet("k1");
  // Until the provider exists (between binding and building it), there is nothing to answer with.
  let handle = (_req, res) => res.writeHead(503).end();
  let provider;
  const requests = [];

  const onRequest = (req, res) => {
    const path = new URL(req.url, "http://127.0.0.1").pathname;
    requests.push({ at: Date.now(), method: req.method, path });
    if (!path.startsWith("/interaction/")) return handle(req, res);
    interact(provider, req, res).catch((error) => {
      log(`interaction failed: ${error.message}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
  const build = () => {
    provider = new Provider(issuer, configuration(jwks, redirectUris));
    handle = provider.callback();
  };

  // The issuer is the URL, so the port is bound before the provider is built.
  let server = createServer(onRequest);
  const port = await listen(server, 0);
  issuer = `http://127.0.0.1:${port}`;
  build();

  return {
    issuer,
    get kids() {
      return jwks.keys.map((k) => k.kid);
    },
    /** Every request the provider received, across restarts: when and what. */
    requests,
    /** Stops the provider and starts a new one on the same issuer that publishes only `keys`. */
    async restart(keys) {
      await closeNow(server);
      await sleep(RESTART_PAUSE_MS);
      jwks = keys;
      build();
      server = createServer(onRequest);
      await listen(server, port);
    },
    close: () => closeNow(server),
  };
}
