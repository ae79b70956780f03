import { describe, expect, it } from "vitest";
import { GateError } from "../../src/http/errors";
import { ASSERTION_HEADER } from "../../src/selfhosted/assertion";
import {
  DEFAULT_MAX_FILE_SIZE_MB,
  forwardUpload,
  MULTIPART_OVERHEAD_BYTES,
  type UploadPolicy,
  uploadPolicy,
} from "../../src/selfhosted/upload";
import { bytesOf, FakeServer, streamOf, UPLOAD_URL } from "./support";

const BOUNDARY = "----chatkitgate0123";
const CAP = 4096;
const on: UploadPolicy = { enabled: true, maxBytes: CAP };
const ATTACHMENT = { id: "att_1", name: "a.png", mime_type: "image/png", type: "image" };

/** A multipart body of exactly `size` bytes with one `file` part. */
function multipart(size: number): Uint8Array {
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`;
  const tail = `\r\n--${BOUNDARY}--\r\n`;
  const bytes = new Uint8Array(size);
  bytes.set(bytesOf(head));
  bytes.fill(0x89, head.length, size - tail.length);
  bytes.set(bytesOf(tail), size - tail.length);
  return bytes;
}

function upload(body: Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Request {
  return new Request("https://gate.example.com/chatkit/upload", {
    method: "POST",
    headers: {
      authorization: "Bearer client-secret-SECRET",
      cookie: "a=b",
      "content-type": `multipart/form-data; boundary=${BOUNDARY}`,
      ...headers,
    },
    body,
  });
}

const server = () => new FakeServer(() => Response.json(ATTACHMENT, { status: 201 }));
const send = (request: Request, fake: FakeServer, policy = on) =>
  forwardUpload(request, async () => "signed-assertion", policy, {
    url: UPLOAD_URL,
    timeoutMs: 1000,
    fetch: fake.fetch,
  });
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => "forwarded",
    (error) => (error instanceof GateError ? { status: error.status, code: error.code } : error),
  );

describe("Should read file_upload as the gate's upload policy", () => {
  it.each([
    [
      "unset",
      undefined,
      { enabled: false, maxBytes: DEFAULT_MAX_FILE_SIZE_MB * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES },
    ],
    [
      "enabled: false",
      { file_upload: { enabled: false, max_file_size: 5 } },
      { enabled: false, maxBytes: 5 * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES },
    ],
    [
      "enabled with a cap",
      { file_upload: { enabled: true, max_file_size: 2 } },
      { enabled: true, maxBytes: 2 * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES },
    ],
    [
      "enabled without a cap",
      { file_upload: { enabled: true } },
      { enabled: true, maxBytes: 512 * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES },
    ],
  ])("%s", (_name, configuration, policy) => {
    expect(uploadPolicy(configuration)).toEqual(policy);
  });
});

describe("Should forward an upload within the cap", () => {
  it.each([
    ["with Content-Length", () => upload(multipart(CAP), { "content-length": String(CAP) })],
    ["streamed, without Content-Length", () => upload(streamOf(multipart(CAP), 333))],
  ])("exactly the cap, %s: bytes, type and assertion, never the secret", async (_name, make) => {
    const fake = server();
    const response = await send(make(), fake);

    expect(response.status).toBe(201);
    expect(await response.json()).toEqual(ATTACHMENT);
    expect(fake.received).toHaveLength(1);
    const [received] = fake.received;
    expect(received?.url).toBe(UPLOAD_URL);
    expect(received?.body).toEqual(multipart(CAP));
    expect(received?.headers["content-type"]).toBe(`multipart/form-data; boundary=${BOUNDARY}`);
    expect(received?.headers[ASSERTION_HEADER.toLowerCase()]).toBe("signed-assertion");
    expect(received?.headers.authorization).toBeUndefined();
    expect(received?.headers.cookie).toBeUndefined();
  });
});

describe("Should refuse an upload the policy does not allow", () => {
  it("403 forbidden while uploads are off, reaching no server", async () => {
    const fake = server();
    expect(await refusal(send(upload(multipart(512)), fake, { ...on, enabled: false }))).toEqual({
      status: 403,
      code: "forbidden",
    });
    expect(fake.received).toEqual([]);
  });

  it.each([
    ["one byte over, with Content-Length", () => upload(multipart(CAP + 1), { "content-length": String(CAP + 1) })],
    ["one byte over, streamed", () => upload(streamOf(multipart(CAP + 1), 333))],
    ["a megabyte, streamed", () => upload(streamOf(multipart(1024 * 1024), 16 * 1024))],
  ])("413 payload_too_large: %s", async (_name, make) => {
    const fake = server();
    expect(await refusal(send(make(), fake))).toEqual({ status: 413, code: "payload_too_large" });
    // The server may have started to read a streamed upload, but never got a whole one to answer.
    expect(fake.received).toEqual([]);
  });

  it.each([
    ["JSON", { "content-type": "application/json" }],
    ["no type", { "content-type": "" }],
    ["urlencoded", { "content-type": "application/x-www-form-urlencoded" }],
  ])("415 unsupported_media_type: %s", async (_name, headers) => {
    const fake = server();
    expect(await refusal(send(upload(multipart(512), headers), fake))).toEqual({
      status: 415,
      code: "unsupported_media_type",
    });
    expect(fake.received).toEqual([]);
  });
});
