import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callWith } from "../support/app";
import { call, clearKv } from "../support/http";
import { mintToken, Peers } from "../support/peers";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

const preflight = (origin: string) => ({
  headers: {
    origin,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization,content-type",
  },
});

describe("Should allow a configured origin", () => {
  it("answers the preflight with 204 and the allowed headers", async () => {
    const response = await call("OPTIONS", "/v1/chatkit/sessions", preflight("https://app.example.com"));

    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(response.headers.get("access-control-allow-headers")?.split(",")).toEqual(
      expect.arrayContaining(["authorization", "content-type"]),
    );
    expect(response.headers.get("access-control-allow-methods")?.split(",")).toEqual(
      expect.arrayContaining(["GET", "POST"]),
    );
    expect(response.headers.get("vary")).toContain("Origin");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
    expect(peers.calls).toEqual([]);
  });

  it("labels real responses, errors included, so the SPA can read them", async () => {
    const ok = await call("POST", "/v1/chatkit/sessions", {
      token: await mintToken(),
      headers: { origin: "http://localhost:5173" },
    });
    const refused = await call("GET", "/v1/chatkit/sessions", { headers: { origin: "http://localhost:5173" } });

    for (const response of [ok, refused]) {
      expect(response.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
      expect(response.headers.get("vary")).toContain("Origin");
      expect(response.headers.get("access-control-expose-headers")).toContain("retry-after");
    }
    expect([ok.status, refused.status]).toEqual([201, 401]);
  });
});

describe("Should not allow other origins", () => {
  it.each([
    ["an unknown origin", "https://evil.example"],
    ["a subdomain of an allowed origin", "https://x.app.example.com"],
    ["the allowed host over http", "http://app.example.com"],
    ["another port", "https://app.example.com:8443"],
    ["null", "null"],
  ])("%s gets no Access-Control-Allow-Origin", async (_name, origin) => {
    const response = await call("OPTIONS", "/v1/chatkit/sessions", preflight(origin));

    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(peers.calls).toEqual([]);
  });

  it("allows no origin at all when ALLOWED_ORIGINS is empty", async () => {
    const response = await callWith(
      { env: { ALLOWED_ORIGINS: "" } },
      "OPTIONS",
      "/v1/chatkit/sessions",
      preflight("https://app.example.com"),
    );

    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});
