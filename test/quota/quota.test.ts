import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ownerKeyFor } from "../../src/auth/identity";
import { CHATKIT_CLOCK_SKEW_SECONDS } from "../../src/chatkit/answers";
import { callWith, gateWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv, errorOf, kvEntries } from "../support/http";
import { mintToken, nowSeconds, Peers } from "../support/peers";
import { MODES as SHARED_MODES } from "../support/self-hosted";
import { countingQuotas, snapshot } from "./support";

let peers: Peers;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

const MODES = SHARED_MODES.map(({ mode, env }) => [mode, env] as const);
const LIFETIME = Number(TEST_ENV.SESSION_EXPIRES_AFTER_SECONDS);
const DAY = 86_400;

/** A fresh user (its own Durable Object), its token and its owner key. */
async function newUser(at = nowSeconds()) {
  const sub = `q-${crypto.randomUUID()}`;
  return {
    token: await mintToken({ sub, iat: at, exp: at + DAY }),
    ownerKey: await ownerKeyFor(`${TEST_ENV.AUTH_USER_PREFIX}${sub}`, { mode: "raw" }),
  };
}

const creates = (responses: Response[]) => responses.map((r) => r.status).sort();
const upstreamCreates = () => peers.upstreamCalls().filter((call) => call.url.endsWith("/chatkit/sessions"));

describe.each(MODES)(
  "Should bound sessions per user exactly with the USER_QUOTAS Durable Object (%s mode)",
  (mode, modeEnv) => {
    it("lets exactly 3 of 10 concurrent creates through SESSION_MAX_ACTIVE_PER_USER=3 and names the limit", async () => {
      const gate = gateWith({ env: { ...modeEnv, SESSION_MAX_ACTIVE_PER_USER: "3" } });
      const { token, ownerKey } = await newUser();
      const started = nowSeconds();

      const responses = await Promise.all(
        Array.from({ length: 10 }, () => gate.call("POST", "/v1/chatkit/sessions", { token })),
      );

      expect(creates(responses)).toEqual([201, 201, 201, ...Array(7).fill(429)]);
      for (const refused of responses.filter((r) => r.status === 429)) {
        const retryAfter = Number(refused.headers.get("retry-after"));
        expect(await errorOf(refused)).toEqual({
          status: 429,
          code: "rate_limited",
          message: "Active session limit reached: at most 3 sessions per user at once; end one first",
        });
        // Until the soonest of the three ends: at most its lifetime (plus ChatKit's skew for an uncommitted slot).
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(LIFETIME + CHATKIT_CLOCK_SKEW_SECONDS);
      }
      expect(await kvEntries()).toHaveLength(3);
      expect(upstreamCreates()).toHaveLength(mode === "hosted" ? 3 : 0);
      expect(await snapshot(ownerKey, started)).toEqual({ active: 3, startedToday: 3 });
    });

    it("lets exactly 3 of 10 concurrent creates through SESSION_DAILY_LIMIT_PER_USER=3, with Retry-After to UTC midnight", async () => {
      const now = nowSeconds();
      const gate = gateWith({ env: { ...modeEnv, SESSION_DAILY_LIMIT_PER_USER: "3" }, deps: { now: () => now } });
      const { token, ownerKey } = await newUser(now);

      const responses = await Promise.all(
        Array.from({ length: 10 }, () => gate.call("POST", "/v1/chatkit/sessions", { token })),
      );

      expect(creates(responses)).toEqual([201, 201, 201, ...Array(7).fill(429)]);
      const refused = responses.find((r) => r.status === 429) as Response;
      expect(refused.headers.get("retry-after")).toBe(String(DAY - (now % DAY)));
      expect(await errorOf(refused)).toMatchObject({
        code: "rate_limited",
        message: "Daily session limit reached: at most 3 sessions per user per UTC day",
      });
      expect(await kvEntries()).toHaveLength(3);
      expect(await snapshot(ownerKey, now)).toEqual({ active: 3, startedToday: 3 });
    });

    it("does not give a day's start back on cancel, and starts counting afresh the next UTC day", async () => {
      let now = nowSeconds();
      const gate = gateWith({ env: { ...modeEnv, SESSION_DAILY_LIMIT_PER_USER: "2" }, deps: { now: () => now } });
      const { token } = await newUser(now);

      const first = (await (await gate.call("POST", "/v1/chatkit/sessions", { token })).json()) as {
        session_id: string;
      };
      await gate.call("POST", `/v1/chatkit/sessions/${first.session_id}/cancel`, { token });
      const second = await gate.call("POST", "/v1/chatkit/sessions", { token });
      const third = await gate.call("POST", "/v1/chatkit/sessions", { token });
      // The next UTC day, however late in today the test runs.
      now = (Math.floor(now / DAY) + 1) * DAY + 60;
      // ChatKit's stand-in dates its sessions by the system clock, so that moves too.
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(now * 1000);
      const nextDay = await gate.call("POST", "/v1/chatkit/sessions", { token }).finally(() => vi.useRealTimers());

      expect([second.status, third.status, nextDay.status]).toEqual([201, 429, 201]);
    });

    it("frees an active slot on cancel, on cancel_all and at expires_at", async () => {
      let now = nowSeconds();
      const counting = countingQuotas();
      const gate = gateWith({
        env: { ...modeEnv, SESSION_MAX_ACTIVE_PER_USER: "2", USER_QUOTAS: counting.namespace },
        deps: { now: () => now },
      });
      const { token, ownerKey } = await newUser();
      const create = () => gate.call("POST", "/v1/chatkit/sessions", { token });

      const a = (await (await create()).json()) as { session_id: string };
      await create();
      const full = await create();
      counting.calls.length = 0;
      await gate.call("POST", `/v1/chatkit/sessions/${a.session_id}/cancel`, { token });
      const cancelCalls = [...counting.calls];
      const afterCancel = await create();
      counting.calls.length = 0;
      await gate.call("POST", "/v1/chatkit/sessions/cancel_all", { token });
      const cancelAllCalls = [...counting.calls];
      const activeAfterCancelAll = (await snapshot(ownerKey, now)).active;
      await create();
      await create();
      const fullAgain = await create();
      now += LIFETIME + 1;
      counting.calls.length = 0;
      const afterExpiry = await create();

      expect(full.status).toBe(429);
      expect(cancelCalls).toEqual(["release"]);
      expect(afterCancel.status).toBe(201);
      expect(cancelAllCalls).toEqual(["release"]);
      expect(activeAfterCancelAll).toBe(0);
      expect(fullAgain.status).toBe(429);
      expect(afterExpiry.status).toBe(201);
      // What a create costs: one call to take the slot, one to name it after the session.
      expect(counting.calls).toEqual(["acquire", "commit"]);
    });

    it("spends nothing on a body that is invalid, a policy refusal or a session KV could not record", async () => {
      const gate = gateWith({
        env: {
          ...modeEnv,
          SESSION_DAILY_LIMIT_PER_USER: "1",
          ACCESS_POLICY: JSON.stringify({ workflows: { support: { require: [{ claim: "plan", equals: "pro" }] } } }),
        },
      });
      const { token, ownerKey } = await newUser();
      const put = env.SESSIONS.put.bind(env.SESSIONS);
      const failing = vi.spyOn(env.SESSIONS, "put").mockImplementation(async (key, ...rest) => {
        if (String(key).startsWith("session:")) throw new Error("KV down");
        return put(key, ...rest);
      });

      const invalid = await gate.call("POST", "/v1/chatkit/sessions", { token, body: { workflow: "nope" } });
      const refused = await gate.call("POST", "/v1/chatkit/sessions", { token, body: { workflow: "support" } });
      const unrecorded = await gate.call("POST", "/v1/chatkit/sessions", { token });
      const counted = await snapshot(ownerKey, nowSeconds());
      failing.mockRestore();
      const works = await gate.call("POST", "/v1/chatkit/sessions", { token });

      expect([invalid.status, refused.status, unrecorded.status, works.status]).toEqual([400, 403, 503, 201]);
      expect(counted).toEqual({ active: 0, startedToday: 0 });
    });

    it("keeps a workflow's own limit on top of the per-user one", async () => {
      const gate = gateWith({
        env: {
          ...modeEnv,
          SESSION_MAX_ACTIVE_PER_USER: "3",
          SESSION_LIMITS_PER_WORKFLOW: JSON.stringify({ support: { max_active: 1 }, "@default": { daily: 5 } }),
        },
      });
      const { token } = await newUser();
      const support = () => gate.call("POST", "/v1/chatkit/sessions", { token, body: { workflow: "support" } });

      const first = await support();
      const second = await support();
      const byDefault = await gate.call("POST", "/v1/chatkit/sessions", { token });

      expect(first.status).toBe(201);
      expect(await errorOf(second)).toEqual({
        status: 429,
        code: "rate_limited",
        message: "Active session limit reached for workflow support: at most 1 per user at once; end one first",
      });
      expect(byDefault.status).toBe(201);
    });
  },
);

describe("Should keep hosted sessions whose cancel is unconfirmed counted until they expire", () => {
  it("counts a cancel_pending session as active: ChatKit may still honour its secret", async () => {
    let now = nowSeconds();
    const gate = gateWith({
      env: { SESSION_MAX_ACTIVE_PER_USER: "1" },
      deps: { now: () => now, sleep: async () => {} },
    });
    const { token } = await newUser();
    const created = (await (await gate.call("POST", "/v1/chatkit/sessions", { token })).json()) as {
      session_id: string;
    };
    peers.chatkit = (request) =>
      request.url.endsWith("/cancel") ? new Response("down", { status: 503 }) : peers.fakeChatKit(request);

    const pending = await gate.call("POST", `/v1/chatkit/sessions/${created.session_id}/cancel`, { token });
    const refused = await gate.call("POST", "/v1/chatkit/sessions", { token });
    peers.chatkit = undefined;
    now += LIFETIME + 1;
    const afterExpiry = await gate.call("POST", "/v1/chatkit/sessions", { token });

    expect(pending.status).toBe(202);
    expect(refused.status).toBe(429);
    expect(afterExpiry.status).toBe(201);
  });

  it("gives the slot and the day back when ChatKit fails the create", async () => {
    const gate = gateWith({ env: { SESSION_DAILY_LIMIT_PER_USER: "1", SESSION_MAX_ACTIVE_PER_USER: "1" } });
    const { token, ownerKey } = await newUser();
    peers.chatkit = () => new Response("boom", { status: 500 });

    const failed = await gate.call("POST", "/v1/chatkit/sessions", { token });
    const counted = await snapshot(ownerKey, nowSeconds());
    peers.chatkit = undefined;
    const works = await gate.call("POST", "/v1/chatkit/sessions", { token });

    expect(failed.status).toBe(502);
    expect(counted).toEqual({ active: 0, startedToday: 0 });
    expect(works.status).toBe(201);
  });
});

describe("Should refuse quota settings that cannot take effect as config_invalid", () => {
  it.each([
    [
      { SESSION_DAILY_LIMIT_PER_USER: "5", USER_QUOTAS: undefined },
      "SESSION_DAILY_LIMIT_PER_USER needs the USER_QUOTAS Durable Object binding",
    ],
    [
      { SESSION_MAX_ACTIVE_PER_USER: "2", USER_QUOTAS: undefined },
      "SESSION_MAX_ACTIVE_PER_USER needs the USER_QUOTAS Durable Object binding",
    ],
    [{ SESSION_MAX_ACTIVE_PER_USER: "0" }, "SESSION_MAX_ACTIVE_PER_USER must be a whole number from 1 to 10000"],
    [{ SESSION_DAILY_LIMIT_PER_USER: "ten" }, "SESSION_DAILY_LIMIT_PER_USER must be a whole number from 1 to 100000"],
    [
      { SESSION_LIMITS_PER_WORKFLOW: '{"research": {"daily": 1}}' },
      "SESSION_LIMITS_PER_WORKFLOW key #1 must be a CHATKIT_WORKFLOWS alias or @default",
    ],
    [
      { SESSION_LIMITS_PER_WORKFLOW: '{"support": {"daily": 0}}' },
      "SESSION_LIMITS_PER_WORKFLOW.support.daily must be a whole number",
    ],
    [
      { SESSION_LIMITS_PER_WORKFLOW: '{"support": {"hourly": 2}}' },
      "SESSION_LIMITS_PER_WORKFLOW.support must be an object with daily and/or max_active",
    ],
  ])("%j", async (settings, problem) => {
    const response = await callWith({ env: settings }, "POST", "/v1/chatkit/sessions", { token: await mintToken() });

    const error = await errorOf(response);
    expect(error).toMatchObject({ status: 503, code: "config_invalid" });
    expect(error.message).toContain(problem);
    expect(peers.upstreamCalls()).toEqual([]);
  });

  it("makes no quota call and no extra KV operation per create when no limit is set", async () => {
    const counting = countingQuotas();
    const get = vi.spyOn(env.SESSIONS, "get");
    const put = vi.spyOn(env.SESSIONS, "put");

    const response = await callWith({ env: { USER_QUOTAS: counting.namespace } }, "POST", "/v1/chatkit/sessions", {
      token: await mintToken({ sub: `q-${crypto.randomUUID()}` }),
    });

    expect(response.status).toBe(201);
    expect(counting.calls).toEqual([]);
    expect(put.mock.calls.filter(([key]) => !String(key).startsWith("jwks:"))).toHaveLength(1);
    // The one read is the block check every create makes (docs/operations.md), not a quota's.
    expect(get.mock.calls.filter(([key]) => !/^(jwks|block):/.test(String(key)))).toEqual([]);
  });
});
