// The app's own ChatKit server for the self-hosted flows: a real
// implementation of the protocol (chatkit-node-backend-sdk) that verifies
// the gate's assertion on every request and scopes threads by its `sub`.
// The server itself lives in scripts/ because `npm run dev` uses it too.
import { startChatKitServer } from "../../scripts/chatkit-server.mjs";

/**
 * Starts the server in process and registers it to be stopped with the
 * other peers. The gate's URL is usually known only later: call
 * `trustGate({ jwksUrl, issuer, audience? })` once the worker is up.
 * Returns what `startChatKitServer` returns (url, uploadUrl, received, since, store, …).
 */
export async function startChatKitServerPeer({ register, ...options }) {
  const server = await startChatKitServer(options);
  register({ name: "chatkit server", stop: server.close, kill: server.kill });
  return server;
}

/**
 * The events of a ChatKit `text/event-stream` answer, parsed, as they
 * arrive. ChatKit sends only `data: <json>` lines separated by blank lines
 * (no `event:`/`id:` lines, no end marker): the stream ends when the body does.
 * Each yielded value is `{ event, at }`, `at` being when it was read.
 */
export async function* sseEvents(response) {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice("data:".length).trimStart())
        .join("\n");
      if (data) yield { event: JSON.parse(data), at: Date.now() };
      end = buffer.indexOf("\n\n");
    }
  }
  if (buffer.trim()) throw new Error(`the stream ended inside an event: ${buffer.slice(0, 80)}`);
}
