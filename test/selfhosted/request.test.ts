import { describe, expect, it } from "vitest";
import { GateError } from "../../src/http/errors";
import {
  type ChatKitRequest,
  JSON_TYPES,
  type RequestRules,
  readChatKitRequest,
  STREAMING_TYPES,
} from "../../src/selfhosted/request";
import { bytesOf, streamOf } from "./support";

const MAX = 4096;
const rules: RequestRules = { maxBytes: MAX, uploadsEnabled: false };

/** A POST /chatkit as the browser sends it; `length` sets Content-Length, a stream body omits it. */
function post(body: Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Request {
  return new Request("https://gate.example.com/chatkit", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

/** `{"type":..,"params":{}}` padded with JSON whitespace to exactly `size` bytes. */
function bodyOfSize(size: number, type = "threads.list"): Uint8Array {
  const json = `{"type":"${type}","params":{}}`;
  return bytesOf(`${json.slice(0, -1)}${" ".repeat(size - json.length)}}`);
}

/** Runs the checks; a refusal is returned as its status and code. */
async function check(request: Request, with_ = rules): Promise<ChatKitRequest | { status: number; code: string }> {
  try {
    return await readChatKitRequest(request, with_);
  } catch (error) {
    if (!(error instanceof GateError)) throw error;
    return { status: error.status, code: error.code };
  }
}

describe("Should pass on the exact bytes of every known request type", () => {
  it.each([...STREAMING_TYPES].map((type) => [type, "streaming"] as const))("%s as %s", async (type, kind) => {
    const bytes = bytesOf(
      `{ "type" : "${type}", "params": {"thread_id": "thr_1", "input": {"content": []}}, "metadata": {"x": "\\u00e9"} }\n`,
    );
    expect(await check(post(bytes))).toEqual({ bytes, type, kind });
  });

  it.each([...JSON_TYPES].filter((t) => t !== "attachments.create").map((type) => [type]))(
    "%s as json",
    async (type) => {
      const bytes = bytesOf(JSON.stringify({ type, params: { thread_id: "thr_1" } }));
      expect(await check(post(bytes))).toEqual({ bytes, type, kind: "json" });
    },
  );

  it("covers the sixteen types of the protocol", () => {
    expect(STREAMING_TYPES.size + JSON_TYPES.size).toBe(16);
  });

  it("attachments.create while uploads are on", async () => {
    const bytes = bytesOf('{"type":"attachments.create","params":{"name":"a.png","size":10,"mime_type":"image/png"}}');
    expect(await check(post(bytes), { ...rules, uploadsEnabled: true })).toEqual({
      bytes,
      type: "attachments.create",
      kind: "json",
    });
  });

  it.each([
    ["with Content-Length", () => post(bodyOfSize(MAX), { "content-length": String(MAX) })],
    ["streamed, without Content-Length", () => post(streamOf(bodyOfSize(MAX)))],
  ])("a body of exactly the limit %s", async (_name, make) => {
    const request = make();
    expect(request.headers.get("content-length")).toBe(_name.startsWith("with") ? String(MAX) : null);
    expect(await check(request)).toEqual({ bytes: bodyOfSize(MAX), type: "threads.list", kind: "json" });
  });

  it("a byte order mark, forwarded as received", async () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...bytesOf('{"type":"threads.list","params":{}}')]);
    expect(await check(post(bytes))).toMatchObject({ bytes, type: "threads.list" });
  });
});

describe("Should refuse before anything reaches the server", () => {
  it.each([
    ["one byte over, with Content-Length", () => post(bodyOfSize(MAX + 1), { "content-length": String(MAX + 1) })],
    ["one byte over, streamed", () => post(streamOf(bodyOfSize(MAX + 1)))],
    ["a megabyte, streamed in small chunks", () => post(streamOf(new Uint8Array(1024 * 1024), 512))],
  ])("413 payload_too_large: %s", async (_name, make) => {
    expect(await check(make())).toEqual({ status: 413, code: "payload_too_large" });
  });

  it("413 from Content-Length alone, without reading the body", async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(1024));
      },
    });
    const request = post(body, { "content-length": String(MAX + 1) });
    expect(await check(request)).toEqual({ status: 413, code: "payload_too_large" });
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it.each([
    ["an empty body", ""],
    ["not JSON", "type=threads.list"],
    ["truncated JSON", '{"type":"threads.list"'],
    ["a JSON array", '[{"type":"threads.list"}]'],
    ["a JSON string", '"threads.list"'],
    ["null", "null"],
    ["no type", '{"params":{}}'],
    ["a numeric type", '{"type":1}'],
    ["a null type", '{"type":null}'],
    ["an unknown type", '{"type":"threads.export","params":{}}'],
    ["a type in another case", '{"type":"Threads.List","params":{}}'],
  ])("400 invalid_request: %s", async (_name, text) => {
    expect(await check(post(bytesOf(text)))).toEqual({ status: 400, code: "invalid_request" });
  });

  it("400 invalid_request: bytes that are not UTF-8", async () => {
    const bytes = new Uint8Array([...bytesOf('{"type":"threads.list","x":"'), 0xff, ...bytesOf('"}')]);
    expect(await check(post(bytes))).toEqual({ status: 400, code: "invalid_request" });
  });

  it("a body that ends inside a UTF-8 character leaves nothing behind: the next body is read on its own", async () => {
    // The decoder is shared by every request; a leftover lead byte must not join the next body's first bytes.
    const cut = new Uint8Array([...bytesOf('{"type":"threads.list","x":"'), 0xc3]);
    expect(await check(post(cut))).toEqual({ status: 400, code: "invalid_request" });
    const next = bytesOf('{"type":"threads.list","x":"é"}');
    expect(await check(post(next))).toMatchObject({ type: "threads.list", kind: "json" });
  });

  it("400 invalid_request: a Content-Length that is not a number", async () => {
    const request = post(bytesOf('{"type":"threads.list"}'), { "content-length": "23, 23" });
    expect(await check(request)).toEqual({ status: 400, code: "invalid_request" });
  });

  it("403 forbidden: attachments.create while uploads are off", async () => {
    const body = bytesOf('{"type":"attachments.create","params":{"name":"a.png","size":10,"mime_type":"image/png"}}');
    expect(await check(post(body))).toEqual({ status: 403, code: "forbidden" });
  });
});
