import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CREATE_ROUTE, CREATED_STATUS } from "../../src/metrics/schema";
import { callWith } from "../support/app";
import { clearKv } from "../support/http";
import { mintToken, Peers } from "../support/peers";

beforeEach(async () => {
  await clearKv();
  new Peers().install();
});
afterEach(() => vi.restoreAllMocks());

/** The `request` log line's route and status: the same `c.req.routePath` the metric's route is made of. */
function requestLines(log: { mock: { calls: unknown[][] } }): { route: string; status: number }[] {
  return log.mock.calls
    .map(([line]) => JSON.parse(String(line)) as { event: string; route: string; status: number })
    .filter((line) => line.event === "request")
    .map(({ route, status }) => ({ route, status }));
}

describe("Should match the queries' create filter to the route the app reports", () => {
  it("reports a create as CREATE_ROUTE with CREATED_STATUS", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});

    const response = await callWith({}, "POST", "/v1/chatkit/sessions", { token: await mintToken({ sub: "alice" }) });

    expect(response.status).toBe(Number(CREATED_STATUS));
    expect(requestLines(log).map(({ route }) => `POST ${route}`)).toEqual([CREATE_ROUTE]);
  });
});
