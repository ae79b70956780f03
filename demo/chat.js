// The chat of the self-hosted demo: what ChatKit's web component does with
// the `api` that `gate.chatKitApi()` returns, reduced to a page without
// OpenAI's CDN. Every request is a POST of JSON `{type, params}` to the
// config's `url` through its `fetch`, which adds the gate session's secret;
// streaming types answer `text/event-stream` with `data: <json>` events,
// the others JSON.

import { readEvents } from "/sse.js";

const $ = (selector) => document.querySelector(selector);

const input = (text) => ({ content: [{ type: "input_text", text }], attachments: [], inference_options: {} });

/**
 * An error the page can describe (messages.js): the gate's own
 * `{error: {code, message}}`, or whatever the ChatKit server answered,
 * which the gate passes through unchanged.
 */
async function failed(response) {
  let body;
  try {
    body = await response.json();
  } catch {}
  if (typeof body?.error?.code === "string") return Object.assign(new Error(body.error.message), body.error);
  const said = typeof body?.error === "string" ? body.error : "no reason given";
  return Object.assign(new Error(`${response.status} ${said}`), { code: "chatkit_server_error" });
}

/** One ChatKit request; a network failure becomes `network_error`, as the client's own calls report it. */
async function send(api, body, signal) {
  let response;
  try {
    response = await api.fetch(api.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error?.name === "AbortError" || typeof error?.code === "string") throw error;
    throw Object.assign(new Error(String(error?.message ?? error)), { code: "network_error" });
  }
  if (!response.ok) throw await failed(response);
  return response;
}

const textOf = (item) =>
  (item.content ?? [])
    .map((part) => part.text ?? "")
    .join("")
    .trim();

function bubble(role, text, state) {
  const element = document.createElement("div");
  element.className = `msg ${role}`;
  element.dataset.role = role;
  if (state) element.dataset.state = state;
  element.textContent = text;
  $("#transcript").append(element);
  element.scrollIntoView({ block: "nearest" });
  return element;
}

/**
 * The chat card and the thread list. `getApi()` is the signed-in person's
 * ChatKit api (undefined when signed out); `run(action)` is the page's
 * busy-and-errors wrapper; `onStreaming(flag)` lets it enable the Stop button.
 */
export function createChat({ getApi, run, onStreaming, onSessionsChanged }) {
  let threadId = null;
  let controller = null;

  function showThread(id, title) {
    threadId = id;
    $("#chat-thread").textContent = id ? `Thread ${title ? `“${title}” ` : ""}(${id})` : "A new conversation.";
    for (const row of document.querySelectorAll("#threads li")) {
      row.classList.toggle("selected", row.dataset.threadId === id);
    }
  }

  function renderThreads(threads, emptyText) {
    const rows = threads.map((thread) => {
      const row = document.createElement("li");
      row.dataset.threadId = thread.id;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link";
      open.dataset.openThread = thread.id;
      open.textContent = thread.title || "Untitled";
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = new Date(thread.created_at).toLocaleTimeString([], { hour12: false });
      row.append(open, when);
      row.classList.toggle("selected", thread.id === threadId);
      return row;
    });
    $("#threads").replaceChildren(...rows);
    $("#threads-empty").hidden = rows.length > 0;
    $("#threads-empty").textContent =
      emptyText ?? (getApi() ? "No threads yet. Send a message." : "Sign in to see your threads.");
  }

  async function refreshThreads() {
    const api = getApi();
    if (!api) return renderThreads([]);
    const response = await send(api, { type: "threads.list", params: { limit: 20, order: "desc" } });
    renderThreads((await response.json()).data);
  }

  /** Sends the message and renders the reply delta by delta, as the server writes it. */
  async function sendMessage(text) {
    const api = getApi();
    bubble("user", text);
    const reply = bubble("assistant", "", "waiting");
    controller = new AbortController();
    onStreaming(true);
    const body = threadId
      ? { type: "threads.add_user_message", params: { thread_id: threadId, input: input(text) } }
      : { type: "threads.create", params: { input: input(text) } };
    try {
      const response = await send(api, body, controller.signal);
      await readEvents(response, (event) => {
        if (event.type === "thread.created" || event.type === "thread.updated") {
          showThread(event.thread.id, event.thread.title);
        }
        if (event.type === "thread.item.updated" && event.update?.type?.endsWith(".text_delta")) {
          reply.dataset.state = "streaming";
          reply.textContent += event.update.delta;
        }
        if (event.type === "thread.item.done" && event.item?.type === "assistant_message") {
          reply.textContent = textOf(event.item);
        }
      });
      reply.dataset.state = "done";
    } catch (error) {
      if (error?.name !== "AbortError") {
        reply.remove();
        throw error;
      }
      // The Stop button: the server keeps what it had written so far.
      reply.dataset.state = "stopped";
    } finally {
      controller = null;
      onStreaming(false);
    }
    await refreshThreads();
    // chatKitApi's fetch starts a gate session on first use: the session list shows it.
    await onSessionsChanged();
  }

  async function openThread(id) {
    const response = await send(getApi(), { type: "items.list", params: { thread_id: id, order: "asc" } });
    $("#transcript").replaceChildren();
    for (const item of (await response.json()).data) {
      if (item.type === "user_message") bubble("user", textOf(item));
      if (item.type === "assistant_message") bubble("assistant", textOf(item), "done");
    }
    const title = $(`#threads li[data-thread-id="${CSS.escape(id)}"] [data-open-thread]`)?.textContent;
    showThread(id, title);
  }

  function reset(signedIn) {
    controller?.abort();
    $("#transcript").replaceChildren();
    showThread(null);
    if (!signedIn) $("#chat-thread").textContent = "Sign in to chat.";
  }

  $("#composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#message").value.trim();
    if (!text || !getApi()) return;
    $("#message").value = "";
    run(() => sendMessage(text));
  });
  $("#stop").addEventListener("click", () => controller?.abort());
  $("#new-chat").addEventListener("click", () => reset(true));
  $("#refresh-threads").addEventListener("click", () => run(refreshThreads));
  $("#threads").addEventListener("click", (event) => {
    const button = event.target.closest("[data-open-thread]");
    if (button) run(() => openThread(button.dataset.openThread));
  });

  return { refreshThreads, renderThreads, reset };
}
