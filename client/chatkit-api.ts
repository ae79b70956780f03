import type { GateSession, Lease } from "./gate-session.js";
import type { FetchLike } from "./http.js";

/** The `fetch` ChatKit calls: the shape of the global `fetch`. */
export type ChatKitFetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** ChatKit's direct upload strategy: files are POSTed as `multipart/form-data` to `uploadUrl`. */
export interface DirectUploadStrategy {
  type: "direct";
  uploadUrl: string;
}

/**
 * The part of `@openai/chatkit`'s `CustomApiConfig` this client fills in,
 * declared here so the client needs no dependency; assignable to ChatKit's
 * type (test/client checks it against a copy of that declaration).
 */
export interface CustomApiConfig {
  /** The gate's `/chatkit` endpoint. */
  url: string;
  /** Checked by OpenAI against the organisation's domain allowlist when ChatKit loads; the gate never sees it. */
  domainKey: string;
  /** Sends each ChatKit request with the gate session's secret; see `ChatKitGate.chatKitApi`. */
  fetch: ChatKitFetch;
  /** Present only when uploads were asked for. */
  uploadStrategy?: DirectUploadStrategy;
}

export interface ChatKitApiOptions {
  /** Your ChatKit domain key (on localhost, any placeholder works). */
  domainKey: string;
  /**
   * Set when the gate accepts uploads (`CHATKIT_UPLOAD_URL` and
   * `file_upload` are configured): ChatKit then posts files to the gate's
   * `/chatkit/upload`. Default: no upload strategy.
   */
  uploads?: boolean;
}

export const CHATKIT_PATH = "/chatkit";
export const UPLOAD_PATH = "/chatkit/upload";

/**
 * ChatKit's `fetch` for the gate at `gateOrigin`. A request to that origin
 * is sent with `Authorization: Bearer <client secret>` of the held gate
 * session (started on first use); a 401 starts a new session and the
 * request is sent once more, when its body can be sent again. A request to
 * any other origin is passed to `fetch` as it is, with no secret. The
 * caller's `signal` is passed on as it is, so ChatKit's Stop aborts the
 * request.
 */
export function chatKitFetch(gateOrigin: string, fetch: FetchLike, session: GateSession): ChatKitFetch {
  return async (input, init) => {
    const { url, init: base } = split(input, init);
    if (origin(url) !== gateOrigin) return fetch(url, base);

    base.signal?.throwIfAborted();
    const send = async (lease: Lease) => {
      const headers = new Headers(base.headers);
      headers.set("authorization", `Bearer ${lease.secret}`);
      return fetch(url, { ...base, headers });
    };
    const lease = await abortable(session.acquire(), base.signal);
    const response = await send(lease);
    if (response.status !== 401 || !canResend(base.body) || !session.refused(lease)) return response;
    // The answer is replaced; its body is not read.
    void response.body?.cancel().catch(() => {});
    return send(await abortable(session.acquire(), base.signal));
  };
}

/** The URL as a string and the request's settings as one init, without reading or copying the body. */
function split(input: RequestInfo | URL, init: RequestInit | undefined): { url: string; init: RequestInit } {
  if (typeof input === "string") return { url: input, init: { ...init } };
  if (input instanceof URL) return { url: input.href, init: { ...init } };
  const fromRequest: RequestInit & { duplex?: "half" } = {
    method: input.method,
    headers: input.headers,
    body: input.body,
    signal: input.signal,
    redirect: input.redirect,
  };
  if (input.body !== null) fromRequest.duplex = "half";
  return { url: input.url, init: { ...fromRequest, ...init } };
}

/** The origin of `url`, resolved against the page; "" when it is not a URL (then it is surely not the gate's). */
function origin(url: string): string {
  try {
    return new URL(url, (globalThis as { location?: { href: string } }).location?.href).origin;
  } catch {
    return "";
  }
}

/** A body `fetch` can send twice. A stream is read by the first send and cannot be. */
function canResend(body: RequestInit["body"]): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === "string" ||
    body instanceof Blob ||
    body instanceof FormData ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body)
  );
}

/** `promise`, or the signal's reason as soon as the caller aborts (the shared start itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
