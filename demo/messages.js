// What a person reads when something fails: what happened and what to do,
// in words, with the code and the worker's own message as the fine print.

/** @type {Record<string, [string, string]>} code → [what happened, what to do] */
const MESSAGES = {
  invalid_token: ["Your sign-in has expired or is not valid", "Sign in again."],
  rate_limited: ["Too many sessions were started just now", "Wait a moment, then try again."],
  session_not_found: ["That session no longer exists, or belongs to someone else", "Refresh the list."],
  upstream_error: ["ChatKit is having trouble right now", "Try again in a moment."],
  upstream_timeout: ["ChatKit took too long to answer", "Try again."],
  auth_unavailable: ["Your sign-in cannot be checked right now", "Try again shortly."],
  config_invalid: ["The gate is not configured correctly", "Its operator needs to fix its settings."],
  storage_unavailable: ["The session could not be saved", "Try again."],
  invalid_request: ["The gate refused the request", "This is a bug in the page."],
  payload_too_large: ["The gate refused the request", "This is a bug in the page."],
  unsupported_media_type: ["The gate refused the request", "This is a bug in the page."],
  not_found: ["The gate does not know that address", "Check the worker URL."],
  internal_error: ["Something went wrong in the gate", "Try again."],
  unexpected_response: ["Something other than the gate answered", "Check the worker URL."],
  forbidden: ["The gate does not allow that request", "Check the gate's settings."],
  chatkit_server_error: ["The ChatKit server refused the request", "Start a new chat, or refresh your threads."],
};

const plural = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;

/** "1 minute", "45 seconds": for Retry-After. */
export function duration(seconds) {
  return seconds >= 60 ? plural(Math.ceil(seconds / 60), "minute") : plural(seconds, "second");
}

/**
 * `{text, detail}` for any error the page can meet: a ChatKitGateError
 * (anything with a string `code`) or a failure of the page's own steps.
 */
export function describeError(error, { workerUrl }) {
  const code = typeof error?.code === "string" ? error.code : undefined;
  if (code === undefined) return { text: error?.message ?? String(error), detail: "" };
  const fineprint = [code, error.message, error.requestId && `request ${error.requestId}`].filter(Boolean).join(" · ");
  if (code === "network_error") {
    return {
      text: `The gate at ${workerUrl} could not be reached (network_error). Is npm run dev running?`,
      detail: fineprint,
    };
  }
  const [what, todo] = MESSAGES[code] ?? ["Something went wrong", "Try again."];
  const wait = code === "rate_limited" && error.retryAfter ? `Try again in ${duration(error.retryAfter)}.` : todo;
  return { text: `${what} (${code}). ${wait}`, detail: fineprint };
}
