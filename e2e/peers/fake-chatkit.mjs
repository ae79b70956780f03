// A recording stand-in for ChatKit's two session calls. Prism checks our
// requests against OpenAI's schema but answers with one static example;
// this fake gives each session its own id, remembers it, and can go down
// and come back on the same port, which the ownership and cancel flows need.
import { createServer } from "node:http";
import { chatSessionResource } from "../../scripts/dev-peers.mjs";
import { closeNow, listen, readBody, sendJson, sleep } from "../support.mjs";

/** As with a real outage, clients need a moment to see their pooled connections drop. */
const RESTART_PAUSE_MS = 100;

/** OpenAI's error shape (ErrorResponse in the spec). */
const openAiError = (message, code = null) => ({
  error: { message, type: "invalid_request_error", param: null, code },
});

/**
 * Starts the fake. Every request is recorded in `calls` (method, path,
 * headers, parsed body); `sessions` holds what it created, by id.
 */
export async function startFakeChatKit({ apiKey }) {
  const calls = [];
  const sessions = new Map();

  const onRequest = async (req, res) => {
    const text = await readBody(req);
    let body;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    calls.push({ at: Date.now(), method: req.method, path: req.url, headers: req.headers, body });
    const headers = { "x-request-id": `req_fake_${calls.length}` };

    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return sendJson(res, 401, openAiError("Incorrect API key provided", "invalid_api_key"), headers);
    }
    if (req.method === "POST" && req.url === "/v1/chatkit/sessions") {
      const session = chatSessionResource(body, "ek_fake_");
      const { id } = session;
      sessions.set(id, session);
      return sendJson(res, 200, session, headers);
    }
    const cancel = /^\/v1\/chatkit\/sessions\/([^/]+)\/cancel$/.exec(req.url ?? "");
    if (req.method === "POST" && cancel && sessions.has(cancel[1])) {
      const session = { ...sessions.get(cancel[1]), status: "cancelled" };
      sessions.set(cancel[1], session);
      return sendJson(res, 200, session, headers);
    }
    sendJson(res, 404, openAiError(`No session found with id '${cancel?.[1] ?? ""}'`), headers);
  };

  const handler = (req, res) => {
    onRequest(req, res).catch((error) => {
      if (!res.headersSent) sendJson(res, 500, openAiError(String(error)));
    });
  };
  let server = createServer(handler);
  const port = await listen(server, 0);

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    calls,
    sessions,
    /** Calls made after `mark`, a value of `calls.length` taken earlier. */
    since: (mark) => calls.slice(mark),
    /** Stops listening: connections are refused, as when ChatKit is unreachable. */
    async down() {
      await closeNow(server);
      await sleep(RESTART_PAUSE_MS);
    },
    /** Listens again on the same port with the same sessions. */
    async up() {
      server = createServer(handler);
      await listen(server, port);
    },
    close: () => closeNow(server),
  };
}
