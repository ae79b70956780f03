import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MULTIPART_OVERHEAD_BYTES } from "../../src/selfhosted/upload";
import { type Gate, gateWith } from "../support/app";
import { BASE, clearKv, errorOf } from "../support/http";
import { mintToken, Peers } from "../support/peers";
import { SELF_HOSTED_ENV, UPLOAD_URL, UPLOADS_ON } from "../support/self-hosted";
import { startSession } from "./support-routes";

let peers: Peers;
let alice: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  alice = await mintToken({ sub: "alice" });
});
afterEach(() => vi.restoreAllMocks());

const BOUNDARY = "----chatkit-test";
const multipart = (content: string) =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n--${BOUNDARY}--\r\n`;

function upload(gate: Gate, secret: string | undefined, body: string, headers: Record<string, string> = {}) {
  const all: Record<string, string> = { "content-type": `multipart/form-data; boundary=${BOUNDARY}`, ...headers };
  if (secret !== undefined) all.authorization = `Bearer ${secret}`;
  return gate.fetch(new Request(`${BASE}/chatkit/upload`, { method: "POST", headers: all, body }));
}

describe("POST /chatkit/upload", () => {
  it("is 404 when CHATKIT_UPLOAD_URL is unset", async () => {
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...UPLOADS_ON, CHATKIT_UPLOAD_URL: "" } });
    const session = await startSession(gate, alice);

    expect(await errorOf(await upload(gate, session.client_secret, multipart("hi")))).toMatchObject({
      status: 404,
      code: "not_found",
    });
    expect(peers.serverCalls()).toEqual([]);
  });

  it("is 403 forbidden while uploads are off, whatever the secret", async () => {
    const gate = gateWith({ env: SELF_HOSTED_ENV });
    const session = await startSession(gate, alice);

    for (const secret of [session.client_secret, undefined]) {
      expect(await errorOf(await upload(gate, secret, multipart("hi")))).toMatchObject({
        status: 403,
        code: "forbidden",
      });
    }
    expect(peers.serverCalls()).toEqual([]);
  });

  it("needs an active session's secret when uploads are on", async () => {
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...UPLOADS_ON } });
    const session = await startSession(gate, alice);
    await gate.call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token: alice });

    for (const secret of [undefined, alice, session.client_secret]) {
      expect(await errorOf(await upload(gate, secret, multipart("hi")))).toMatchObject({
        status: 401,
        code: "invalid_token",
      });
    }
    expect(peers.serverCalls()).toEqual([]);
  });

  it("forwards the multipart bytes unchanged to CHATKIT_UPLOAD_URL with the assertion, and returns the answer", async () => {
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...UPLOADS_ON } });
    const session = await startSession(gate, alice);
    const body = multipart("hello ☃");
    peers.server = () => Response.json({ id: "atc_1", name: "a.txt" }, { status: 201 });

    const response = await upload(gate, session.client_secret, body, { cookie: "app=1" });

    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ id: "atc_1", name: "a.txt" });
    const [received, ...more] = peers.serverCalls();
    expect(more).toEqual([]);
    expect(received?.url).toBe(UPLOAD_URL);
    expect(new TextDecoder().decode(received?.bytes)).toBe(body);
    expect(Object.keys(received?.headers ?? {}).sort()).toEqual(["chatkit-gate-assertion", "content-type"]);
    expect(JSON.stringify(received?.headers)).not.toContain(session.client_secret);
  });

  it("is 413 over file_upload.max_file_size and 415 when not multipart, with nothing forwarded", async () => {
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...UPLOADS_ON } });
    const session = await startSession(gate, alice);
    const cap = 1024 * 1024 + MULTIPART_OVERHEAD_BYTES;

    const tooLarge = await upload(gate, session.client_secret, multipart("x".repeat(cap)), {
      "content-length": String(cap + 200),
    });
    const notMultipart = await upload(gate, session.client_secret, "{}", { "content-type": "application/json" });

    expect(await errorOf(tooLarge)).toMatchObject({ status: 413, code: "payload_too_large" });
    expect(await errorOf(notMultipart)).toMatchObject({ status: 415, code: "unsupported_media_type" });
    expect(peers.serverCalls()).toEqual([]);
  });
});
