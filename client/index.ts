/**
 * chatkit-gate/client: the browser side of chatkit-gate, with no
 * dependencies. It starts ChatKit sessions for the signed-in user, cancels
 * the ones it replaces, and ends them all at logout.
 *
 * ```ts
 * const gate = createChatKitGate({ baseUrl: "https://gate.example.com", getToken: () => auth.getAccessToken() });
 * // hosted mode (OpenAI-hosted sessions):
 * const { control } = useChatKit({ api: { getClientSecret: gate.getClientSecret } });
 * // self-hosted mode (the gate in front of your own ChatKit server):
 * const { control } = useChatKit({ api: gate.chatKitApi({ domainKey: "domain_pk_..." }) });
 * // at logout, before signing out of the identity provider:
 * await gate.cancelAll();
 * ```
 *
 * @module
 */
import {
  CHATKIT_PATH,
  type ChatKitApiOptions,
  type CustomApiConfig,
  chatKitFetch,
  type DirectUploadStrategy,
  UPLOAD_PATH,
} from "./chatkit-api.js";
import { ChatKitGateError } from "./errors.js";
import { GateSession } from "./gate-session.js";
import { HandedOut } from "./handed-out.js";
import { type FetchLike, send, type TransportOptions } from "./http.js";

export type { ChatKitApiOptions, ChatKitFetch, CustomApiConfig, DirectUploadStrategy } from "./chatkit-api.js";

export {
  ChatKitGateError,
  type ChatKitGateErrorCode,
  GATE_ERROR_CODES,
  type GateErrorCode,
  isChatKitGateError,
} from "./errors.js";
export type { FetchLike } from "./http.js";

/** Longer than the worker's own 15 s bound on ChatKit, so its answer (even a 504) arrives first. */
const DEFAULT_TIMEOUT_MS = 20_000;
/** Two retries ride out a brief burst without hiding a sustained limit from the user. */
const DEFAULT_MAX_RETRIES = 2;
/** A user waits this long at most for a 429 to clear; a longer Retry-After is thrown for the app to show. */
const DEFAULT_MAX_RETRY_WAIT_MS = 30_000;
const SESSIONS_PATH = "/v1/chatkit/sessions";

/** A session's state as chatkit-gate records it. */
export type SessionStatus = "active" | "cancelled" | "cancel_pending" | "expired";

/** A session as chatkit-gate shows it: never with its client secret. Times are unix seconds. */
export interface Session {
  session_id: string;
  status: SessionStatus;
  created_at: number;
  expires_at: number;
  /** Set once the cancel is confirmed. */
  cancelled_at?: number;
}

/** The answer to `cancelAll()`. */
export interface CancelAllResult {
  /** Sessions ChatKit confirmed cancelled. */
  cancelled: number;
  /** Sessions ChatKit has not confirmed yet; the worker's sweep finishes them. */
  pending: number;
  /**
   * False when the gate could not reach every session in this call (a very
   * long session list, or its per-request limits): call `cancelAll()` again.
   */
  complete: boolean;
}

/** The optional body of a create, as the worker accepts it. */
export interface SessionRequest {
  /** A workflow alias the operator configured (`CHATKIT_WORKFLOWS`); never a raw workflow id. */
  workflow?: string;
  /** Workflow state, limited to the names in `CHATKIT_CLIENT_STATE_VARIABLES`. */
  state_variables?: Record<string, string | number | boolean>;
}

export interface ChatKitGateOptions {
  /** Where chatkit-gate is deployed, e.g. `https://chatkit-gate.example.workers.dev`; a path prefix is kept. */
  baseUrl: string;
  /**
   * Returns the signed-in user's current JWT, e.g. from your OIDC SDK. It is
   * called before every request, so a refreshed token is always the one
   * sent; whatever it throws is passed through unchanged.
   */
  getToken: () => string | Promise<string>;
  /** The fetch to call; defaults to the global `fetch`, looked up at each call. */
  fetch?: FetchLike;
  /** How many times a 429 is retried after its `Retry-After`; default 2. */
  maxRetries?: number;
  /** The longest `Retry-After` that is waited out, in ms (default 30 s); a longer one is thrown at once. */
  maxRetryWaitMs?: number;
  /** Bound on each request, answer included, in ms; default 20 s. */
  timeoutMs?: number;
  /** The body sent with each create: a workflow alias and state variables. Default: none. */
  session?: SessionRequest | (() => SessionRequest | Promise<SessionRequest>);
  /** Called with each session `getClientSecret` or `chatKitApi`'s fetch starts (without its secret), e.g. to show its expiry. */
  onSessionStarted?: (session: Session) => void;
  /**
   * Called when cancelling a session replaced on refresh fails. The refresh
   * itself has succeeded, and the old session still ends at its `expires_at`.
   */
  onCancelError?: (error: ChatKitGateError, sessionId: string) => void;
}

export interface ChatKitGate {
  /**
   * ChatKit's `api.getClientSecret`: pass it as is (it needs no `this`).
   * ChatKit calls it with `null` for a first session and with the expiring
   * secret to refresh; either way a new session is started and its secret
   * returned. On a refresh, the session being replaced is then cancelled in
   * the background, best effort (see {@link ChatKitGate.settled}).
   *
   * The client never keeps a client secret: it returns it to ChatKit and
   * keeps only the session id and expiry, under a SHA-256 digest of the
   * secret, so that a refresh can name the session it replaces. Once
   * replaced, the old secret is cancelled and useless wherever it lingers.
   * A secret this client did not hand out (say, from before a page reload)
   * replaces nothing.
   */
  getClientSecret(current: string | null): Promise<string>;
  /** The user's sessions, newest first. */
  list(): Promise<Session[]>;
  /** One of the user's sessions. Throws `session_not_found` for an unknown or foreign id. */
  get(sessionId: string): Promise<Session>;
  /**
   * Cancels one of the user's sessions. Idempotent: an ended session is
   * answered as it is. `status` is `cancel_pending` when ChatKit has not
   * confirmed yet; the worker finishes it.
   */
  cancel(sessionId: string): Promise<Session>;
  /**
   * For self-hosted mode: ChatKit's `api` option, `{url, domainKey, fetch,
   * uploadStrategy?}`, for the gate's `/chatkit`. Its `fetch` starts a gate
   * session on first use (with `getToken`'s JWT and the `session` body) and
   * sends every request to the gate's origin with that session's client
   * secret as `Authorization: Bearer`; requests elsewhere get no secret
   * and are passed on as they are. On a 401 it starts a new session and
   * sends the request once more, unless its body is a stream. The secret
   * is kept in memory only, dropped shortly before the session expires
   * and at `cancelAll()`. The caller's `AbortSignal` is passed on, so
   * ChatKit's Stop aborts the request.
   *
   * Every call with the same options returns the same object (so React
   * sees a stable `api`), and all share one session.
   */
  chatKitApi(options: ChatKitApiOptions): CustomApiConfig;
  /**
   * For logout: cancels every session the user still has, from any device,
   * including the one `chatKitApi`'s fetch holds, whose secret is dropped
   * at once.
   */
  cancelAll(): Promise<CancelAllResult>;
  /** Resolves once the background cancels of replaced sessions have finished. */
  settled(): Promise<void>;
}

/** A client for one chatkit-gate deployment and one signed-in user at a time. */
export function createChatKitGate(options: ChatKitGateOptions): ChatKitGate {
  const base = new URL(options.baseUrl).href.replace(/\/+$/, "");
  const transport: TransportOptions = {
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    getToken: options.getToken,
    timeoutMs: positive("timeoutMs", options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    maxRetries: count("maxRetries", options.maxRetries ?? DEFAULT_MAX_RETRIES),
    maxRetryWaitMs: count("maxRetryWaitMs", options.maxRetryWaitMs ?? DEFAULT_MAX_RETRY_WAIT_MS),
  };
  const url = (path = "") => `${base}${SESSIONS_PATH}${path}`;
  const sessionPath = (sessionId: string) => `/${encodeURIComponent(sessionId)}`;
  const handedOut = new HandedOut();
  const background = new Set<Promise<void>>();

  const sessionRequest = async () =>
    typeof options.session === "function" ? await options.session() : options.session;
  const apiSession = new GateSession(async () => {
    const created = asCreated(await send(transport, "POST", url(), await sessionRequest()));
    const { client_secret: _secret, ...session } = created;
    options.onSessionStarted?.(session);
    return created;
  });
  const apiFetch = chatKitFetch(new URL(base).origin, transport.fetch, apiSession);
  const apiConfigs = new Map<string, CustomApiConfig>();

  const cancel = async (sessionId: string): Promise<Session> => {
    const session = asSession(await send(transport, "POST", url(`${sessionPath(sessionId)}/cancel`)));
    handedOut.forget(sessionId);
    apiSession.forget(sessionId);
    return session;
  };

  const cancelReplaced = (sessionId: string) => {
    const task = cancel(sessionId).then(
      () => {},
      (error: unknown) => {
        // Gone already is as good as cancelled.
        if (error instanceof ChatKitGateError && error.code === "session_not_found") return;
        if (error instanceof ChatKitGateError) options.onCancelError?.(error, sessionId);
      },
    );
    background.add(task);
    void task.finally(() => background.delete(task));
  };

  return {
    async getClientSecret(current) {
      const replaced = current === null ? undefined : await handedOut.find(current);
      const created = asCreated(await send(transport, "POST", url(), await sessionRequest()));
      const { client_secret: secret, ...session } = created;
      await handedOut.remember(secret, session);
      options.onSessionStarted?.(session);
      if (replaced !== undefined) {
        handedOut.forget(replaced.session_id);
        cancelReplaced(replaced.session_id);
      }
      return secret;
    },
    async list() {
      const body = (await send(transport, "GET", url())) as { data?: unknown } | null;
      if (!Array.isArray(body?.data)) throw unexpected("list");
      return body.data.map(asSession);
    },
    async get(sessionId) {
      return asSession(await send(transport, "GET", url(sessionPath(sessionId))));
    },
    cancel,
    chatKitApi({ domainKey, uploads = false }) {
      if (typeof domainKey !== "string" || domainKey === "")
        throw new TypeError("domainKey must be a non-empty string");
      const key = JSON.stringify([domainKey, uploads]);
      let config = apiConfigs.get(key);
      if (config === undefined) {
        config = { url: `${base}${CHATKIT_PATH}`, domainKey, fetch: apiFetch };
        if (uploads) {
          const uploadStrategy: DirectUploadStrategy = { type: "direct", uploadUrl: `${base}${UPLOAD_PATH}` };
          config.uploadStrategy = uploadStrategy;
        }
        apiConfigs.set(key, Object.freeze(config));
      }
      return config;
    },
    async cancelAll() {
      // Dropped before anything is awaited: even if the gate cannot be reached, the secret is gone.
      await apiSession.revoke();
      const body = (await send(transport, "POST", url("/cancel_all"))) as Partial<CancelAllResult> | null;
      if (
        typeof body?.cancelled !== "number" ||
        typeof body.pending !== "number" ||
        typeof body.complete !== "boolean"
      ) {
        throw unexpected("cancel_all");
      }
      handedOut.clear();
      return { cancelled: body.cancelled, pending: body.pending, complete: body.complete };
    },
    async settled() {
      while (background.size > 0) await Promise.all(background);
    },
  };
}

function unexpected(what: string): ChatKitGateError {
  return new ChatKitGateError("unexpected_response", `chatkit-gate's ${what} answer was not in the expected shape`, {
    status: 200,
  });
}

/** The record fields, copied one by one so nothing else (and no secret) is carried along. */
function asSession(value: unknown): Session {
  const record = value as Partial<Session> | null;
  if (
    typeof record?.session_id !== "string" ||
    typeof record.status !== "string" ||
    typeof record.created_at !== "number" ||
    typeof record.expires_at !== "number"
  ) {
    throw unexpected("session");
  }
  const session: Session = {
    session_id: record.session_id,
    status: record.status,
    created_at: record.created_at,
    expires_at: record.expires_at,
  };
  if (typeof record.cancelled_at === "number") session.cancelled_at = record.cancelled_at;
  return session;
}

function asCreated(value: unknown): Session & { client_secret: string } {
  const secret = (value as { client_secret?: unknown } | null)?.client_secret;
  if (typeof secret !== "string" || secret === "") throw unexpected("create");
  return { ...asSession(value), client_secret: secret };
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number`);
  return value;
}

function count(name: string, value: number): number {
  if (!(Number.isInteger(value) && value >= 0)) throw new RangeError(`${name} must be a whole number, 0 or more`);
  return value;
}
