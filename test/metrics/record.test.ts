import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ownerKeyFor } from "../../src/auth/middleware";
import { metricsBinding, type RequestMetric, recordRequest, toDataPoint } from "../../src/metrics/record";
import {
  AE_MAX_BLOB_BYTES_TOTAL,
  AE_MAX_BLOBS,
  AE_MAX_DOUBLES,
  AE_MAX_INDEX_BYTES,
  AE_MAX_INDEXES,
  MAX_BLOB_BYTES,
  METRIC_COLUMNS,
} from "../../src/metrics/schema";
import { stubDataset } from "./support";

afterEach(() => vi.restoreAllMocks());

const ISSUER = "https://idp.example.test/";
const SECRET = "s".repeat(32);

const bytes = (value: string | ArrayBuffer | null) =>
  typeof value === "string" ? new TextEncoder().encode(value).length : (value?.byteLength ?? 0);

describe("Should write exactly one data point per request, laid out by METRIC_COLUMNS", () => {
  it("records a hosted create with an alias: route, 201, no code, issuer, alias, mode; duration, upstream; owner key", async () => {
    const { dataset, points } = stubDataset();
    const ownerKey = await ownerKeyFor("alice", { mode: "raw" });

    const outcome = recordRequest(dataset, {
      method: "POST",
      routePath: "/v1/chatkit/sessions",
      status: 201,
      provider: ISSUER,
      alias: "research",
      mode: "hosted",
      durationMs: 182,
      upstreamMs: 141,
      upstreamCalls: 1,
      ownerKey,
    });

    expect(outcome).toBe("written");
    expect(points).toEqual([
      {
        blobs: ["POST /v1/chatkit/sessions", "201", "", ISSUER, "research", "hosted"],
        doubles: [182, 141, 1],
        indexes: [ownerKey],
      },
    ]);
  });

  it("indexes the hmac owner key, which is neither the user nor the pseudonym sent to OpenAI", async () => {
    const { dataset, points } = stubDataset();
    const ownerKey = await ownerKeyFor("auth0|alice", { mode: "hmac", secret: SECRET });

    recordRequest(dataset, {
      method: "POST",
      routePath: "/v1/chatkit/sessions/:session_id/cancel",
      status: 202,
      provider: ISSUER,
      mode: "hosted",
      durationMs: 1_510,
      upstreamMs: 1_500,
      upstreamCalls: 3,
      ownerKey,
    });

    expect(points).toEqual([
      {
        blobs: ["POST /v1/chatkit/sessions/:session_id/cancel", "202", "", ISSUER, "", "hosted"],
        doubles: [1_510, 1_500, 3],
        indexes: [ownerKey],
      },
    ]);
    expect(JSON.stringify(points)).not.toContain("alice");
  });

  it("records a refused token with its code and neither provider nor owner", () => {
    const { dataset, points } = stubDataset();

    recordRequest(dataset, {
      method: "GET",
      routePath: "/v1/chatkit/sessions",
      status: 401,
      code: "invalid_token",
      mode: "hosted",
      durationMs: 3,
    });

    expect(points).toEqual([
      {
        blobs: ["GET /v1/chatkit/sessions", "401", "invalid_token", "", "", "hosted"],
        doubles: [3, 0, 0],
        indexes: [""],
      },
    ]);
  });

  it("records a self-hosted rate-limited create and a config_invalid request with no mode", async () => {
    const { dataset, points } = stubDataset();
    const ownerKey = await ownerKeyFor("bob", { mode: "raw" });

    recordRequest(dataset, {
      method: "POST",
      routePath: "/v1/chatkit/sessions",
      status: 429,
      code: "rate_limited",
      provider: ISSUER,
      mode: "self-hosted",
      durationMs: 9,
      ownerKey,
    });
    recordRequest(dataset, {
      method: "GET",
      routePath: "/healthz",
      status: 503,
      code: "config_invalid",
      durationMs: 1,
    });

    expect(points).toEqual([
      {
        blobs: ["POST /v1/chatkit/sessions", "429", "rate_limited", ISSUER, "", "self-hosted"],
        doubles: [9, 0, 0],
        indexes: [ownerKey],
      },
      { blobs: ["GET /healthz", "503", "config_invalid", "", "", ""], doubles: [1, 0, 0], indexes: [""] },
    ]);
  });
});

describe("Should place each field at the column METRIC_COLUMNS names for it", () => {
  it("puts every field of a metric with distinct values at its blob, double or index position", async () => {
    const ownerKey = await ownerKeyFor("alice", { mode: "raw" });
    const point = toDataPoint({
      method: "POST",
      routePath: "/route",
      status: 429,
      code: "rate_limited",
      provider: ISSUER,
      alias: "research",
      mode: "self-hosted",
      durationMs: 11,
      upstreamMs: 22,
      upstreamCalls: 33,
      ownerKey,
    });
    const expected: Record<keyof typeof METRIC_COLUMNS, string | number> = {
      route: "POST /route",
      status: "429",
      code: "rate_limited",
      provider: ISSUER,
      alias: "research",
      mode: "self-hosted",
      durationMs: 11,
      upstreamMs: 22,
      upstreamCalls: 33,
      owner: ownerKey,
    };
    const written: Record<string, unknown[]> = {
      blob: point.blobs ?? [],
      double: point.doubles ?? [],
      index: point.indexes ?? [],
    };

    for (const [field, column] of Object.entries(METRIC_COLUMNS)) {
      const [, kind, number] = /^([a-z]+)(\d+)$/.exec(column) as RegExpExecArray;
      expect([field, written[kind as string]?.[Number(number) - 1]]).toEqual([
        field,
        expected[field as keyof typeof METRIC_COLUMNS],
      ]);
    }
    expect([point.blobs?.length, point.doubles?.length, point.indexes?.length]).toEqual([6, 3, 1]);
  });
});

describe("Should never record a raw user id or an oversized value", () => {
  it.each([
    ["an email", "alice@example.com"],
    ["a sub", "auth0|64f1c2"],
    ["a pseudonym", `u_${"A".repeat(43)}`],
    ["a key one character short", "A".repeat(42)],
    ["an empty string", ""],
  ])("writes an empty index for %s passed as the owner key", (_, ownerKey) => {
    expect(
      toDataPoint({ method: "GET", routePath: "/v1/chatkit/sessions", status: 200, durationMs: 1, ownerKey }),
    ).toMatchObject({ indexes: [""] });
  });

  it("cuts a long blob to MAX_BLOB_BYTES of UTF-8 without splitting a character", () => {
    const provider = `https://idp.test/${"é".repeat(300)}`;

    const [, , , written] = toDataPoint({ method: "GET", routePath: "/x", status: 200, durationMs: 1, provider })
      .blobs as string[];

    expect(bytes(written as string)).toBe(MAX_BLOB_BYTES - 1);
    expect(provider.startsWith(written as string)).toBe(true);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, -5])("writes %s milliseconds as 0", (value) => {
    expect(
      toDataPoint({ method: "GET", routePath: "/x", status: 200, durationMs: value, upstreamMs: value }).doubles,
    ).toEqual([0, 0, 0]);
  });

  it("stays within Analytics Engine's limits for any input", () => {
    const text = fc.string({ unit: "binary", maxLength: 400, size: "max" });
    fc.assert(
      fc.property(text, text, text, text, fc.double(), (routePath, provider, alias, ownerKey, durationMs) => {
        const point = toDataPoint({ method: "POST", routePath, status: 200, provider, alias, ownerKey, durationMs });
        const blobs = point.blobs ?? [];
        const indexes = point.indexes ?? [];
        expect(blobs.length).toBeLessThanOrEqual(AE_MAX_BLOBS);
        expect((point.doubles ?? []).length).toBeLessThanOrEqual(AE_MAX_DOUBLES);
        expect(indexes.length).toBe(AE_MAX_INDEXES);
        expect(bytes(indexes[0] ?? null)).toBeLessThanOrEqual(AE_MAX_INDEX_BYTES);
        expect(blobs.every((blob) => bytes(blob) <= MAX_BLOB_BYTES)).toBe(true);
        expect(blobs.reduce((sum, blob) => sum + bytes(blob), 0)).toBeLessThanOrEqual(AE_MAX_BLOB_BYTES_TOTAL);
        expect(point.doubles?.every((d) => Number.isFinite(d) && d >= 0)).toBe(true);
      }),
      { numRuns: 100, endOnFailure: true },
    );
  });
});

describe("Should leave the request alone when the binding is absent or broken", () => {
  const metric: RequestMetric = { method: "GET", routePath: "/healthz", status: 200, mode: "hosted", durationMs: 1 };

  it("writes nothing and throws nothing without a binding", () => {
    expect(recordRequest(undefined, metric)).toBe("absent");
  });

  it("treats a METRICS that is not a dataset (a var, say) as absent", () => {
    const { dataset } = stubDataset();
    expect(metricsBinding({ METRICS: dataset })).toBe(dataset);
    expect(metricsBinding({})).toBeUndefined();
    expect(metricsBinding({ METRICS: "true" })).toBeUndefined();
    expect(metricsBinding({ METRICS: { writeDataPoint: "no" } })).toBeUndefined();
  });

  it("swallows a throwing binding and logs it once, by error name only", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const dataset: AnalyticsEngineDataset = {
      writeDataPoint: () => {
        throw new TypeError(`quota exceeded for ${ISSUER}`);
      },
    };

    expect(recordRequest(dataset, metric)).toBe("failed");
    expect(recordRequest(dataset, metric)).toBe("failed");

    expect(warn.mock.calls).toEqual([
      [JSON.stringify({ level: "warn", event: "metrics_write_failed", error: "TypeError" })],
    ]);
  });
});
