// ChatKit's streamed answers, read in the browser: `text/event-stream` with
// only `data: <json>` lines and blank lines between events (no `event:` or
// `id:` lines, no end marker; the stream ends when the body does). Shared by
// the demo page and the end-to-end SPA (e2e/spa/chatkit-flow.js).

/** Calls `onEvent(event)` with each parsed event as it arrives; resolves when the body ends. */
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end !== -1) {
      const data = buffer
        .slice(0, end)
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice("data:".length).trimStart())
        .join("\n");
      buffer = buffer.slice(end + 2);
      if (data) onEvent(JSON.parse(data));
      end = buffer.indexOf("\n\n");
    }
  }
}
