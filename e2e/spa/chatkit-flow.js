// The signed-in SPA talking to a self-hosted gate the way ChatKit's web
// component would, through `gate.chatKitApi(...)`: the component calls the
// config's `fetch` with its `url`, a POST with a JSON `{type, params}`
// body, and reads `data:` events from the SSE answer. The component itself
// loads from OpenAI's CDN, which this offline run cannot reach, so the page
// sends those requests itself. The client is the built package
// (client/dist), served under /client/.
import { createChatKitGate } from "/client/index.js";
// The demo page's SSE reader (demo/sse.js), served here as /sse.js.
import { readEvents } from "/sse.js";

/** Any placeholder works: OpenAI checks it when the component loads, never the gate. */
const DOMAIN_KEY = "domain_pk_e2e_localhost";
/** About two seconds of reply at the stand-in's 50 ms a word, so the Stop lands mid-stream. */
const LONG_MESSAGE = Array.from({ length: 40 }, (_, i) => `word${i + 1}`).join(" ");

const input = (text) => ({ content: [{ type: "input_text", text }], attachments: [], inference_options: {} });
const threadsCreate = (text) => ({ type: "threads.create", params: { input: input(text) } });
const threadsList = { type: "threads.list", params: { limit: 20, order: "desc" } };

/** The `data:` events of an SSE answer with when each was read; `onEvent` may abort the request. */
async function timedEvents(response, onEvent = () => {}) {
  const events = [];
  await readEvents(response, (event) => {
    events.push({ event, at: performance.now() });
    onEvent(event);
  });
  return events;
}

const deltas = (events) =>
  events
    .map(({ event }) => event)
    .filter((event) => event.type === "thread.item.updated" && event.update?.type?.endsWith(".text_delta"))
    .map((event) => event.update.delta)
    .join("");

/** What a failed fetch says: a CORS refusal is a TypeError the page learns nothing more from. */
const failure = (error) => `${error?.name}${error?.code ? ` ${error.code}` : ""}: ${error?.message}`;

/**
 * `handed` is a valid client secret the test gave the page (in the URL
 * fragment): on the refused origin, proof that only CORS stopped the call.
 */
export async function runChatKitFlow({ config, token, handed, finish }) {
  const gateUrl = config.selfHostedWorkerUrl;
  // Seen by the page's own transport only to check, after logout, that the last one is refused; never shown.
  let lastSecret;
  const sessionsStarted = [];
  const gate = createChatKitGate({
    baseUrl: gateUrl,
    getToken: () => token,
    fetch: (url, init) => {
      if (String(url) === `${gateUrl}/chatkit`) {
        lastSecret = new Headers(init?.headers).get("authorization")?.slice("Bearer ".length);
      }
      return fetch(url, init);
    },
    onSessionStarted: (session) => sessionsStarted.push(session.session_id),
  });
  const api = gate.chatKitApi({ domainKey: DOMAIN_KEY });
  const send = (body, signal) =>
    api.fetch(api.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });

  if (handed) {
    const result = { url: api.url };
    try {
      const response = await send(threadsList);
      result.api = `answered ${response.status}`;
    } catch (error) {
      result.api = failure(error);
    }
    try {
      const response = await fetch(api.url, {
        method: "POST",
        headers: { authorization: `Bearer ${handed}`, "content-type": "application/json" },
        body: JSON.stringify(threadsList),
      });
      result.direct = `answered ${response.status}`;
    } catch (error) {
      result.direct = failure(error);
    }
    const blocked = !result.api.startsWith("answered") && !result.direct.startsWith("answered");
    return finish(blocked ? "blocked" : "error", result);
  }

  const result = { url: api.url, domainKey: api.domainKey };

  // 1. A new thread, streamed: the events arrive one by one.
  const text = "Hello from Chromium";
  const started = performance.now();
  const created = await send(threadsCreate(text));
  const createdEvents = await timedEvents(created);
  result.create = {
    status: created.status,
    contentType: created.headers.get("content-type"),
    types: createdEvents.map(({ event }) => event.type),
    threadId: createdEvents[0]?.event.thread?.id,
    reply: deltas(createdEvents),
    firstEventMs: createdEvents[0].at - started,
    lastEventMs: createdEvents.at(-1).at - started,
  };

  // 2. The user's threads.
  const listed = await send(threadsList);
  result.list = { status: listed.status, ids: (await listed.json()).data.map((thread) => thread.id) };

  // 3. The Stop button: abort after the first words of the answer.
  const controller = new AbortController();
  const stopEvents = [];
  try {
    const response = await send(threadsCreate(LONG_MESSAGE), controller.signal);
    await timedEvents(response, (event) => {
      stopEvents.push(event);
      if (event.type === "thread.item.updated") controller.abort();
    });
    result.stop = { aborted: false };
  } catch (error) {
    result.stop = { aborted: error.name === "AbortError", error: error.name, threadId: stopEvents[0]?.thread?.id };
  }

  // 4. Another device signs the user out everywhere: the page's held session is cancelled under it.
  const everywhere = await fetch(`${gateUrl}/v1/chatkit/sessions/cancel_all`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  result.otherDevice = { status: everywhere.status, ...(await everywhere.json()) };

  // 5. The next request meets a 401; the client starts a new session and sends it once more.
  const again = await send(threadsList);
  result.afterCancel = { status: again.status, ids: (await again.json()).data.map((thread) => thread.id) };
  result.sessionsStarted = sessionsStarted.length;

  // 6. Logout: cancelAll revokes everything, and the last secret no longer opens /chatkit.
  const secretBefore = lastSecret;
  const cancelled = await gate.cancelAll();
  result.logout = cancelled;
  const refused = await fetch(api.url, {
    method: "POST",
    headers: { authorization: `Bearer ${secretBefore}`, "content-type": "application/json" },
    body: JSON.stringify(threadsList),
  });
  result.afterLogout = { status: refused.status, code: (await refused.json())?.error?.code };
  finish("done", result);
}
