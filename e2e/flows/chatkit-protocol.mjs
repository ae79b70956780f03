// The ChatKit protocol as the web component speaks it, for the self-hosted
// flows: one POST endpoint taking JSON `{type, params}`, answered with
// `text/event-stream` for the streaming types and JSON for the others. The
// component itself loads from OpenAI's CDN and cannot run offline, so the
// flows send what it would send.
import { createHash, randomUUID } from "node:crypto";
import { importJWK, SignJWT } from "jose";
import { sseEvents } from "../peers/chatkit-server.mjs";

/** What the component asks for on a ChatKit request. */
const JSON_HEADERS = { "content-type": "application/json" };
/** The assertion lifetime the gate's contract allows at most; a direct call signs one like the gate's. */
const ASSERTION_SECONDS = 300;

export const sha256 = (text) => createHash("sha256").update(text).digest("hex");

/** A user message as the component sends it in `threads.create` and `threads.add_user_message`. */
const userInput = (text) => ({
  content: [{ type: "input_text", text }],
  attachments: [],
  quoted_text: null,
  inference_options: {},
});

/** The JSON bodies of the requests the flows send, as the exact text that goes on the wire. */
export const requests = {
  threadsCreate: (text) => JSON.stringify({ type: "threads.create", params: { input: userInput(text) } }),
  addUserMessage: (threadId, text) =>
    JSON.stringify({ type: "threads.add_user_message", params: { thread_id: threadId, input: userInput(text) } }),
  threadsList: () => JSON.stringify({ type: "threads.list", params: { limit: 20, order: "desc" } }),
  getThread: (threadId) => JSON.stringify({ type: "threads.get_by_id", params: { thread_id: threadId } }),
  itemsList: (threadId) => JSON.stringify({ type: "items.list", params: { thread_id: threadId, order: "asc" } }),
};

/** The stand-in server's fixed reply to `text` (scripts/chatkit-server.mjs). */
export const replyTo = (text) => `You said: ${text}`;

/** POSTs one ChatKit request to `url` with `headers`; the answer is returned unread. */
export function post(url, body, { headers = {}, signal } = {}) {
  return fetch(url, { method: "POST", headers: { ...JSON_HEADERS, ...headers }, body, signal });
}

/** One ChatKit request to the gate's `/chatkit` with the session's client secret. */
export function viaGate(worker, secret, body, { headers = {}, signal } = {}) {
  return post(`${worker.url}/chatkit`, body, {
    headers: { ...(secret ? { authorization: `Bearer ${secret}` } : {}), ...headers },
    signal,
  });
}

/** A JSON answer read in full: status, headers, text and the parsed body when it parses. */
export async function readJson(response) {
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, text, json };
}

/**
 * Reads a `text/event-stream` answer to its end. `onEvent(event, index)` runs
 * as each event is read, before the next one is awaited, so a flow can look
 * at the server while the stream is still open, or abort it.
 * `started` is when the request was sent (performance.now()).
 */
export async function readStream(response, { started, onEvent = () => {} } = {}) {
  const events = [];
  let firstAt;
  for await (const { event } of sseEvents(response)) {
    const at = performance.now();
    firstAt ??= at;
    events.push(event);
    await onEvent(event, events.length - 1);
  }
  const endAt = performance.now();
  return {
    events,
    types: events.map((event) => event.type),
    firstEventMs: started === undefined ? undefined : firstAt - started,
    endMs: started === undefined ? undefined : endAt - started,
  };
}

/** The assistant's text, assembled from the stream's text deltas, as the component renders it. */
export const streamedText = (events) =>
  events
    .filter((event) => event.type === "thread.item.updated" && event.update?.type?.endsWith(".text_delta"))
    .map((event) => event.update.delta)
    .join("");

/** The final assistant message of a stream. */
export const finalAssistant = (events) =>
  events.findLast((event) => event.type === "thread.item.done" && event.item?.type === "assistant_message")?.item;

/**
 * An assertion signed with the gate's own key, as the gate would sign it:
 * the way to call the server straight, without the gate, for a comparison.
 */
export async function signAssertion({ privateJwk, issuer, audience, sub, sid, workflow }) {
  const key = await importJWK(privateJwk, "ES256");
  const claims = { sid, ...(workflow ? { workflow } : {}) };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: privateJwk.kid, typ: "JWT" })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(sub)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${ASSERTION_SECONDS}s`)
    .sign(key);
}

/** The median of `values` (the lower middle for an even count). */
export function p50(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

export const ms = (value) => `${value.toFixed(1)} ms`;
