import { SELF } from "cloudflare:test";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_BODY_BYTES } from "../../src/http/body";
import { MAX_STATE_VALUE_LENGTH } from "../../src/sessions/schemas";
import { TEST_ENV } from "../support/env";
import { BASE } from "../support/http";
import { mintToken, Peers } from "../support/peers";

/** Runs per property; each run is a real request through workerd. */
const RUNS = 150;

let peers: Peers;
let token: string;
beforeEach(async () => {
  peers = new Peers().install();
  token = await mintToken();
});
afterEach(() => vi.restoreAllMocks());

const json = fc.jsonValue({ maxDepth: 3 });
const documented = new Set([200, 201, 204, 400, 401, 404, 413, 415]);

async function expectHandled(response: Response): Promise<void> {
  expect(response.status).toBeLessThan(500);
  expect(documented).toContain(response.status);
  if (response.status >= 400) {
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(typeof body.error.code).toBe("string");
    expect(typeof body.error.message).toBe("string");
  } else {
    await response.arrayBuffer();
  }
}

describe("Should never fail with a 5xx or an uncaught exception", () => {
  it("on random create bodies", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          json.map((v) => JSON.stringify(v)),
          fc
            .record({
              workflow: fc.oneof(fc.string(), json),
              state_variables: fc.oneof(fc.dictionary(fc.string(), json), json),
            })
            .map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 200 }),
          fc.uint8Array({ maxLength: 200 }),
        ),
        async (body) => {
          const response = await SELF.fetch(`${BASE}/v1/chatkit/sessions`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body,
          });
          await expectHandled(response);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("on random session ids", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.constantFrom("GET", "POST"),
        async (id, method) => {
          const path = `/v1/chatkit/sessions/${encodeURIComponent(id)}${method === "POST" ? "/cancel" : ""}`;
          const response = await SELF.fetch(`${BASE}${path}`, {
            method,
            headers: { authorization: `Bearer ${token}` },
          });
          await expectHandled(response);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("on random tokens and Authorization headers", async () => {
    const segment = fc
      .base64String({ maxLength: 80 })
      .map((s) => s.replace(/\+/g, "-").replace(/\//g, "_").replace(/=/g, ""));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }).map((s) => `Bearer ${s}`),
          fc.tuple(segment, segment, segment).map((parts) => `Bearer ${parts.join(".")}`),
          fc.tuple(json, json).map(([h, p]) => `Bearer ${btoa(JSON.stringify(h))}.${btoa(JSON.stringify(p))}.sig`),
          fc.string({ maxLength: 100 }),
        ),
        async (authorization) => {
          let headers: Headers;
          try {
            headers = new Headers({ authorization });
          } catch {
            return; // Not a legal header value: no client could send it.
          }
          const response = await SELF.fetch(`${BASE}/v1/chatkit/sessions`, { headers });
          await expectHandled(response);
        },
      ),
      { numRuns: RUNS },
    );
    expect(peers.upstreamCalls()).toEqual([]);
  });

  it("on random headers around a valid token", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(
          fc.constantFrom("content-type", "content-length", "origin", "accept", "x-forwarded-for"),
          fc.string({ maxLength: 60 }),
        ),
        async (extra) => {
          let headers: Headers;
          try {
            headers = new Headers({ ...extra, authorization: `Bearer ${token}` });
          } catch {
            return;
          }
          if (headers.has("content-length")) headers.delete("content-length");
          const response = await SELF.fetch(`${BASE}/v1/chatkit/sessions`, { method: "POST", headers, body: "{}" });
          await expectHandled(response);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("Should accept a state variable only by its own allowed name and a usable value", () => {
  it("accepts exactly the allowed names with usable values, and sends exactly those to ChatKit", async () => {
    const allowed = TEST_ENV.CHATKIT_CLIENT_STATE_VARIABLES.split(",");
    // Names a client may try: the allowed ones, every Object.prototype member and a few others.
    const name = fc.constantFrom(...allowed, ...Object.getOwnPropertyNames(Object.prototype), "prototype", "plan", "");
    // Values as JSON text, so 1e999 reaches JSON.parse the way a client would send it.
    const value = fc.oneof(
      json.map((v) => JSON.stringify(v)),
      fc.constantFrom("1e999", "-1e999", "1.7976931348623157e308"),
      fc
        .integer({ min: MAX_STATE_VALUE_LENGTH - 2, max: MAX_STATE_VALUE_LENGTH + 2 })
        .map((n) => JSON.stringify("x".repeat(n))),
    );
    const usable = (v: unknown) =>
      (typeof v === "string" && v.length <= MAX_STATE_VALUE_LENGTH) ||
      typeof v === "boolean" ||
      (typeof v === "number" && Number.isFinite(v));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 4 }),
        async (entries) => {
          peers.calls.length = 0;
          const body = `{"state_variables":{${entries.map(([n, v]) => `${JSON.stringify(n)}:${v}`).join(",")}}}`;
          const sent = entries.map(([n, v]): [string, unknown] => [n, JSON.parse(v)]);
          const valid = sent.every(([n, v]) => allowed.includes(n) && usable(v));

          const response = await SELF.fetch(`${BASE}/v1/chatkit/sessions`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body,
          });

          // Four values near the 4,096-character cap can pass the 16 KiB body limit before any name is read.
          if (new TextEncoder().encode(body).byteLength > MAX_BODY_BYTES) {
            expect(response.status).toBe(413);
            expect(((await response.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
            expect(peers.upstreamCalls()).toEqual([]);
          } else if (valid) {
            expect(response.status).toBe(201);
            await response.arrayBuffer();
            const [call, ...others] = peers.upstreamCalls();
            expect(call).toBeDefined();
            expect(others).toEqual([]);
            const state = (call?.body as { workflow?: { state_variables?: unknown } } | undefined)?.workflow
              ?.state_variables;
            expect(state).toEqual(sent.length > 0 ? Object.fromEntries(sent) : undefined);
          } else {
            expect(response.status).toBe(400);
            expect(((await response.json()) as { error: { code: string } }).error.code).toBe("invalid_request");
            expect(peers.upstreamCalls()).toEqual([]);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
