import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { call, clearKv, kvEntries } from "../support/http";
import { mintToken, Peers } from "../support/peers";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

describe("smoke", () => {
  it("creates", async () => {
    const token = await mintToken();
    const res = await call("POST", "/v1/chatkit/sessions", { token });
    console.log(
      res.status,
      await res.text(),
      JSON.stringify(peers.calls.map((c) => c.url)),
      JSON.stringify(await kvEntries()),
    );
    expect(res.status).toBe(201);
  });
});
