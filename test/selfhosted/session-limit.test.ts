import { describe, expect, it } from "vitest";
import { GateError } from "../../src/http/errors";
import { SessionRequestLimit, sessionRequestLimit } from "../../src/selfhosted/session-limit";

const T = 1_800_000_000;

/** One request; the refusal as status, code and Retry-After, or "ok". */
function take(limiter: SessionRequestLimit, session: string, now: number) {
  try {
    limiter.take(session, now);
    return "ok";
  } catch (error) {
    if (!(error instanceof GateError)) throw error;
    return { status: error.status, code: error.code, retryAfter: error.headers["Retry-After"] };
  }
}

describe("Should allow SESSION_MAX_REQUESTS_PER_MINUTE requests per session and minute", () => {
  it("the limit, then 429 rate_limited with the seconds left in the window", () => {
    const limiter = new SessionRequestLimit(3);
    expect([T, T + 1, T + 2].map((now) => take(limiter, "cksess_a", now))).toEqual(["ok", "ok", "ok"]);
    expect(take(limiter, "cksess_a", T + 2)).toEqual({ status: 429, code: "rate_limited", retryAfter: "58" });
    expect(take(limiter, "cksess_a", T + 59)).toEqual({ status: 429, code: "rate_limited", retryAfter: "1" });
    expect(take(limiter, "cksess_a", T + 60)).toBe("ok");
  });

  it("refused requests do not count, so a client that waits as told gets a full window", () => {
    const limiter = new SessionRequestLimit(2);
    take(limiter, "cksess_a", T);
    take(limiter, "cksess_a", T);
    for (let i = 0; i < 10; i++) expect(take(limiter, "cksess_a", T + 30)).toMatchObject({ status: 429 });
    expect([0, 0, 0].map(() => take(limiter, "cksess_a", T + 60))).toEqual([
      "ok",
      "ok",
      { status: 429, code: "rate_limited", retryAfter: "60" },
    ]);
  });

  it("each session on its own", () => {
    const limiter = new SessionRequestLimit(1);
    expect(take(limiter, "cksess_a", T)).toBe("ok");
    expect(take(limiter, "cksess_b", T)).toBe("ok");
    expect(take(limiter, "cksess_a", T)).toMatchObject({ status: 429 });
  });

  it("bounded: past the bound the session idle longest is forgotten, never an active one", () => {
    const limiter = new SessionRequestLimit(1, 2);
    take(limiter, "cksess_a", T);
    take(limiter, "cksess_b", T + 1);
    expect(take(limiter, "cksess_a", T + 2)).toMatchObject({ status: 429 });
    take(limiter, "cksess_c", T + 3);
    // b was idle longest and is forgotten; a, just seen, is still limited.
    expect(take(limiter, "cksess_a", T + 4)).toMatchObject({ status: 429 });
    expect(take(limiter, "cksess_b", T + 4)).toBe("ok");
  });

  it("one limiter per isolate and limit", () => {
    expect(sessionRequestLimit(7)).toBe(sessionRequestLimit(7));
    expect(sessionRequestLimit(7)).not.toBe(sessionRequestLimit(8));
    expect(sessionRequestLimit(7).limit).toBe(7);
  });
});
