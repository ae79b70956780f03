import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { gateWith } from "../support/app";
import { call, clearKv } from "../support/http";
import { mintToken, Peers } from "../support/peers";
import { validate } from "../support/schema";
import { SELF_HOSTED_ENV, UPLOADS_ON } from "../support/self-hosted";

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

  it("documents the 403 every /v1 route answers when ACCESS_POLICY is not met", () => {
    const v1 = Object.entries(doc.paths).filter(([path]) => path.startsWith("/v1/"));
    const operations = v1.flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => [
        `${method} ${path}`,
        Object.keys((op as { responses: object }).responses),
      ]),
    );
    expect(operations).toHaveLength(5);
    for (const [operation, statuses] of operations)
      expect([operation, statuses]).toEqual([operation, expect.arrayContaining(["403"])]);
  });

  it("documents every error code the worker can send", () => {
    const { error } = schema("Error").properties as { error: { properties: { code: { enum: string[] } } } };
    const codes = error.properties.code.enum;
    expect(codes).toEqual(
      expect.arrayContaining(["invalid_token", "session_not_found", "rate_limited", "upstream_timeout"]),
    );
  });
});

describe("GET /openapi.json documents what the configured mode serves", () => {
  const pathsOf = (document: Document) =>
    Object.fromEntries(Object.entries(document.paths).map(([path, ops]) => [path, Object.keys(ops)]));

  it("the list route's cursor parameter and its 400", () => {
    const list = doc.paths["/v1/chatkit/sessions"]?.get as {
      parameters: Array<{ name: string; in: string; schema: { pattern: string } }>;
      responses: Record<string, unknown>;
    };
    expect(list.parameters).toEqual([expect.objectContaining({ name: "cursor", in: "query" })]);
    expect(list.parameters[0]?.schema.pattern).toBe("^[A-Za-z0-9+/=_-]{1,1024}$");
    expect(Object.keys(list.responses)).toContain("400");
  });

  it("self-hosted: /chatkit, /chatkit/upload and the public keys, and no 202 on cancel", async () => {
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, ...UPLOADS_ON } });
    const document = (await (await gate.call("GET", "/openapi.json")).json()) as Document;

    expect(pathsOf(document)).toEqual({
      "/healthz": ["get"],
      "/v1/chatkit/sessions": ["post", "get"],
      "/v1/chatkit/sessions/{session_id}": ["get"],
      "/v1/chatkit/sessions/{session_id}/cancel": ["post"],
      "/v1/chatkit/sessions/cancel_all": ["post"],
      "/chatkit": ["post"],
      "/.well-known/jwks.json": ["get"],
      "/chatkit/upload": ["post"],
    });
    const cancel = document.paths["/v1/chatkit/sessions/{session_id}/cancel"]?.post as { responses: object };
    expect(Object.keys(cancel.responses)).not.toContain("202");
    // ACCESS_POLICY applies to every /v1 route in this mode too, and a block answers 403 on /chatkit and uploads.
    const statuses = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => [
        `${method} ${path}`,
        Object.keys((op as { responses: object }).responses),
      ]),
    );
    const refusable = statuses.filter(([operation]) => /^post \/chatkit|\/v1\//.test(operation as string));
    expect(refusable.map(([operation]) => operation)).toEqual([
      "post /v1/chatkit/sessions",
      "get /v1/chatkit/sessions",
      "get /v1/chatkit/sessions/{session_id}",
      "post /v1/chatkit/sessions/{session_id}/cancel",
      "post /v1/chatkit/sessions/cancel_all",
      "post /chatkit",
      "post /chatkit/upload",
    ]);
    for (const [operation, codes] of refusable)
      expect([operation, codes]).toEqual([operation, expect.arrayContaining(["403"])]);
    const jwks = await (await gate.call("GET", "/.well-known/jwks.json")).json();
    expect(validate(jwks, document.components.schemas.Jwks as Record<string, unknown>, document)).toEqual([]);
  });

  it("self-hosted without CHATKIT_UPLOAD_URL: no upload route", async () => {
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, CHATKIT_UPLOAD_URL: "" } });
    const document = (await (await gate.call("GET", "/openapi.json")).json()) as Document;

    expect(Object.keys(document.paths)).not.toContain("/chatkit/upload");
    expect(Object.keys(document.paths)).toContain("/chatkit");
  });
});
