// A real ChatKit server behind chatkit-gate, for the self-hosted end-to-end
// run and `npm run dev`'s self-hosted demo. The protocol is implemented by
// chatkit-node-backend-sdk (MIT; not ours); this file adds what an app must
// add: it verifies the gate's assertion on every request, builds the ChatKit
// `context` from it, scopes its store by the asserted `sub`, and answers
// with a fixed, offline `respond()` (no OpenAI key). Every request is
// recorded in `received` so tests can assert what reached the server.
//
// What the SDK (1.1.2) does not do, and what this file does about it:
//  - `input.transcribe`, `threads.sync_custom_action`, `threads.add_structured_input`
//    are not implemented: 501 `{"error":"not_implemented"}` before the SDK is called.
//  - No `stream_options` event: `respond()` emits `{allow_cancel: true}` first, as the Python server does.
//  - No cancellation handling: a client abort stops the stream, and `respond()`
//    saves the partial answer plus a hidden "user cancelled" item, as the Python server does.
//  - Store NotFound errors escape `process()`: answered 404 `{"error":"not_found"}`.
//  - Attachments use the older `upload_url` field, not `upload_descriptor`.
//  - It prints every `threads.create`'s params with console.log: that one line is dropped.
//
// Usage as a program (against a running gate):
//   node scripts/chatkit-server.mjs --gate http://127.0.0.1:8791 [--port 8792] [--audience <aud>]
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { ChatKitServer, NotFoundError, StoreNotFoundError } from "chatkit-node-backend-sdk";
import { ASSERTION_HEADER, createAssertionVerifier } from "./chatkit-server-assertion.mjs";
import { MemoryAttachmentStore, MemoryStore } from "./chatkit-server-store.mjs";

/** ChatKit's endpoint and the direct-upload endpoint, as the gate's docs name them. */
const CHATKIT_PATH = "/chatkit";
const UPLOAD_PATH = "/chatkit/upload";
/** Two-phase upload URLs: this prefix, then the single-use token. */
const TWO_PHASE_PREFIX = "/chatkit/attachments/upload/";
/** Well above the gate's 1 MiB default request cap, so the gate's cap is the one tests meet. */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
/** Well above any `file_upload.max_file_size` a test sets, for the same reason. */
const MAX_UPLOAD_BYTES = 32 * 1024 * 1024;
/** Long enough for a test to see the first event before the last; short enough to keep a run quick. */
const DEFAULT_REPLY_DELAY_MS = 50;
/** The request types chatkit-node-backend-sdk 1.1.2 has no handler for. */
const NOT_IMPLEMENTED = new Set(["input.transcribe", "threads.sync_custom_action", "threads.add_structured_input"]);
/** What chatkit-python stores when a stream is cancelled, so a later turn does not continue the stopped one. */
const CANCELLED_NOTE = "The user cancelled the stream. Stop responding to the prior request.";
/** The SDK's unconditional debug line (it prints the user's message). */
const SDK_DEBUG_PREFIX = "DEBUG threads.create params:";

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const textOf = (message) =>
  (message?.content ?? [])
    .filter((part) => part.type === "input_text")
    .map((part) => part.text)
    .join(" ");

/** The fixed reply: what the user said, echoed back word by word. */
const defaultReply = (userText) => `You said: ${userText || "(nothing)"}`;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs `fn` with the SDK's one debug line filtered out of console.log. The
 * line is printed synchronously inside the first `next()` of a stream, so
 * the swap lasts only that synchronous call; any other output passes.
 */
function withoutSdkDebugLine(fn) {
  const original = console.log;
  console.log = (...args) => {
    if (typeof args[0] === "string" && args[0].startsWith(SDK_DEBUG_PREFIX)) return;
    original(...args);
  };
  try {
    return fn();
  } finally {
    console.log = original;
  }
}

class StandInChatKitServer extends ChatKitServer {
  /** @param {{ store: MemoryStore, attachments: MemoryAttachmentStore, replyDelayMs: number, reply: (text: string) => string, logger: object }} options */
  constructor({ store, attachments, replyDelayMs, reply, logger }) {
    super(store, attachments, logger);
    this.replyDelayMs = replyDelayMs;
    this.reply = reply;
  }

  /** Streams the fixed reply in word-sized deltas, saving a partial answer if the client goes away. */
  async *respond(thread, input, context) {
    yield { type: "stream_options", stream_options: { allow_cancel: true } };
    const item = {
      type: "assistant_message",
      id: this.store.generateItemId("message", thread, context),
      thread_id: thread.id,
      created_at: new Date().toISOString(),
      content: [{ type: "output_text", text: "", annotations: [] }],
    };
    yield { type: "thread.item.added", item };
    const deltas = this.reply(textOf(input)).match(/\s*\S+/g) ?? [];
    let text = "";
    let finished = false;
    try {
      for (const delta of deltas) {
        await sleep(this.replyDelayMs, context.signal);
        if (context.signal.aborted) return;
        text += delta;
        yield {
          type: "thread.item.updated",
          item_id: item.id,
          update: { type: "assistant_message.content_part.text_delta", content_index: 0, delta },
        };
      }
      if (!thread.title) thread.title = textOf(input).slice(0, 40) || "New chat";
      yield { type: "thread.item.done", item: { ...item, content: [{ type: "output_text", text, annotations: [] }] } };
      finished = true;
    } finally {
      // Reached on a client abort, whether we saw the signal or the consumer stopped iterating.
      if (!finished) await this.#saveCancelled(thread, item, text, context);
    }
  }

  async #saveCancelled(thread, item, text, context) {
    if (text.trim()) {
      await this.store.addThreadItem(
        thread.id,
        { ...item, content: [{ type: "output_text", text, annotations: [] }] },
        context,
      );
    }
    await this.store.addThreadItem(
      thread.id,
      {
        type: "hidden_context_item",
        id: this.store.generateItemId("message", thread, context),
        thread_id: thread.id,
        created_at: new Date().toISOString(),
        content: CANCELLED_NOTE,
      },
      context,
    );
  }
}

/** Reads a request body up to `limit` bytes; undefined when it is larger. */
async function readCapped(req, limit) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sendJson(res, status, body, headers = {}) {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** Parses multipart/form-data with undici's own parser (Request.formData) rather than by hand. */
async function formFile(contentType, bytes) {
  const form = await new Request("http://upload.invalid/", {
    method: "POST",
    headers: { "content-type": contentType },
    body: bytes,
  }).formData();
  const file = form.get("file");
  return typeof file === "object" && file !== null ? file : undefined;
}

/** The attachment JSON for an uploaded file; images get a data-URL preview, as chatkit-python's default does. */
async function attachmentFor(id, file, mimeType) {
  const bytes = Buffer.from(await file.arrayBuffer());
  const base = { id, name: file.name || "upload", mime_type: mimeType };
  const attachment = mimeType.startsWith("image/")
    ? { ...base, type: "image", preview_url: `data:${mimeType};base64,${bytes.toString("base64")}` }
    : { ...base, type: "file" };
  return { attachment, bytes };
}

/**
 * Starts the stand-in ChatKit server on `host:port` (port 0 picks a free one).
 *
 * @param {object} options
 * @param {string} [options.host] default 127.0.0.1
 * @param {number} [options.port] default 0
 * @param {string} [options.gateJwksUrl] the gate's `/.well-known/jwks.json`; may instead be given later with `trustGate`
 * @param {string} [options.issuer] the gate's origin (the assertion's `iss`)
 * @param {string} [options.audience] the expected `aud`; default this server's origin, as the gate's ASSERTION_AUDIENCE default
 * @param {number} [options.replyDelayMs] pause before each reply delta (default 50)
 * @param {(userText: string) => string} [options.reply] the fixed reply for a user message
 * @param {number} [options.clockToleranceSeconds] for iat/exp (default 5)
 * @param {{ cooldownDuration?: number, cacheMaxAge?: number }} [options.jwks] jose's JWKS cache settings
 * @param {(line: string) => void} [options.log] where the SDK's warnings and errors go (default: nowhere)
 */
export async function startChatKitServer({
  host = "127.0.0.1",
  port = 0,
  gateJwksUrl,
  issuer,
  audience,
  replyDelayMs = DEFAULT_REPLY_DELAY_MS,
  reply = defaultReply,
  clockToleranceSeconds,
  jwks,
  log = () => {},
} = {}) {
  let origin = "";
  const received = [];
  const store = new MemoryStore();
  const attachments = new MemoryAttachmentStore(() => `${origin}${TWO_PHASE_PREFIX.slice(0, -1)}`);
  const logger = {
    info() {},
    debug() {},
    warn: (message) => log(`chatkit-server: ${message}`),
    error(message, extra) {
      // Another user's (or an unknown) thread is an ordinary 404, answered below; not worth a line.
      if (extra?.error instanceof NotFoundError || extra?.error instanceof StoreNotFoundError) return;
      log(`chatkit-server: ${message}${extra?.error ? `: ${extra.error}` : ""}`);
    },
  };
  const chatkit = new StandInChatKitServer({ store, attachments, replyDelayMs, reply, logger });
  let verify;
  let trusted;

  function trustGate(gate) {
    trusted = { audience: gate.audience ?? origin, issuer: gate.issuer, jwksUrl: gate.jwksUrl };
    verify = createAssertionVerifier({ ...trusted, clockToleranceSeconds, jwks });
  }

  /** Verifies the assertion into `entry`; answers and returns undefined when it is refused. */
  async function authenticate(res, entry, signal) {
    if (!verify) {
      entry.status = 503;
      sendJson(res, 503, { error: "gate_not_configured" });
      return undefined;
    }
    const result = await verify(entry.assertion);
    if (!result.ok) {
      entry.refused = result.failure;
      // The gate's keys being unreachable is this server's problem, not the caller's: 503, and never a pass.
      const unavailable = result.failure === "jwks_unavailable";
      entry.status = unavailable ? 503 : 401;
      sendJson(res, entry.status, {
        error: unavailable ? "gate_keys_unavailable" : "invalid_assertion",
        reason: result.failure,
      });
      return undefined;
    }
    entry.claims = result.claims;
    entry.kid = result.kid;
    const { sub, sid, workflow, state_variables } = result.claims;
    // Only what the gate asserted: nothing from the body or other headers.
    return { user_id: sub, sid, workflow, state_variables, signal };
  }

  async function onChatKit(res, entry, bytes) {
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableEnded) {
        entry.aborted = true;
        abort.abort();
      }
    });
    const context = await authenticate(res, entry, abort.signal);
    if (!context) return;

    let request;
    try {
      request = JSON.parse(bytes.toString("utf8"));
    } catch {}
    if (typeof request?.type !== "string") {
      entry.status = 400;
      return sendJson(res, 400, { error: "invalid_request" });
    }
    entry.type = request.type;
    if (NOT_IMPLEMENTED.has(request.type)) {
      entry.status = 501;
      return sendJson(res, 501, { error: "not_implemented", type: request.type });
    }

    const result = await chatkit.process(bytes, context);
    if (!result.isStreaming) {
      entry.status = 200;
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(result.toString());
    }
    const events = result[Symbol.asyncIterator]();
    // The first event decides the status: a thread of another user fails here, before any header is sent.
    let next = await withoutSdkDebugLine(() => events.next());
    entry.status = 200;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    while (!next.done) {
      if (entry.aborted) {
        await events.return();
        return;
      }
      entry.events.push(JSON.parse(next.value.slice("data: ".length)).type);
      res.write(next.value);
      next = await events.next();
    }
    // A stream cut short by an abort also ends (respond() returns early): only an uninterrupted one is complete.
    if (entry.aborted) return;
    entry.completed = true;
    res.end();
  }

  async function onDirectUpload(req, res, entry, bytes) {
    const context = await authenticate(res, entry, new AbortController().signal);
    if (!context) return;
    const contentType = req.headers["content-type"] ?? "";
    const file = contentType.startsWith("multipart/form-data") ? await formFile(contentType, bytes) : undefined;
    if (!file) {
      entry.status = 400;
      return sendJson(res, 400, { error: "invalid_request", message: "multipart/form-data with a file field" });
    }
    const mimeType = file.type || "application/octet-stream";
    const id = attachments.generateAttachmentId(mimeType, context);
    const { attachment, bytes: content } = await attachmentFor(id, file, mimeType);
    await store.saveAttachment(attachment, context);
    await store.saveAttachmentContent(id, content, context);
    entry.type = "upload";
    entry.file = { name: attachment.name, mimeType, bytes: content.length, sha256: sha256(content) };
    entry.status = 200;
    sendJson(res, 200, attachment);
  }

  /** Two-phase: the URL's token is the credential (as with a presigned storage URL); there is no assertion. */
  async function onTwoPhaseUpload(req, res, entry, bytes, token) {
    const pending = attachments.claimUpload(token);
    if (!pending) {
      entry.status = 404;
      return sendJson(res, 404, { error: "not_found" });
    }
    const context = { user_id: pending.userId };
    const contentType = req.headers["content-type"] ?? "";
    const file = contentType.startsWith("multipart/form-data")
      ? await formFile(contentType, bytes)
      : new File([bytes], "upload", { type: contentType });
    const saved = await store.loadAttachment(pending.attachmentId, context);
    const { attachment, bytes: content } = await attachmentFor(
      saved.id,
      new File([await file.arrayBuffer()], saved.name),
      saved.mime_type,
    );
    await store.saveAttachment(attachment, context);
    await store.saveAttachmentContent(saved.id, content, context);
    entry.type = "upload.two_phase";
    entry.file = { name: saved.name, mimeType: saved.mime_type, bytes: content.length, sha256: sha256(content) };
    entry.status = 200;
    sendJson(res, 200, attachment);
  }

  async function onRequest(req, res) {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    if (req.method === "GET" && path === "/healthz") return sendJson(res, 200, { ok: true });
    const twoPhase = path.startsWith(TWO_PHASE_PREFIX) ? path.slice(TWO_PHASE_PREFIX.length) : undefined;
    const known = path === CHATKIT_PATH || path === UPLOAD_PATH || twoPhase;
    if (!known) return sendJson(res, 404, { error: "not_found" });
    const allowed = twoPhase ? ["POST", "PUT"] : ["POST"];
    if (!allowed.includes(req.method)) return sendJson(res, 405, { error: "method_not_allowed" });

    const entry = {
      at: Date.now(),
      method: req.method,
      path,
      headers: { ...req.headers },
      assertion: req.headers[ASSERTION_HEADER],
      hasAuthorization: req.headers.authorization !== undefined,
      hasCookie: req.headers.cookie !== undefined,
      bodyBytes: 0,
      bodySha256: undefined,
      type: undefined,
      claims: undefined,
      kid: undefined,
      refused: undefined,
      status: undefined,
      events: [],
      completed: false,
      aborted: false,
      error: undefined,
    };
    received.push(entry);
    const bytes = await readCapped(req, path === CHATKIT_PATH ? MAX_REQUEST_BYTES : MAX_UPLOAD_BYTES);
    if (bytes === undefined) {
      entry.status = 413;
      return sendJson(res, 413, { error: "too_large" }, { connection: "close" });
    }
    entry.bodyBytes = bytes.length;
    entry.bodySha256 = sha256(bytes);
    try {
      if (path === CHATKIT_PATH) await onChatKit(res, entry, bytes);
      else if (path === UPLOAD_PATH) await onDirectUpload(req, res, entry, bytes);
      else await onTwoPhaseUpload(req, res, entry, bytes, twoPhase);
    } catch (error) {
      const notFound = error instanceof NotFoundError || error instanceof StoreNotFoundError;
      entry.status = notFound ? 404 : 500;
      if (!notFound) entry.error = String(error?.message ?? error);
      sendJson(res, entry.status, { error: notFound ? "not_found" : "internal_error" });
    }
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((error) => {
      log(`chatkit-server: ${error?.stack ?? error}`);
      sendJson(res, 500, { error: "internal_error" });
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  origin = `http://${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  if (gateJwksUrl) trustGate({ jwksUrl: gateJwksUrl, issuer, audience });

  return {
    /** What the gate's CHATKIT_SERVER_URL should be. */
    url: `${origin}${CHATKIT_PATH}`,
    /** What the gate's CHATKIT_UPLOAD_URL should be. */
    uploadUrl: `${origin}${UPLOAD_PATH}`,
    origin,
    port: bound.port,
    /** Every request, in arrival order; an entry is updated while its request runs (status, events, aborted). */
    received,
    /** Requests after `mark`, a value of `received.length` taken earlier. */
    since: (mark) => received.slice(mark),
    /** The store, for asserting what each user has (`store.snapshot(sub)`). */
    store,
    /** Sets (or changes) the gate this server trusts, when its URL is known only after this server starts. */
    trustGate,
    /** The gate this server trusts now, or undefined. */
    trusted: () => trusted,
    /** Stops listening and drops every connection (open streams see an abort). */
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    /** Synchronous last resort for exit handlers. */
    kill: () => server.closeAllConnections(),
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const { values } = parseArgs({
    options: {
      gate: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      audience: { type: "string" },
      "reply-delay-ms": { type: "string", default: String(DEFAULT_REPLY_DELAY_MS) },
    },
  });
  if (!values.gate) {
    console.error("usage: node scripts/chatkit-server.mjs --gate <gate origin> [--port N] [--audience AUD]");
    process.exit(2);
  }
  const gate = new URL(values.gate).origin;
  const server = await startChatKitServer({
    host: values.host,
    port: Number(values.port),
    gateJwksUrl: `${gate}/.well-known/jwks.json`,
    issuer: gate,
    audience: values.audience,
    replyDelayMs: Number(values["reply-delay-ms"]),
    log: (line) => console.error(line),
  });
  console.log(`ChatKit server ${server.url} (uploads ${server.uploadUrl}), trusting assertions from ${gate}`);
  console.log(`audience ${server.trusted().audience}`);
}
