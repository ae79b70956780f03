import { timed, type UpstreamTimer } from "../metrics/upstream-timer";
import { ASSERTION_HEADER } from "./assertion";
import { type ProxyFailure, proxyError } from "./failures";

/**
 * The only request headers passed on: what the body is, what answer the
 * client takes, and its locale. Authorization (the client secret), Cookie
 * and everything else stay at the gate.
 */
export const FORWARDED_REQUEST_HEADERS = ["content-type", "accept", "accept-language"] as const;

export interface ForwardOptions {
  /** `CHATKIT_SERVER_URL` or `CHATKIT_UPLOAD_URL`. */
  url: string;
  /**
   * How long to wait for the response headers. Once they arrive the timer
   * stops: a stream may then last as long as the server keeps it open.
   */
  timeoutMs: number;
  /** Injected so tests and benchmarks control the server; the global `fetch` by default. */
  fetch?: typeof fetch;
  /** Times the wait for the response headers for the request's metric (never the stream after them). */
  timer?: UpstreamTimer;
}

/** What to forward. */
export interface Forwarded {
  /** The client's request: its headers are filtered, and its `signal` (the Stop button) aborts the server's request. */
  request: Request;
  /** The exact bytes to send, or a stream of them. */
  body: Uint8Array | ReadableStream<Uint8Array>;
  /** The signed `ChatKit-Gate-Assertion`. */
  assertion: string;
}

/**
 * POSTs to the server and hands its answer back unchanged: status,
 * `content-type` and body. The body is passed as a stream, never buffered,
 * so each `text/event-stream` event reaches the client when the server
 * sends it and memory stays flat however long the stream runs. No other
 * response header is passed on (a server's Set-Cookie must not land on the
 * gate's origin). Failures before the answer starts are thrown as
 * {@link GateError}s: 502 `upstream_error`, 504 `upstream_timeout`.
 */
export async function forward(forwarded: Forwarded, options: ForwardOptions): Promise<Response> {
  const { request } = forwarded;
  const headers = new Headers();
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  headers.set(ASSERTION_HEADER, forwarded.assertion);

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException("The ChatKit server sent no headers in time", "TimeoutError"));
  }, options.timeoutMs);
  // Left attached after the headers: a Stop during the stream must end the server's request too.
  const onClientAbort = () => controller.abort(request.signal.reason);
  if (request.signal.aborted) onClientAbort();
  else request.signal.addEventListener("abort", onClientAbort, { once: true });

  const send = options.fetch ?? fetch;
  let upstream: Response;
  try {
    upstream = await timed(options.timer, () =>
      send(options.url, {
        method: "POST",
        headers,
        body: forwarded.body,
        signal: controller.signal,
        // A redirect would carry the assertion to another URL: the server's 3xx is returned as it is instead.
        redirect: "manual",
      }),
    );
  } catch {
    const failure: ProxyFailure = request.signal.aborted ? "client_aborted" : timedOut ? "timeout" : "unreachable";
    throw proxyError(failure);
  } finally {
    clearTimeout(timer);
  }
  const answer = new Headers();
  const contentType = upstream.headers.get("content-type");
  if (contentType !== null) answer.set("content-type", contentType);
  return new Response(upstream.body, { status: upstream.status, headers: answer });
}
