// A ChatKit server stand-in for the self-hosted proxy benchmarks: one POST
// endpoint; streaming request types answer `text/event-stream` with events
// `data: {json}\n\n` (no `event:` or `id:` lines, no end marker, as the
// protocol has it), the others one JSON document. It is deliberately simple
// and cheap, so that what it costs is the same whether a request comes
// through the gate or straight to it.
//
// The client chooses the length of a stream in the request body, under
// `metadata.bench`: the gate forwards the body unchanged, so the same request
// asks the same stream of the stand-in directly and through the gate.
//
// Two faces: `handleChatKitRequest(Request) → Response` for the in-process
// section, and `serveChatKitRequest(req, res)` for node:http (wrangler dev).
// Both send the same bytes.

/** Request types answered with a stream (chatkit-python 1.6.5, `StreamingReq`). */
const STREAMING_TYPES = new Set([
  "threads.create",
  "threads.add_user_message",
  "threads.add_client_tool_output",
  "threads.add_structured_input",
  "threads.retry_after_item",
  "threads.custom_action",
]);
/** A short reply when the request names no length: a thread item added, a few deltas, done. */
export const DEFAULT_EVENTS = 6;
/** Text deltas are typically 150 to 250 bytes each on the wire (chatkit-server-protocol.md). */
export const DEFAULT_EVENT_BYTES = 200;
/** The stand-in refuses absurd lengths rather than streaming for ever by mistake. */
const MAX_EVENTS = 10_000_000;
const MAX_EVENT_BYTES = 64 * 1024;

const encoder = new TextEncoder();

/** One `data:` event of exactly `bytes` bytes (at least the JSON's own length), numbered `n`. */
function eventText(n, bytes) {
  const head = `data: {"type":"thread.item.updated","item_id":"msg_bench","n":${n},"update":{"type":"assistant_message.content_part.text_delta","content_index":0,"delta":"`;
  const tail = '"}}\n\n';
  return `${head}${"x".repeat(Math.max(0, bytes - head.length - tail.length))}${tail}`;
}

/** The first event of every stream, as a real server starts a reply. */
const FIRST_EVENT =
  'data: {"type":"thread.item.added","item":{"id":"msg_bench","type":"assistant_message","thread_id":"thr_bench","content":[]}}\n\n';

/** Parses the body the client sent and says what to answer. */
export function planAnswer(bodyText) {
  let body;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return { status: 400, json: '{"error":"body is not JSON"}' };
  }
  if (typeof body?.type !== "string") return { status: 400, json: '{"error":"no type"}' };
  if (!STREAMING_TYPES.has(body.type)) {
    return {
      status: 200,
      json: '{"data":[{"id":"thr_bench","title":"Bench","created_at":"2026-12-01T00:00:00Z","status":{"type":"active"},"metadata":{}}],"has_more":false,"after":null}',
    };
  }
  const asked = body.metadata?.bench ?? {};
  const events = clamp(asked.events, DEFAULT_EVENTS, 1, MAX_EVENTS);
  const eventBytes = clamp(asked.event_bytes, DEFAULT_EVENT_BYTES, 64, MAX_EVENT_BYTES);
  return { status: 200, stream: { events, eventBytes } };
}

function clamp(value, fallback, min, max) {
  return Number.isInteger(value) ? Math.min(max, Math.max(min, value)) : fallback;
}

/** The events of one stream, made one at a time as the reader asks: the stand-in holds no more than one. */
function eventStream({ events, eventBytes }) {
  let n = 0;
  return new ReadableStream({
    pull(controller) {
      if (n === 0) controller.enqueue(encoder.encode(FIRST_EVENT));
      else controller.enqueue(encoder.encode(eventText(n, eventBytes)));
      n++;
      if (n >= events) controller.close();
    },
  });
}

/** In process: a `fetch`-style handler. */
export async function handleChatKitRequest(request) {
  const plan = planAnswer(await request.text());
  if (plan.json !== undefined) {
    return new Response(plan.json, { status: plan.status, headers: { "content-type": "application/json" } });
  }
  return new Response(eventStream(plan.stream), {
    status: 200,
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

/**
 * node:http: the same answer, written event by event with back-pressure, so
 * a slow reader slows the stand-in instead of filling its memory.
 */
export async function serveChatKitRequest(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const plan = planAnswer(Buffer.concat(chunks).toString("utf8"));
  if (plan.json !== undefined) {
    res.writeHead(plan.status, { "content-type": "application/json", "content-length": Buffer.byteLength(plan.json) });
    res.end(plan.json);
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  let closed = false;
  res.on("close", () => {
    closed = true;
  });
  const { events, eventBytes } = plan.stream;
  for (let n = 0; n < events && !closed; n++) {
    if (!res.write(n === 0 ? FIRST_EVENT : eventText(n, eventBytes))) await drainedOrClosed(res);
  }
  res.end();
}

/** Waits for the socket to take more, or to close; leaves no listener behind either way. */
function drainedOrClosed(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/** A ChatKit request body of `type`, asking the stand-in for `events` events of `eventBytes` bytes. */
export function chatKitRequestBody(type, { events, eventBytes } = {}) {
  const bench = {};
  if (events !== undefined) bench.events = events;
  if (eventBytes !== undefined) bench.event_bytes = eventBytes;
  const params =
    type === "threads.list"
      ? { limit: 20, order: "desc" }
      : {
          thread_id: "thr_bench",
          input: { content: [{ type: "input_text", text: "Hello" }], attachments: [], inference_options: {} },
        };
  return JSON.stringify({ type, params, metadata: { bench } });
}
