import { SELF } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_BODY_BYTES } from "../../src/http/body";
import { BASE, call, clearKv, errorOf, kvEntries } from "../support/http";
import { mintToken, Peers } from "../support/peers";

let peers: Peers;
let token: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  token = await mintToken();
});
afterEach(() => vi.restoreAllMocks());

/** A valid create body padded with JSON whitespace to exactly `size` bytes. */
const bodyOfSize = (size: number) => {
  const json = '{"workflow":"support"}';
  return `${json.slice(0, -1)}${" ".repeat(size - json.length)}}`;
};

/** Sends the body as a stream, so the request carries no Content-Length. */
const streamed = (text: string) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      const bytes = new TextEncoder().encode(text);
      for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.slice(i, i + 1000));
      controller.close();
    },
  });

const post = (body: BodyInit, headers: Record<string, string> = {}) =>
  SELF.fetch(`${BASE}/v1/chatkit/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body,
    // @ts-expect-error: workerd needs duplex for streamed request bodies, which lib.dom lacks.
    duplex: "half",
  });

describe("Should accept a body up to the limit", () => {
  it.each([
    ["with Content-Length", () => post(bodyOfSize(MAX_BODY_BYTES))],
    ["streamed, without Content-Length", () => post(streamed(bodyOfSize(MAX_BODY_BYTES)))],
  ])("exactly 16 KiB %s", async (_name, send) => {
    const response = await send();

    expect(response.status).toBe(201);
    expect(peers.upstreamCalls()[0]?.body).toMatchObject({ workflow: { id: "wf_support" } });
  });

  it.each([["application/json; charset=utf-8"], ["Application/JSON"], ['application/json; charset="UTF-8"']])(
    "Content-Type %s",
    async (type) => {
      expect((await post('{"workflow":"sales"}', { "content-type": type })).status).toBe(201);
    },
  );
});

describe("Should refuse a body it must not read", () => {
  it.each([
    ["one byte over, with Content-Length", () => post(bodyOfSize(MAX_BODY_BYTES + 1))],
    ["one byte over, streamed", () => post(streamed(bodyOfSize(MAX_BODY_BYTES + 1)))],
    ["a megabyte, streamed", () => post(streamed("x".repeat(1024 * 1024)))],
  ])("413 payload_too_large: %s", async (_name, send) => {
    expect(await errorOf(await send())).toMatchObject({ status: 413, code: "payload_too_large" });
    expect(peers.upstreamCalls()).toEqual([]);
    expect(await kvEntries()).toEqual([]);
  });

  it.each([
    ["text/plain", { "content-type": "text/plain" }],
    ["form data", { "content-type": "application/x-www-form-urlencoded" }],
    ["application/json with latin1", { "content-type": "application/json; charset=iso-8859-1" }],
    ["a look-alike type", { "content-type": "application/jsonp" }],
  ])("415 unsupported_media_type: %s", async (_name, headers) => {
    expect(await errorOf(await post('{"workflow":"sales"}', headers))).toMatchObject({
      status: 415,
      code: "unsupported_media_type",
    });
    expect(peers.upstreamCalls()).toEqual([]);
  });

  it("415 when a non-empty body has no Content-Type", async () => {
    const response = await SELF.fetch(`${BASE}/v1/chatkit/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: new TextEncoder().encode("{}"),
    });

    expect(await errorOf(response)).toMatchObject({ status: 415, code: "unsupported_media_type" });
  });

  it("400 for bytes that are not UTF-8", async () => {
    expect(await errorOf(await post(new Uint8Array([0x7b, 0xff, 0x7d])))).toMatchObject({
      status: 400,
      code: "invalid_request",
      message: "The request body is not valid UTF-8",
    });
  });

  it("checks the token before reading the body", async () => {
    const response = await SELF.fetch(`${BASE}/v1/chatkit/sessions`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "x".repeat(MAX_BODY_BYTES * 2),
    });

    expect(await errorOf(response)).toMatchObject({ status: 401, code: "invalid_token" });
  });
});

describe("Should treat an empty body as no body", () => {
  it("without Content-Type", async () => {
    expect((await call("POST", "/v1/chatkit/sessions", { token })).status).toBe(201);
  });
});
