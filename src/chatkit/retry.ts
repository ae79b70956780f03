import { timed, type UpstreamTimer } from "../metrics/upstream-timer";
import type { ChatKitClient, ChatKitResult } from "./client";
import { UpstreamError, type UpstreamFailure } from "./failures";

/** A cancel is idempotent, so it is tried this many times within one request before it is left to the sweep. */
export const CANCEL_ATTEMPTS = 3;
/** First backoff; it doubles, with full jitter, so retries from many isolates spread out. */
const BACKOFF_BASE_MS = 100;
/** A longer Retry-After than this is not waited out inside a user's request: the sweep takes over. */
const MAX_RETRY_AFTER_MS = 2_000;
/** An attempt with less time than this left cannot succeed; stop instead. */
const MIN_ATTEMPT_MS = 250;

export interface RetryDeps {
  /** Milliseconds since the epoch. */
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
  /**
   * Asked before each retry; false keeps the last failure, because the
   * invocation's share of subrequests is spent. Absent, retries are bounded
   * by {@link CANCEL_ATTEMPTS} and the deadline only.
   */
  mayRetry?: () => boolean;
  /** Times each attempt for the request's metric (not the waits between them); absent, nothing is timed. */
  timer?: UpstreamTimer;
}

/** Failures worth another attempt: the request may not have reached ChatKit, or ChatKit asked us to wait. */
function retryable(failure: UpstreamFailure): boolean {
  return (
    failure.kind === "server_error" ||
    failure.kind === "unreachable" ||
    failure.kind === "timeout" ||
    failure.kind === "rate_limited"
  );
}

function waitFor(failure: UpstreamFailure, attempt: number, clock: number): number {
  if (failure.kind === "rate_limited" && failure.retryAfter !== undefined) {
    const seconds = Number(failure.retryAfter);
    return Number.isFinite(seconds) ? seconds * 1000 : Math.max(0, Date.parse(failure.retryAfter) - clock);
  }
  return Math.random() * BACKOFF_BASE_MS * 2 ** attempt;
}

/**
 * Cancels with bounded retries inside `deadline` (ms since the epoch):
 * 5xx, timeouts, connection errors and 429 (honouring Retry-After) are
 * retried; other 4xx are not, since repeating them cannot help. Throws the
 * last {@link UpstreamError}.
 */
export async function cancelWithRetries(
  client: ChatKitClient,
  sessionId: string,
  deadline: number,
  deps: RetryDeps,
): Promise<ChatKitResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      // Each attempt gets an equal share of what is left, so one hung attempt cannot use up the retries.
      const share = (deadline - deps.clock()) / (CANCEL_ATTEMPTS - attempt);
      return await timed(deps.timer, () => client.cancelSession(sessionId, Math.max(1, Math.floor(share))));
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      const wait = waitFor(error.failure, attempt, deps.clock());
      const last = attempt + 1 >= CANCEL_ATTEMPTS || !retryable(error.failure) || wait > MAX_RETRY_AFTER_MS;
      if (last || deps.clock() + wait + MIN_ATTEMPT_MS * (CANCEL_ATTEMPTS - attempt - 1) > deadline) throw error;
      if (deps.mayRetry && !deps.mayRetry()) throw error;
      await deps.sleep(wait);
    }
  }
}
