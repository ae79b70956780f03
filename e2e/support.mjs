// Small helpers shared by the peers and the flows: ports, waiting, HTTP.

/** Longer than the worker's 15 s upstream budget, so only a hung peer ever hits it. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Polling interval for readiness checks: quick enough to add little to startup, slow enough not to spin. */
const POLL_INTERVAL_MS = 200;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A free port on 127.0.0.1 for processes we cannot hand a listening socket
 * to (wrangler, Prism), from below the kernel's ephemeral range so that no
 * process binding port 0 meanwhile can take it; our own servers listen on
 * port 0 instead.
 */
export { freePort } from "../scripts/free-ports.mjs";

/** Resolves with the port once `server` listens on 127.0.0.1 (0 picks a free one). */
export function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve(server.address().port);
    });
  });
}

/** Closes a server now, including idle keep-alive connections, so the port refuses at once. */
export function closeNow(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** An error that ends a {@link waitFor} at once instead of being retried. */
export function fatal(message) {
  return Object.assign(new Error(message), { fatal: true });
}

/** Polls `check` until it returns a truthy value, or fails naming `what`; a {@link fatal} error ends it early. */
export async function waitFor(what, check, { timeoutMs, intervalMs = POLL_INTERVAL_MS }) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      if (error?.fatal) throw error;
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

export async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

export function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** One HTTP call whose answer is read in full; `json` is the parsed body when it parses. */
export async function call(url, { method = "GET", token, headers = {}, body, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const response = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}
