import { readCapped } from "../http/body";
import { cancelledMismatch } from "./answers";
import { UpstreamError, type UpstreamFailure } from "./failures";
import type { ChatSessionResource, CreateChatSessionBody } from "./types";

/** ChatKit is a beta API; every call must opt in (see the OpenAPI spec's OpenAIBetaChatKit parameter). */
const BETA_HEADER = "chatkit_beta=v1";
/** A session resource is well under 4 KiB; the cap bounds memory if the answer is something else. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Session ids become KV key parts and URL segments: only this shape is ever accepted. */
export const SESSION_ID = /^cksess_[A-Za-z0-9_-]{1,128}$/;
/** `Retry-After` is passed on only as delay-seconds (bounded to a day) or an HTTP date. */
const RETRY_AFTER = /^(?:\d{1,5}|[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)$/;

export interface ChatKitClientOptions {
  apiKey: string;
  /** Base URL without a trailing slash, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Upper bound on each call, including reading the answer. */
  timeoutMs: number;
}

export interface ChatKitResult {
  session: ChatSessionResource;
  /** OpenAI's `x-request-id`, for support tickets and logs. */
  requestId?: string;
}

/** The two ChatKit calls chatkit-gate needs, on plain `fetch`, without the SDK. */
export class ChatKitClient {
  constructor(private readonly options: ChatKitClientOptions) {}

  createSession(body: CreateChatSessionBody): Promise<ChatKitResult> {
    return this.call("/chatkit/sessions", JSON.stringify(body));
  }

  /**
   * Resolves only when ChatKit answers with this session, `cancelled`; any
   * other answer is an {@link UpstreamError}, so a cancel is never recorded
   * on the strength of an answer about something else.
   * @param timeoutMs a shorter bound than the client's, for a retry inside a deadline
   */
  async cancelSession(sessionId: string, timeoutMs = this.options.timeoutMs): Promise<ChatKitResult> {
    if (!SESSION_ID.test(sessionId)) throw new TypeError("cancelSession needs a cksess_ id");
    const result = await this.call(`/chatkit/sessions/${sessionId}/cancel`, undefined, timeoutMs);
    const field = cancelledMismatch(result.session, sessionId);
    if (field !== undefined) throw new UpstreamError({ kind: "unexpected_session", field }, result.requestId);
    return result;
  }

  private async call(
    path: string,
    body: string | undefined,
    timeoutMs = this.options.timeoutMs,
  ): Promise<ChatKitResult> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.options.apiKey}`,
      "openai-beta": BETA_HEADER,
      accept: "application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    const signal = AbortSignal.timeout(timeoutMs);
    /** The answer did not arrive, whole or at all. */
    const lost = (error: unknown, requestId?: string) =>
      new UpstreamError({ kind: isTimeout(error, signal) ? "timeout" : "unreachable" }, requestId);

    let response: Response;
    try {
      response = await fetch(`${this.options.baseUrl}${path}`, {
        method: "POST",
        headers,
        body,
        signal,
        redirect: "manual",
      });
    } catch (error) {
      throw lost(error);
    }
    const requestId = response.headers.get("x-request-id") ?? undefined;
    let raw: Uint8Array | "too_large";
    try {
      raw = await readCapped(response.body, MAX_RESPONSE_BYTES);
    } catch (error) {
      throw lost(error, requestId);
    }
    if (!response.ok) throw new UpstreamError(statusFailure(response), requestId);
    const session = raw === "too_large" ? undefined : parseSession(raw);
    if (session === undefined) throw new UpstreamError({ kind: "invalid_response" }, requestId);
    return { session, requestId };
  }
}

function isTimeout(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (error instanceof Error && error.name === "TimeoutError");
}

function statusFailure(response: Response): UpstreamFailure {
  const { status } = response;
  if (status === 429) {
    const retryAfter = response.headers.get("retry-after")?.trim();
    return { kind: "rate_limited", retryAfter: retryAfter && RETRY_AFTER.test(retryAfter) ? retryAfter : undefined };
  }
  if (status >= 500) return { kind: "server_error", status };
  return { kind: "rejected", status };
}

function parseSession(raw: Uint8Array): ChatSessionResource | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const session = value as Record<string, unknown>;
  const valid =
    typeof session.id === "string" &&
    SESSION_ID.test(session.id) &&
    typeof session.client_secret === "string" &&
    session.client_secret !== "" &&
    Number.isSafeInteger(session.expires_at) &&
    (session.status === "active" || session.status === "expired" || session.status === "cancelled");
  return valid ? (session as unknown as ChatSessionResource) : undefined;
}
