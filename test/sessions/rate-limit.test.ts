import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CREATE_LIMIT_RETRY_AFTER_SECONDS } from "../../src/sessions/routes";
import { callWith } from "../support/app";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { mintToken, Peers } from "../support/peers";
import { MODES } from "../support/self-hosted";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

describe.each(MODES)("Should limit session creation per user with the rate limiting binding ($mode mode)", (mode) => {
  // STRICT_LIMITER is a real workerd rate limiter of 3 per 60 s (vitest.config.ts); each test uses fresh users.
  const strict = {
    env: { ...mode.env, CREATE_LIMITER: (env as unknown as { STRICT_LIMITER: RateLimit }).STRICT_LIMITER },
  };

  it("refuses the fourth create in a minute with 429 and Retry-After, before calling ChatKit", async () => {
    const carol = await mintToken({ sub: `carol-${crypto.randomUUID()}` });
    const dave = await mintToken({ sub: `dave-${crypto.randomUUID()}` });

    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await callWith(strict, "POST", "/v1/chatkit/sessions", { token: carol })).status);
    const limited = await callWith(strict, "POST", "/v1/chatkit/sessions", { token: carol });
    const other = await callWith(strict, "POST", "/v1/chatkit/sessions", { token: dave });

    expect(statuses).toEqual([201, 201, 201]);
    expect(await errorOf(limited)).toMatchObject({ status: 429, code: "rate_limited" });
    expect(limited.headers.get("retry-after")).toBe(String(CREATE_LIMIT_RETRY_AFTER_SECONDS));
    expect(other.status).toBe(201);
    expect(peers.upstreamCalls()).toHaveLength(4 * mode.calls.create);
    expect(peers.serverCalls()).toEqual([]);
    expect(await kvEntries()).toHaveLength(4);
  });

  it("validates the body before spending the limit: three invalid bodies cost no create", async () => {
    const frank = await mintToken({ sub: `frank-${crypto.randomUUID()}` });

    const statuses: number[] = [];
    for (const body of [{ workflow: "nope" }, "{", { user: "bob" }])
      statuses.push((await callWith(strict, "POST", "/v1/chatkit/sessions", { token: frank, body })).status);
    for (let i = 0; i < 3; i++)
      statuses.push((await callWith(strict, "POST", "/v1/chatkit/sessions", { token: frank })).status);
    const limited = await callWith(strict, "POST", "/v1/chatkit/sessions", { token: frank });

    expect(statuses).toEqual([400, 400, 400, 201, 201, 201]);
    expect(await errorOf(limited)).toMatchObject({ status: 429, code: "rate_limited" });
    expect(peers.upstreamCalls()).toHaveLength(3 * mode.calls.create);
    expect(peers.serverCalls()).toEqual([]);
    expect(await kvEntries()).toHaveLength(3);
  });

  it("keys the limit by the mapped user, not by token", async () => {
    const calls: unknown[] = [];
    const spy = {
      limit: async (options: { key: string }) => {
        calls.push(options);
        return { success: true };
      },
    };

    await callWith({ env: { ...mode.env, CREATE_LIMITER: spy } }, "POST", "/v1/chatkit/sessions", {
      token: await mintToken(),
    });

    const [owner] = (await kvEntries()).map((e) => e.name.split(":")[1]);
    expect(calls).toEqual([{ key: owner }]);
  });

  it("applies no limit when the binding is absent", async () => {
    const token = await mintToken({ sub: `erin-${crypto.randomUUID()}` });
    const unbound = { env: { ...mode.env, CREATE_LIMITER: undefined } };

    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await callWith(unbound, "POST", "/v1/chatkit/sessions", { token })).status);

    expect(statuses).toEqual([201, 201, 201, 201, 201]);
    expect(peers.upstreamCalls()).toHaveLength(5 * mode.calls.create);
    expect(await kvEntries()).toHaveLength(5);
  });
});
