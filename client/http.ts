import { ChatKitGateError, errorFromAnswer } from "./errors.js";

/** The subset of `fetch` the client uses; `globalThis.fetch` fits, and so does a test double. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface TransportOptions {
  fetch: FetchLike;
  getToken: () => string | Promise<string>;
  timeoutMs: number;
  maxRetries: number;
  maxRetryWaitMs: number;
}

/** When a 429 carries no `Retry-After`, wait this long, doubled on each retry. */
const DEFAULT_RETRY_WAIT_MS = 1_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sends one API call with a fresh bearer token. A 429 is retried after its
 * `Retry-After`, up to `maxRetries` times and never for a wait longer than
 * `maxRetryWaitMs`: nothing happened on the worker, so a retry is safe even
 * for a create. Any other failure is thrown as a {@link ChatKitGateError}.
 * Resolves with the parsed JSON of a 2xx answer.
 */
export async function send(
  options: TransportOptions,
  method: "GET" | "POST",
  url: string,
  body?: unknown,
): Promise<unknown> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sendOnce(options, method, url, body);
    } catch (error) {
      if (!(error instanceof ChatKitGateError) || error.code !== "rate_limited" || attempt >= options.maxRetries) {
        throw error;
      }
      const waitMs = error.retryAfter === undefined ? DEFAULT_RETRY_WAIT_MS * 2 ** attempt : error.retryAfter * 1000;
      // Waiting longer than the cap would leave the user staring at a spinner; they get the error and its retryAfter.
      if (waitMs > options.maxRetryWaitMs) throw error;
      await sleep(waitMs);
    }
  }
}

async function sendOnce(options: TransportOptions, method: string, url: string, body: unknown): Promise<unknown> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${await options.getToken()}`,
    accept: "application/json",
  };
  if (body !== undefined) headers["content-type"] = "application/json";
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  let text: string;
  try {
    response = await options.fetch(url, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      signal,
    });
    text = await response.text();
  } catch (cause) {
    const message = signal.aborted
      ? `chatkit-gate did not answer within ${Math.round(options.timeoutMs / 1000)} s`
      : "chatkit-gate could not be reached";
    throw new ChatKitGateError("network_error", message, { status: 0, cause });
  }
  if (!response.ok) throw errorFromAnswer(response, text, Date.now());
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ChatKitGateError("unexpected_response", `Unreadable ${response.status} answer from chatkit-gate`, {
      status: response.status,
    });
  }
}
