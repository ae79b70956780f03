import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callWith } from "../support/app";
import { call, clearKv, errorOf, kvEntries } from "../support/http";
import { mintToken, Peers } from "../support/peers";

let peers: Peers;
let token: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  token = await mintToken();
});
afterEach(() => vi.restoreAllMocks());

const openaiError = (status: number, headers: Record<string, string> = {}) =>
  Response.json(
    { error: { message: "upstream says no", type: "invalid_request_error", param: null, code: null } },
    { status, headers: { "x-request-id": "req_upstream_fault", ...headers } },
  );

/** What ChatKit answers, and the error the caller must get for it. */
const faults: Array<[string, () => Response | Promise<Response>, number, string]> = [
  ["500", () => openaiError(500), 502, "upstream_error"],
  ["502", () => new Response("<html>bad gateway</html>", { status: 502 }), 502, "upstream_error"],
  ["503", () => openaiError(503), 502, "upstream_error"],
  ["400 (our request refused)", () => openaiError(400), 502, "upstream_error"],
  ["401 (our key refused)", () => openaiError(401), 502, "upstream_error"],
  ["403 (our key lacks access)", () => openaiError(403), 502, "upstream_error"],
  ["404 (unknown workflow)", () => openaiError(404), 502, "upstream_error"],
  ["429 with Retry-After", () => openaiError(429, { "retry-after": "17" }), 429, "rate_limited"],
  ["200 with garbage", () => new Response("{not json", { status: 200 }), 502, "upstream_error"],
  ["200 with JSON of the wrong shape", () => Response.json({ id: "nope" }), 502, "upstream_error"],
  [
    "200 with an id that is not cksess_",
    () => Response.json({ id: "../../x", client_secret: "s", expires_at: 1, status: "active" }),
    502,
    "upstream_error",
  ],
  ["200 with an oversized body", () => new Response(`{"pad":"${"x".repeat(70 * 1024)}"}`), 502, "upstream_error"],
  [
    "a connection reset",
    () => {
      throw new TypeError("Network connection lost.");
    },
    502,
    "upstream_error",
  ],
];

describe("Should map every ChatKit failure on create to the contract and store nothing", () => {
  it.each(faults)("ChatKit answers %s", async (_name, answer, status, code) => {
    peers.chatkit = answer;

    const response = await call("POST", "/v1/chatkit/sessions", { token });

    expect(await errorOf(response)).toMatchObject({ status, code });
    expect(peers.upstreamCalls()).toHaveLength(1);
    expect(await kvEntries()).toEqual([]);
  });

  it("passes on Retry-After from a 429, and never an upstream 401 as the caller's 401", async () => {
    peers.chatkit = () => openaiError(429, { "retry-after": "17" });
    const limited = await call("POST", "/v1/chatkit/sessions", { token });
    peers.chatkit = () => openaiError(401);
    const refused = await call("POST", "/v1/chatkit/sessions", { token });

    expect(limited.headers.get("retry-after")).toBe("17");
    expect(refused.status).toBe(502);
    expect(refused.headers.get("www-authenticate")).toBeNull();
  });

  it("drops a Retry-After that is not a delay or a date", async () => {
    peers.chatkit = () => openaiError(429, { "retry-after": "soon\r\nx-evil: 1".replace("\r\n", " ") });

    const response = await call("POST", "/v1/chatkit/sessions", { token });

    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBeNull();
  });

  it("answers 504 upstream_timeout when ChatKit does not answer within the timeout", async () => {
    peers.chatkit = () => new Promise<Response>(() => {});

    const response = await callWith({ deps: { upstreamTimeoutMs: 50 } }, "POST", "/v1/chatkit/sessions", { token });

    expect(await errorOf(response)).toMatchObject({ status: 504, code: "upstream_timeout" });
    expect(await kvEntries()).toEqual([]);
  });

  it("withdraws the upstream session and answers 503 when KV cannot record it", async () => {
    const { env } = await import("cloudflare:test");
    const put = vi.spyOn(env.SESSIONS, "put").mockRejectedValue(new Error("KV PUT failed: 500"));

    // Takes one real second: the store retries once after KV's per-key write interval.
    const response = await callWith({}, "POST", "/v1/chatkit/sessions", { token });

    expect(await errorOf(response)).toMatchObject({ status: 503, code: "storage_unavailable" });
    expect(put).toHaveBeenCalledTimes(2);
    expect(peers.upstreamCalls().map((c) => c.url.split("/").at(-1))).toEqual(["sessions", "cancel"]);
  });
});
