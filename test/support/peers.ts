import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { vi } from "vitest";
import { TEST_ENV } from "./env";

/** Unix seconds now, as the worker sees it. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

export const ISSUER = TEST_ENV.AUTH_ISSUER;
export const DISCOVERY_URL = `${ISSUER}/.well-known/openid-configuration`;
export const JWKS_URL = `${ISSUER}/keys`;
export const UPSTREAM = TEST_ENV.OPENAI_BASE_URL;

export interface SigningKey {
  alg: "RS256" | "ES256";
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(alg: SigningKey["alg"], kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** The identity provider's published keys, one it never publishes, and a second provider's key. */
export const keys = {
  rs256: await signingKey("RS256", "rsa-1"),
  es256: await signingKey("ES256", "ec-1"),
  unpublished: await signingKey("RS256", "rsa-1"),
  otherProvider: await signingKey("ES256", "other-1"),
};

export interface TokenOptions {
  key?: SigningKey;
  header?: Record<string, unknown>;
}

/** A token the test IdP would issue for `sub`, with any claim overridden. */
export async function mintToken(claims: JWTPayload = {}, options: TokenOptions = {}): Promise<string> {
  const key = options.key ?? keys.rs256;
  const now = nowSeconds();
  const payload: JWTPayload = { iss: ISSUER, aud: "chatkit-gate", sub: "alice", iat: now, exp: now + 300, ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...options.header })
    .sign(key.privateKey);
}

export interface RecordedCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** Parsed as JSON when it is JSON, else the text; undefined when empty. */
  body: unknown;
}

/** A call as the peer saw it, with what a byte-exact or abort check needs. */
export interface ReceivedCall extends RecordedCall {
  /** The body's exact bytes. */
  bytes: Uint8Array;
  /** The request's signal, to see whether the caller aborted it. */
  signal: AbortSignal;
}

/** The app's own ChatKit server of the self-hosted tests (CHATKIT_SERVER_URL and CHATKIT_UPLOAD_URL live here). */
export const SERVER_ORIGIN = "https://chatkit-server.example";

type Handler = (request: Request) => Response | Promise<Response>;

/**
 * Fakes every peer the worker talks to (the IdP's discovery and JWKS, and
 * ChatKit) behind a spy on the global fetch, which the worker shares with
 * the tests. Records each call so tests can assert what reached whom.
 */
export class Peers {
  readonly calls: RecordedCall[] = [];
  jwks: { keys: JWK[] } = { keys: [keys.rs256.jwk, keys.es256.jwk] };
  /** Key sets for particular IdP hosts, for tests with several providers; others get `jwks`. */
  readonly jwksByHost = new Map<string, { keys: JWK[] }>();
  /** Overrides the ChatKit answer; the default behaves like the real API. */
  chatkit: Handler | undefined;
  /** Overrides the IdP answer (discovery and JWKS). */
  idp: Handler | undefined;
  /** The self-hosted ChatKit server's answer; by default `{"ok": true}`. */
  server: Handler | undefined;
  private sequence = 0;

  install(): this {
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      const bytes = new Uint8Array(await request.clone().arrayBuffer());
      const text = new TextDecoder().decode(bytes);
      let body: unknown = text === "" ? undefined : text;
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {}
      const received: ReceivedCall = {
        url: request.url,
        method: request.method,
        headers: Object.fromEntries(request.headers),
        body,
        bytes,
        signal: request.signal,
      };
      this.calls.push(received);
      const handler = request.url.startsWith(UPSTREAM)
        ? (this.chatkit ?? this.fakeChatKit)
        : new URL(request.url).origin === SERVER_ORIGIN
          ? (this.server ?? (() => Response.json({ ok: true })))
          : new URL(request.url).hostname.endsWith(".test")
            ? (this.idp ?? this.fakeIdp)
            : () => new Response("no such peer", { status: 599 });
      // Like the real fetch, give up when the caller's signal aborts, even if the peer never answers.
      const aborted = new Promise<never>((_resolve, reject) => {
        if (request.signal.aborted) reject(request.signal.reason);
        request.signal.addEventListener("abort", () => reject(request.signal.reason));
      });
      return Promise.race([Promise.resolve().then(() => handler(request)), aborted]);
    });
    return this;
  }

  /** Calls that reached ChatKit, as `METHOD path`. */
  upstreamCalls(): RecordedCall[] {
    return this.calls.filter((call) => call.url.startsWith(UPSTREAM));
  }

  /** Calls that reached the self-hosted ChatKit server (its endpoint or its upload URL). */
  serverCalls(): ReceivedCall[] {
    // The spy records every call as a ReceivedCall; only tests that push their own record fewer fields.
    return this.calls.filter((call) => new URL(call.url).origin === SERVER_ORIGIN) as ReceivedCall[];
  }

  /** Calls that reached an identity provider (any `*.test` host other than ChatKit's). */
  idpCalls(issuer: string = ISSUER): RecordedCall[] {
    return this.calls.filter((call) => call.url.startsWith(`${issuer}/`));
  }

  /** Serves discovery and JWKS for any `https://<name>.test` issuer. */
  readonly fakeIdp: Handler = (request) => {
    const { origin, pathname, host } = new URL(request.url);
    if (pathname === "/.well-known/openid-configuration")
      return Response.json({ issuer: origin, jwks_uri: `${origin}/keys` });
    if (pathname === "/keys") return Response.json(this.jwksByHost.get(host) ?? this.jwks);
    return new Response("not found", { status: 404 });
  };

  /** Answers create and cancel the way the ChatKit API does (ChatSessionResource). */
  readonly fakeChatKit: Handler = async (request) => {
    const path = new URL(request.url).pathname.replace(/^\/v1/, "");
    const headers = { "content-type": "application/json", "x-request-id": `req_${++this.sequence}` };
    if (path === "/chatkit/sessions") {
      const body = (await request.json()) as {
        user: string;
        workflow: { id: string };
        expires_after?: { seconds: number };
      };
      const id = `cksess_${crypto.randomUUID().replace(/-/g, "")}`;
      return Response.json(
        session(id, body.user, body.workflow.id, nowSeconds() + (body.expires_after?.seconds ?? 600), "active"),
        { headers },
      );
    }
    const cancel = /^\/chatkit\/sessions\/(cksess_[A-Za-z0-9_-]+)\/cancel$/.exec(path);
    if (cancel)
      return Response.json(session(cancel[1] as string, "someone", "wf", nowSeconds() + 60, "cancelled"), { headers });
    return Response.json(
      { error: { message: "not found", type: "invalid_request_error", param: null, code: null } },
      { status: 404 },
    );
  };
}

function session(id: string, user: string, workflowId: string, expiresAt: number, status: string) {
  return {
    id,
    object: "chatkit.session",
    client_secret: `ek_secret_${crypto.randomUUID()}`,
    expires_at: expiresAt,
    status,
    user,
    workflow: { id: workflowId, version: null, state_variables: null, tracing: { enabled: true } },
    rate_limits: { max_requests_per_1_minute: 10 },
    max_requests_per_1_minute: 10,
    chatkit_configuration: {
      automatic_thread_titling: { enabled: true },
      file_upload: { enabled: false, max_file_size: null, max_files: null },
      history: { enabled: true, recent_threads: null },
    },
  };
}
