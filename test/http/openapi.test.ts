import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { call, clearKv } from "../support/http";
import { mintToken, Peers } from "../support/peers";
import { validate } from "../support/schema";

type Document = Record<string, unknown> & {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};

let peers: Peers;
let token: string;
let doc: Document;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  token = await mintToken();
  doc = (await (await call("GET", "/openapi.json")).json()) as Document;
});
afterEach(() => vi.restoreAllMocks());

const schema = (name: string) => doc.components.schemas[name] as Record<string, unknown>;

describe("GET /openapi.json", () => {
  it("describes every route, without a token", async () => {
    const response = await call("GET", "/openapi.json");

    expect(response.status).toBe(200);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.fromEntries(Object.entries(doc.paths).map(([path, ops]) => [path, Object.keys(ops)]))).toEqual({
      "/healthz": ["get"],
      "/v1/chatkit/sessions": ["post", "get"],
      "/v1/chatkit/sessions/{session_id}": ["get"],
      "/v1/chatkit/sessions/{session_id}/cancel": ["post"],
      "/v1/chatkit/sessions/cancel_all": ["post"],
    });
    expect(peers.calls).toEqual([]);
  });

  it("publishes the create schema the worker validates with, for this configuration", () => {
    expect(schema("CreateSessionRequest")).toEqual({
      type: "object",
      additionalProperties: false,
      properties: {
        workflow: { type: "string", enum: ["support", "sales"], description: expect.any(String) },
        state_variables: {
          type: "object",
          additionalProperties: false,
          properties: {
            locale: { type: ["string", "number", "boolean"], maxLength: 4096 },
            theme: { type: ["string", "number", "boolean"], maxLength: 4096 },
          },
          description: expect.any(String),
        },
      },
    });
  });

  it("describes what the worker really answers", async () => {
    const created = await call("POST", "/v1/chatkit/sessions", { token, body: { workflow: "sales" } });
    const session = (await created.clone().json()) as { session_id: string };
    const answers: Array<[string, Response]> = [
      ["CreatedSession", created],
      ["Session", await call("GET", `/v1/chatkit/sessions/${session.session_id}`, { token })],
      ["SessionList", await call("GET", "/v1/chatkit/sessions", { token })],
      ["Session", await call("POST", `/v1/chatkit/sessions/${session.session_id}/cancel`, { token })],
      ["CancelAll", await call("POST", "/v1/chatkit/sessions/cancel_all", { token })],
      ["Error", await call("GET", "/v1/chatkit/sessions")],
      ["Error", await call("POST", "/v1/chatkit/sessions", { token, body: { workflow: "nope" } })],
    ];

    for (const [name, response] of answers) {
      expect([name, validate(await response.json(), schema(name), doc)]).toEqual([name, []]);
    }
  });

  it("documents every error code the worker can send", () => {
    const { error } = schema("Error").properties as { error: { properties: { code: { enum: string[] } } } };
    const codes = error.properties.code.enum;
    expect(codes).toEqual(
      expect.arrayContaining(["invalid_token", "session_not_found", "rate_limited", "upstream_timeout"]),
    );
  });
});
