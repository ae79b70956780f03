import { env, SELF } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { BASE, clearKv } from "../support/http";
import { mintToken, Peers } from "../support/peers";
import { SELF_HOSTED_ENV } from "../support/self-hosted";
import { THREADS_LIST } from "./support-routes";

/**
 * The Stop button through the real runtime. Here the worker is reached
 * through SELF, as a browser reaches it, so the incoming request's signal is
 * the one workerd gives it. workerd leaves that signal inert unless the
 * `enable_request_signal` compatibility flag is set (it has no default date),
 * so without the flag in wrangler.toml this test fails: the server's request
 * would run on after the browser has gone.
 *
 * This file's worker runs in self-hosted mode: SELF shares the test's env
 * object, which is switched before the worker reads it for the first time
 * (it is parsed once per isolate, and each test file has its own).
 */
beforeAll(() => {
  Object.assign(env, SELF_HOSTED_ENV);
});

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

describe("Should abort the server's request when the browser disconnects, in workerd", () => {
  it("during a stream", async () => {
    const created = await SELF.fetch(`${BASE}/v1/chatkit/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${await mintToken({ sub: "alice" })}` },
    });
    expect(created.status).toBe(201);
    const { client_secret } = (await created.json()) as { client_secret: string };
    peers.server = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('data: {"type":"progress"}\n\n'));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    const browser = new AbortController();

    const response = await SELF.fetch(`${BASE}/chatkit`, {
      method: "POST",
      headers: { authorization: `Bearer ${client_secret}`, "content-type": "application/json" },
      body: THREADS_LIST,
      signal: browser.signal,
    });
    expect(response.status).toBe(200);
    const first = await (response.body as ReadableStream<Uint8Array>).getReader().read();
    expect(new TextDecoder().decode(first.value)).toBe('data: {"type":"progress"}\n\n');
    const [forwarded] = peers.serverCalls();
    expect(forwarded?.signal.aborted).toBe(false);
    browser.abort();

    await vi.waitFor(() => expect(forwarded?.signal.aborted).toBe(true), { timeout: 2000, interval: 10 });
  });
});
