import { createLocalJWKSet, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { GateError } from "../../src/http/errors";
import { ASSERTION_HEADER, signAssertion } from "../../src/selfhosted/assertion";
import { forward } from "../../src/selfhosted/proxy";
import { readChatKitRequest } from "../../src/selfhosted/request";
import { keyringFor, publicJwks } from "../../src/selfhosted/signing-keys";
import { bytesOf, FakeServer, type Received, SERVER_URL, selfHosted } from "./support";

const config = selfHosted();
const keyring = await keyringFor(config.signingKeys);
const TIMEOUT_MS = 50;

/** Everything a browser might send; only three of these headers may reach the server. */
const BROWSER_HEADERS = {
  authorization: "Bearer client-secret-SECRET-value",
  cookie: "session=COOKIE-value",
  origin: "https://app.example.com",
  referer: "https://app.example.com/chat",
  "user-agent": "Mozilla/5.0",
  "chatkit-frame-instance-id": "frame-1",
  "x-forwarded-for": "203.0.113.9",
  "content-type": "application/json",
  accept: "text/event-stream",
  "accept-language": "de-CH,de;q=0.9",
};

function browserRequest(body: Uint8Array, init: { signal?: AbortSignal } = {}): Request {
  return new Request("https://gate.example.com/chatkit", {
    method: "POST",
    headers: BROWSER_HEADERS,
    body,
    signal: init.signal,
  });
}

const assertion = () =>
  signAssertion(
    keyring,
    {
      requestUrl: "https://gate.example.com/chatkit",
      audience: config.assertionAudience,
      user: "idp|alice",
      sessionId: "cksess_alice",
    },
    Math.floor(Date.now() / 1000),
  );

/** What the gate does for one checked request, with the server injected. */
async function proxied(request: Request, server: FakeServer, timeoutMs = TIMEOUT_MS): Promise<Response> {
  const { bytes } = await readChatKitRequest(request, { maxBytes: 1024 * 1024, uploadsEnabled: false });
  return forward(
    { request, body: bytes, assertion: await assertion() },
    { url: SERVER_URL, timeoutMs, fetch: server.fetch },
  );
}

/** A server stream the test writes to event by event. */
function controlledStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return { stream, controller };
}

const event = (data: object) => bytesOf(`data: ${JSON.stringify(data)}\n\n`);
const decoder = new TextDecoder();

describe("Should forward the exact request, and nothing of the client's credentials", () => {
  it("the body bytes unchanged, three headers kept, the assertion added", async () => {
    const server = new FakeServer();
    const bytes = bytesOf('{ "type":"threads.list",\n "params": {"limit": 5, "order": "desc"} , "metadata":{"é":1}}');
    await proxied(browserRequest(bytes), server);

    expect(server.received).toHaveLength(1);
    const [received] = server.received as [Received];
    expect(received.url).toBe(SERVER_URL);
    expect(received.method).toBe("POST");
    expect(received.redirect).toBe("manual");
    expect(received.body).toEqual(bytes);
    expect(Object.keys(received.headers).sort()).toEqual(
      ["accept", "accept-language", "chatkit-gate-assertion", "content-type"].sort(),
    );
    expect(received.headers).toMatchObject({
      "content-type": "application/json",
      accept: "text/event-stream",
      "accept-language": "de-CH,de;q=0.9",
    });
    const everything = JSON.stringify(received.headers) + decoder.decode(received.body);
    for (const secret of ["client-secret-SECRET-value", "COOKIE-value", "203.0.113.9"]) {
      expect(everything).not.toContain(secret);
    }
  });

  it("an assertion the server verifies with the published keys", async () => {
    const server = new FakeServer();
    await proxied(browserRequest(bytesOf('{"type":"threads.list","params":{}}')), server);
    const token = server.received[0]?.headers[ASSERTION_HEADER.toLowerCase()] as string;
    const { payload } = await jwtVerify(token, createLocalJWKSet(publicJwks(config.signingKeys)), {
      algorithms: ["ES256"],
      issuer: "https://gate.example.com",
      audience: "https://chat.example.com",
    });
    expect(payload).toMatchObject({ sub: "idp|alice", sid: "cksess_alice" });
  });

  it("only the headers the client sent", async () => {
    const server = new FakeServer();
    const request = new Request("https://gate.example.com/chatkit", {
      method: "POST",
      body: '{"type":"threads.list"}',
    });
    await proxied(request, server);
    expect(Object.keys(server.received[0]?.headers ?? {}).sort()).toEqual(["chatkit-gate-assertion", "content-type"]);
    // A string body gets text/plain from the platform; the gate passes the client's type as it is.
    expect(server.received[0]?.headers["content-type"]).toBe("text/plain;charset=UTF-8");
  });
});

describe("Should return the server's answer unchanged", () => {
  it.each([
    [200, "application/json", '{"data":[],"has_more":false,"after":null}'],
    [404, "application/json; charset=utf-8", '{"detail":"Not Found"}'],
    [500, "text/plain", "Internal Server Error"],
    [401, "application/json", '{"error":"bad assertion"}'],
  ])("status %s, content-type and body, and no other header of the server", async (status, type, body) => {
    const server = new FakeServer(
      () =>
        new Response(body, {
          status,
          headers: {
            "content-type": type,
            "set-cookie": "server=1",
            "x-powered-by": "uvicorn",
            "www-authenticate": "x",
          },
        }),
    );
    const response = await proxied(browserRequest(bytesOf('{"type":"threads.list"}')), server);
    expect(response.status).toBe(status);
    expect(Object.fromEntries(response.headers)).toEqual({ "content-type": type });
    expect(await response.text()).toBe(body);
  });

  it("a body without content-type, without inventing one", async () => {
    const server = new FakeServer(() => new Response(null, { status: 204 }));
    const response = await proxied(browserRequest(bytesOf('{"type":"threads.delete"}')), server);
    expect(response.status).toBe(204);
    expect(response.headers.get("content-type")).toBeNull();
  });

  it("a redirect, returned rather than followed with the assertion", async () => {
    const server = new FakeServer(
      () => new Response(null, { status: 307, headers: { location: "https://evil.example/" } }),
    );
    const response = await proxied(browserRequest(bytesOf('{"type":"threads.list"}')), server);
    expect(response.status).toBe(307);
    expect(response.headers.get("location")).toBeNull();
    expect(server.received).toHaveLength(1);
  });
});

describe("Should stream events through as the server sends them", () => {
  it("the first event reaches the client before the server has finished", async () => {
    const { stream, controller } = controlledStream();
    let serverFinished = false;
    const server = new FakeServer(() => new Response(stream, { headers: { "content-type": "text/event-stream" } }));
    const response = await proxied(browserRequest(bytesOf('{"type":"threads.create","params":{}}')), server);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();

    controller.enqueue(event({ type: "thread.created", thread: { id: "thr_1" } }));
    const first = await reader.read();
    expect(serverFinished).toBe(false);
    expect(decoder.decode(first.value)).toBe('data: {"type":"thread.created","thread":{"id":"thr_1"}}\n\n');

    controller.enqueue(event({ type: "thread.item.done" }));
    serverFinished = true;
    controller.close();
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += decoder.decode(chunk.value);
    expect(rest).toBe('data: {"type":"thread.item.done"}\n\n');
  });

  it("a stream may outlast the upstream timeout once its headers arrived", async () => {
    const { stream, controller } = controlledStream();
    const server = new FakeServer(() => new Response(stream, { headers: { "content-type": "text/event-stream" } }));
    const response = await proxied(browserRequest(bytesOf('{"type":"threads.add_user_message"}')), server, 10);
    await new Promise((resolve) => setTimeout(resolve, 60));
    controller.enqueue(event({ type: "notice", message: "late" }));
    controller.close();
    expect(await response.text()).toBe('data: {"type":"notice","message":"late"}\n\n');
    expect(server.received[0]?.signal.aborted).toBe(false);
  });
});

describe("Should pass the Stop button on to the server", () => {
  it("an abort while the server is working aborts its request", async () => {
    const browser = new AbortController();
    let serverSignal: AbortSignal | undefined;
    const server = new FakeServer(
      (received) =>
        new Promise<Response>((_resolve, reject) => {
          serverSignal = received.signal;
          received.signal.addEventListener("abort", () => reject(received.signal.reason));
          browser.abort();
        }),
    );
    const failure = await proxied(
      browserRequest(bytesOf('{"type":"threads.create"}'), { signal: browser.signal }),
      server,
    ).catch((e) => e);
    expect(serverSignal?.aborted).toBe(true);
    expect(failure).toBeInstanceOf(GateError);
    expect(failure).toMatchObject({ code: "invalid_request", status: 400 });
  });

  it("an abort during the stream aborts the server's request", async () => {
    const browser = new AbortController();
    const { stream, controller } = controlledStream();
    const server = new FakeServer((received) => {
      received.signal.addEventListener("abort", () => controller.error(received.signal.reason));
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    });
    const response = await proxied(
      browserRequest(bytesOf('{"type":"threads.create"}'), { signal: browser.signal }),
      server,
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    controller.enqueue(event({ type: "thread.created" }));
    await reader.read();

    browser.abort();
    expect(server.received[0]?.signal.aborted).toBe(true);
    await expect(reader.read()).rejects.toBeDefined();
  });

  it("a client already gone never reaches the server", async () => {
    const browser = new AbortController();
    const request = browserRequest(bytesOf('{"type":"threads.create"}'), { signal: browser.signal });
    browser.abort();
    const calls: unknown[] = [];
    const failure = await forward(
      { request, body: bytesOf("{}"), assertion: "a" },
      {
        url: SERVER_URL,
        timeoutMs: TIMEOUT_MS,
        fetch: (async (_input: RequestInfo | URL, init?: RequestInit) => {
          calls.push(init?.signal?.aborted);
          throw init?.signal?.reason;
        }) as typeof fetch,
      },
    ).catch((e) => e);
    expect(calls).toEqual([true]);
    expect(failure).toMatchObject({ code: "invalid_request" });
  });
});

describe("Should map a server that fails before answering", () => {
  it("502 upstream_error when it cannot be reached", async () => {
    const server = new FakeServer(() => {
      throw new TypeError("Network connection lost.");
    });
    const failure = await proxied(browserRequest(bytesOf('{"type":"threads.list"}')), server).catch((e) => e);
    expect(failure).toBeInstanceOf(GateError);
    expect(failure).toMatchObject({ status: 502, code: "upstream_error" });
  });

  it("504 upstream_timeout when no headers arrive in time, and the server's request is aborted", async () => {
    const server = new FakeServer(
      (received) =>
        new Promise<Response>((_resolve, reject) => {
          received.signal.addEventListener("abort", () => reject(received.signal.reason));
        }),
    );
    const failure = await proxied(browserRequest(bytesOf('{"type":"threads.create"}')), server, 10).catch((e) => e);
    expect(failure).toBeInstanceOf(GateError);
    expect(failure).toMatchObject({ status: 504, code: "upstream_timeout" });
    expect(server.received[0]?.signal.aborted).toBe(true);
  });
});
