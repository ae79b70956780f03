import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CREATE_ROUTE, CREATED_STATUS } from "../../src/metrics/schema";
import { UpstreamTimer } from "../../src/metrics/upstream-timer";
import { chatkitCall, startSession } from "../selfhosted/support-routes";
import { callWith, type Gate, gateWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv, kvEntries } from "../support/http";
import { ISSUER, mintToken, Peers } from "../support/peers";
import { SELF_HOSTED_ENV } from "../support/self-hosted";
import { manualClock, stubDataset } from "./support";

let peers: Peers;
let alice: string;
beforeEach(async () => {
  await clearKv();
  peers = new Peers().install();
  alice = await mintToken({ sub: "alice" });
});
afterEach(() => vi.restoreAllMocks());

/** The `request` log line's route and status: the same route the metric's `blob1` is made of. */
function requestLines(log: { mock: { calls: unknown[][] } }): { route: string; status: number }[] {
  return log.mock.calls
    .map(([line]) => JSON.parse(String(line)) as { event: string; route: string; status: number })
    .filter((line) => line.event === "request")
    .map(({ route, status }) => ({ route, status }));
}

/** The owner key of the one session in KV: the `<ownerKey>` of `session:<ownerKey>:<id>`. */
async function ownerKeyInKv(): Promise<string> {
  const [entry, ...rest] = await kvEntries();
  expect(rest).toEqual([]);
  return (entry?.name ?? "").split(":")[1] as string;
}

/** A data point as the gate writes it, blobs and doubles in METRIC_COLUMNS order. */
function point(
  blobs: [route: string, status: string, code: string, provider: string, alias: string, mode: string],
  doubles: [durationMs: number, upstreamMs: number, upstreamCalls: number],
  owner = "",
): AnalyticsEngineDataPoint {
  return { blobs, doubles, indexes: [owner] };
}

describe("Should match the queries' create filter to the route the app reports", () => {
  it("reports a create as CREATE_ROUTE with CREATED_STATUS", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});

    const response = await callWith({}, "POST", "/v1/chatkit/sessions", { token: alice });

    expect(response.status).toBe(Number(CREATED_STATUS));
    expect(requestLines(log).map(({ route }) => `POST ${route}`)).toEqual([CREATE_ROUTE]);
  });
});

describe("Should write exactly one data point per request in hosted mode", () => {
  let gate: Gate;
  let points: AnalyticsEngineDataPoint[];
  let time: ReturnType<typeof manualClock>;
  beforeEach(() => {
    const stub = stubDataset();
    points = stub.points;
    time = manualClock();
    // A retry's wait moves the clock too, so the test can see it is not counted as upstream time.
    const sleep = async () => time.advance(100);
    gate = gateWith({ env: { METRICS: stub.dataset }, deps: { clock: time.clock, sleep } });
  });

  it("records create (with its alias), get and cancel: upstream time is ChatKit's, not the retry's wait", async () => {
    let cancels = 0;
    peers.chatkit = (request) => {
      if (request.url.endsWith("/chatkit/sessions")) {
        time.advance(140);
        return peers.fakeChatKit(request);
      }
      // The first cancel attempt fails after 50 ms; the retry waits (100 ms) and succeeds after 90 ms.
      if (++cancels === 1) {
        time.advance(50);
        return Response.json({ error: { message: "overloaded" } }, { status: 500 });
      }
      time.advance(90);
      return peers.fakeChatKit(request);
    };

    const created = await gate.call("POST", "/v1/chatkit/sessions", { token: alice, body: { workflow: "support" } });
    const { session_id } = (await created.json()) as { session_id: string };
    const owner = await ownerKeyInKv();
    const read = await gate.call("GET", `/v1/chatkit/sessions/${session_id}`, { token: alice });
    const cancelled = await gate.call("POST", `/v1/chatkit/sessions/${session_id}/cancel`, { token: alice });

    expect([created.status, read.status, cancelled.status]).toEqual([201, 200, 200]);
    expect(peers.upstreamCalls()).toHaveLength(3);
    expect(points).toEqual([
      point([CREATE_ROUTE, "201", "", ISSUER, "support", "hosted"], [140, 140, 1], owner),
      point(["GET /v1/chatkit/sessions/:session_id", "200", "", ISSUER, "", "hosted"], [0, 0, 0], owner),
      point(["POST /v1/chatkit/sessions/:session_id/cancel", "200", "", ISSUER, "", "hosted"], [240, 140, 2], owner),
    ]);
    // The index is the KV owner key, never the user: neither the claim nor the mapped ChatKit user.
    expect(JSON.stringify(points)).not.toContain("alice");
  });

  it("records an unknown alias as a 400 with no alias, and the default workflow with none", async () => {
    const refused = await gate.call("POST", "/v1/chatkit/sessions", { token: alice, body: { workflow: "sales " } });
    const created = await gate.call("POST", "/v1/chatkit/sessions", { token: alice });

    expect([refused.status, created.status]).toEqual([400, 201]);
    expect(points.map(({ blobs }) => blobs)).toEqual([
      [CREATE_ROUTE, "400", "invalid_request", ISSUER, "", "hosted"],
      [CREATE_ROUTE, "201", "", ISSUER, "", "hosted"],
    ]);
  });

  it("records refusals before any user: a 401, a 404, an unserved mode route and a CORS preflight", async () => {
    const unauthorized = await gate.call("POST", "/v1/chatkit/sessions");
    const unknown = await gate.call("GET", "/v1/chatkit/nothing-here", { token: alice });
    const otherMode = await gate.call("POST", "/chatkit");
    const preflight = await gate.call("OPTIONS", "/v1/chatkit/sessions", {
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });

    expect([unauthorized.status, unknown.status, otherMode.status, preflight.status]).toEqual([401, 404, 404, 204]);
    expect(points).toEqual([
      // The route the request was for, although the auth middleware refused it.
      point([CREATE_ROUTE, "401", "invalid_token", "", "", "hosted"], [0, 0, 0]),
      // A verified caller of an unknown path: provider and owner, and no path at all.
      point(["GET *", "404", "not_found", ISSUER, "", "hosted"], [0, 0, 0], expect.stringMatching(/^.{43}$/)),
      point(["POST /chatkit", "404", "not_found", "", "", "hosted"], [0, 0, 0]),
      // A preflight matches no endpoint (none takes OPTIONS), however middleware is mounted.
      point(["OPTIONS *", "204", "", "", "", "hosted"], [0, 0, 0]),
    ]);
    expect(JSON.stringify(points)).not.toContain("nothing-here");
  });

  it("records config_invalid with no mode and no provider: the token is never verified", async () => {
    const { dataset, points } = stubDataset();

    const response = await callWith(
      { env: { CHATKIT_WORKFLOW_ID: "", METRICS: dataset } },
      "GET",
      "/v1/chatkit/sessions",
      {
        token: alice,
      },
    );

    expect(response.status).toBe(503);
    expect(points).toEqual([
      {
        blobs: ["GET /v1/chatkit/sessions", "503", "config_invalid", "", "", ""],
        doubles: [expect.any(Number), 0, 0],
        indexes: [""],
      },
    ]);
  });
});

describe("Should write exactly one data point per request in self-hosted mode", () => {
  it("records the create with no upstream call, and /chatkit's upstream time up to the headers, not the stream", async () => {
    const { dataset, points } = stubDataset();
    const time = manualClock();
    const gate = gateWith({ env: { ...SELF_HOSTED_ENV, METRICS: dataset }, deps: { clock: time.clock } });
    const encoder = new TextEncoder();
    let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
    peers.server = () => {
      // 30 ms until the server's headers; whatever the stream takes afterwards is not upstream time.
      time.advance(30);
      return new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            stream = controller;
            controller.enqueue(encoder.encode('data: {"type":"thread.created"}\n\n'));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    };

    const session = await startSession(gate, alice, { workflow: "sales" });
    const owner = await ownerKeyInKv();
    const response = await gate.call(
      "POST",
      "/chatkit",
      chatkitCall(session.client_secret, '{"type":"threads.create","params":{}}'),
    );
    const written = [
      point([CREATE_ROUTE, "201", "", ISSUER, "sales", "self-hosted"], [0, 0, 0], owner),
      // The client secret, not a token, opened /chatkit: the owner is the one sealed in it, and no provider.
      point(["POST /chatkit", "200", "", "", "", "self-hosted"], [30, 30, 1], owner),
    ];
    // Written once the headers are in, while the server still holds the stream open.
    expect(points).toEqual(written);

    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    time.advance(5_000);
    stream?.enqueue(encoder.encode('data: {"type":"thread.item.done"}\n\n'));
    stream?.close();
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest += new TextDecoder().decode(chunk.value);
    }

    expect(rest).toBe('data: {"type":"thread.item.done"}\n\n');
    expect(points).toEqual(written);
  });
});

describe("Should cost nothing without the binding and fail no request with a broken one", () => {
  it.each([
    ["absent", undefined],
    ["a var, not a dataset", "true"],
  ])("times nothing and writes nothing when METRICS is %s", async (_, metrics) => {
    const time = vi.spyOn(UpstreamTimer.prototype, "time");
    const { dataset, points } = stubDataset();

    const without = await callWith({ env: { METRICS: metrics } }, "POST", "/v1/chatkit/sessions", { token: alice });
    const timedWithout = time.mock.calls.length;
    const withBinding = await callWith({ env: { METRICS: dataset } }, "POST", "/v1/chatkit/sessions", { token: alice });

    expect([without.status, withBinding.status]).toEqual([201, 201]);
    expect(peers.upstreamCalls()).toHaveLength(2);
    expect(timedWithout).toBe(0);
    // The control: the same create with the binding is timed once and written once.
    expect(time).toHaveBeenCalledTimes(1);
    expect(points).toHaveLength(1);
  });

  it("answers every request when the binding throws, and logs the failure once by error name", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const dataset: AnalyticsEngineDataset = {
      writeDataPoint: () => {
        throw new RangeError(`too many points for ${TEST_ENV.OPENAI_API_KEY}`);
      },
    };
    const gate = gateWith({ env: { METRICS: dataset } });

    const created = await gate.call("POST", "/v1/chatkit/sessions", { token: alice });
    const refused = await gate.call("GET", "/v1/chatkit/sessions");
    const missing = await gate.call("GET", "/nowhere");

    expect([created.status, refused.status, missing.status]).toEqual([201, 401, 404]);
    const failures = warn.mock.calls.filter(([line]) => String(line).includes("metrics_write_failed"));
    expect(failures).toEqual([[JSON.stringify({ level: "warn", event: "metrics_write_failed", error: "RangeError" })]]);
  });
});
