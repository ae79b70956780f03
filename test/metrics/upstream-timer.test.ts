import { describe, expect, it } from "vitest";
import { UpstreamTimer } from "../../src/metrics/upstream-timer";

describe("Should sum upstream time and calls for one request", () => {
  it("adds each call's time on the injected clock, also for a call that throws", async () => {
    let now = 1_000;
    const timer = new UpstreamTimer(() => now);

    const answer = await timer.time(async () => {
      now += 120;
      return "created";
    });
    await expect(
      timer.time(async () => {
        now += 30;
        throw new Error("timeout");
      }),
    ).rejects.toThrow("timeout");

    expect(answer).toBe("created");
    expect({ ms: timer.ms, calls: timer.calls }).toEqual({ ms: 150, calls: 2 });
  });

  it("starts at zero calls, so a request that never called upstream records none", () => {
    expect({ ms: new UpstreamTimer().ms, calls: new UpstreamTimer().calls }).toEqual({ ms: 0, calls: 0 });
  });
});
