// The demo page: signs in against the dev token issuer, then drives the
// worker through chatkit-gate/client (bundled from client/index.ts and
// served as /client.js by scripts/dev-demo-page.mjs). With
// `?mode=self-hosted` (`npm run dev -- --self-hosted`), it chats through the
// gate's /chatkit with `chatKitApi()` instead of starting sessions by hand.

import { createChat } from "/chat.js";
import { createChatKitGate } from "/client.js";
import { describeError } from "/messages.js";

const params = new URLSearchParams(location.search);
const WORKER_URL = params.get("worker") ?? "http://127.0.0.1:8787";
const ISSUER_URL = params.get("issuer") ?? "http://127.0.0.1:8788";
const MODE = params.get("mode") === "self-hosted" ? "self-hosted" : "hosted";
/** Any placeholder works on localhost: OpenAI checks the domain key when its component loads, never the gate. */
const DOMAIN_KEY = "domain_pk_localhost_demo";
/** Past the worker's 30 s clock tolerance, so the token is refused as expired. */
const EXPIRED_TOKEN_AGE_SECONDS = 120;
/** Countdowns tick once a second; they show whole seconds. */
const TICK_MS = 1_000;
/** Statuses a person can still cancel. */
const CANCELLABLE = new Set(["active", "cancel_pending"]);
const STATUS_LABELS = {
  active: "active",
  cancelled: "cancelled",
  cancel_pending: "cancel pending",
  expired: "expired",
};

const $ = (selector) => document.querySelector(selector);
/** The signed-in person, their token (memory only), their gate client and, self-hosted, ChatKit's api. */
let account = null;
/** True while a reply streams: Stop is usable then, and only then. */
let streaming = false;
/** The session last started here, without its secret: `{session_id, status, expires_at}`. */
let current = null;
let busy = 0;

const nowSeconds = () => Math.floor(Date.now() / 1000);
const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });

/** "09:58" until the time is up, then "expired". */
function countdown(expiresAt) {
  const left = expiresAt - nowSeconds();
  if (left <= 0) return "expired";
  const mm = String(Math.floor(left / 60)).padStart(2, "0");
  const ss = String(left % 60).padStart(2, "0");
  return `${mm}:${ss}`;
}

/** "ek_…abcd": enough to tell secrets apart, too little to use one. */
const maskSecret = (secret) => `${secret.slice(0, 3)}…${secret.slice(-4)}`;

function showError(error) {
  const { text, detail } = describeError(error, { workerUrl: WORKER_URL });
  $("#error-text").textContent = text;
  $("#error-detail").textContent = detail;
  $("#error").hidden = false;
}

function showNotice(text) {
  $("#notice").textContent = text;
  $("#notice").hidden = false;
}

function clearMessages() {
  $("#error").hidden = true;
  $("#notice").hidden = true;
}

function updateControls() {
  document.body.dataset.busy = String(busy > 0);
  for (const button of document.querySelectorAll("button:not(.quiet):not([data-while-streaming])")) {
    button.disabled = busy > 0 || (button.hasAttribute("data-needs-user") && account === null);
  }
  $("#stop").disabled = !streaming;
  for (const button of document.querySelectorAll("[data-cancel]")) button.disabled = busy > 0;
}

/** Runs one user action: buttons off while it runs, and any failure shown as a readable error. */
async function run(action) {
  clearMessages();
  busy++;
  updateControls();
  try {
    await action();
  } catch (error) {
    showError(error);
  } finally {
    busy--;
    updateControls();
  }
}

function badge(status) {
  const element = document.createElement("span");
  element.className = `badge ${status}`;
  element.textContent = STATUS_LABELS[status] ?? status;
  return element;
}

function renderCurrent() {
  $("#current").hidden = current === null;
  if (current === null) return;
  $("#current-id").textContent = current.session_id;
  $("#current-status").replaceWith(Object.assign(badge(current.status), { id: "current-status" }));
  $("#current-secret").textContent = current.maskedSecret;
  $("#current-expiry").textContent =
    current.status === "active" ? `expires in ${countdown(current.expires_at)}` : "no longer usable";
}

/** @param {string} [emptyText] what an empty list says, when not the usual */
function renderSessions(sessions, emptyText) {
  const rows = sessions.map((session) => {
    const row = document.createElement("tr");
    row.dataset.sessionId = session.session_id;
    row.dataset.status = session.status;
    const cells = [document.createElement("code"), badge(session.status), clock(session.created_at)];
    const ends = document.createElement("span");
    if (session.status === "active") ends.dataset.expiresAt = String(session.expires_at);
    else ends.textContent = session.cancelled_at ? `cancelled ${clock(session.cancelled_at)}` : "—";
    cells[0].textContent = session.session_id;
    cells.push(ends);
    for (const content of cells) row.insertCell().append(content);
    const actions = row.insertCell();
    if (CANCELLABLE.has(session.status)) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small danger";
      button.textContent = "Cancel";
      button.dataset.cancel = session.session_id;
      actions.append(button);
    }
    return row;
  });
  $("#sessions").replaceChildren(...rows);
  $("#empty").hidden = rows.length > 0;
  $("#empty").textContent =
    emptyText ?? (account ? "No sessions yet. Start one above." : "Sign in to see your sessions.");
  const shown = sessions.find((session) => session.session_id === current?.session_id);
  if (shown) current = { ...current, status: shown.status };
  tick();
}

/** Moves every countdown on the page. */
function tick() {
  for (const element of document.querySelectorAll("[data-expires-at]")) {
    element.textContent = `in ${countdown(Number(element.dataset.expiresAt))}`;
  }
  renderCurrent();
}

async function refreshList() {
  renderSessions(account ? await account.gate.list() : []);
}

async function fetchToken(user, expiresIn) {
  const url = new URL("/token", ISSUER_URL);
  url.searchParams.set("sub", user);
  if (expiresIn !== undefined) url.searchParams.set("expires_in", String(expiresIn));
  let response;
  try {
    response = await fetch(url);
  } catch {
    throw new Error(`The dev token issuer at ${ISSUER_URL} could not be reached. Is npm run dev running?`);
  }
  if (!response.ok) throw new Error(`The dev token issuer refused to sign you in (${response.status}).`);
  return (await response.json()).token;
}

function signIn(user, { expired = false } = {}) {
  return run(async () => {
    const token = await fetchToken(user, expired ? -EXPIRED_TOKEN_AGE_SECONDS : undefined);
    const gate = createChatKitGate({
      baseUrl: WORKER_URL,
      getToken: () => token,
      onSessionStarted: (session) => {
        current = { ...session, maskedSecret: "" };
      },
    });
    // What useChatKit({ api }) would be given: the gate's /chatkit and a fetch that adds the session's secret.
    account = { user, gate, api: MODE === "self-hosted" ? gate.chatKitApi({ domainKey: DOMAIN_KEY }) : undefined };
    current = null;
    $("#who").textContent = `Signed in as ${user}${expired ? " (with an expired token)" : ""}.`;
    renderSessions([], "Loading your sessions…");
    chat?.reset(true);
    chat?.renderThreads([], "Loading your threads…");
    try {
      await refreshList();
    } catch (error) {
      renderSessions([], "Your sessions could not be loaded.");
      chat?.renderThreads([], "Your threads could not be loaded.");
      throw error;
    }
    await chat?.refreshThreads();
  });
}

function startSession() {
  return run(async () => {
    // What ChatKit's getClientSecret(null) does on first load.
    const secret = await account.gate.getClientSecret(null);
    current.maskedSecret = maskSecret(secret);
    showNotice("Session started.");
    await refreshList();
  });
}

function cancelSession(sessionId) {
  return run(async () => {
    const session = await account.gate.cancel(sessionId);
    showNotice(
      session.status === "cancel_pending" ? "Cancel requested; ChatKit will confirm it." : "Session cancelled.",
    );
    await refreshList();
  });
}

function cancelAll() {
  return run(async () => {
    const { cancelled, pending } = await account.gate.cancelAll();
    showNotice(`Cancelled ${cancelled} session${cancelled === 1 ? "" : "s"}${pending ? `, ${pending} pending` : ""}.`);
    await refreshList();
  });
}

function signOut() {
  return run(async () => {
    const { gate, user } = account;
    // Local sign-out happens even when the cancel fails: the error says what was left running.
    account = null;
    current = null;
    $("#who").textContent = "Not signed in.";
    renderSessions([]);
    chat?.reset(false);
    chat?.renderThreads([]);
    const { cancelled } = await gate.cancelAll();
    showNotice(`Signed out ${user}; cancelled ${cancelled} session${cancelled === 1 ? "" : "s"}.`);
  });
}

const chat =
  MODE === "self-hosted"
    ? createChat({
        getApi: () => account?.api,
        run,
        onStreaming(flag) {
          streaming = flag;
          updateControls();
        },
        onSessionsChanged: refreshList,
      })
    : undefined;

document.body.dataset.mode = MODE;
for (const element of document.querySelectorAll("[data-mode-only]")) {
  element.hidden = element.dataset.modeOnly !== MODE;
}
// Chat and threads take steps 2 and 3 in self-hosted mode.
if (MODE === "self-hosted") $("#sessions-step").textContent = "4";
$("#worker-url").textContent = WORKER_URL;
$("#issuer-url").textContent = ISSUER_URL;
for (const button of document.querySelectorAll("[data-sign-in]")) {
  button.addEventListener("click", () => signIn(button.dataset.signIn));
}
$("#sign-in-expired").addEventListener("click", () => signIn("alice", { expired: true }));
$("#sign-out").addEventListener("click", signOut);
$("#start").addEventListener("click", startSession);
$("#refresh").addEventListener("click", () => run(refreshList));
$("#cancel-all").addEventListener("click", cancelAll);
$("#sessions").addEventListener("click", (event) => {
  const button = event.target.closest("[data-cancel]");
  if (button) cancelSession(button.dataset.cancel);
});
$("#error-dismiss").addEventListener("click", () => {
  $("#error").hidden = true;
});
updateControls();
setInterval(tick, TICK_MS);
document.body.dataset.ready = "true";
