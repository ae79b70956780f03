import { describe, expect, it } from "vitest";
import {
  AE_MAX_BLOB_BYTES_TOTAL,
  AE_MAX_BLOBS,
  AE_MAX_DOUBLES,
  AE_RETENTION_DAYS,
  CREATE_ROUTE,
  DEFAULT_DATASET,
  DEFAULT_DAYS,
  MAX_BLOB_BYTES,
  METRIC_COLUMNS,
  metricQueries,
} from "../../src/metrics/schema";

const columns = Object.values(METRIC_COLUMNS);
const numbered = (prefix: string) =>
  columns
    .filter((column) => column.startsWith(prefix))
    .map((column) => Number(column.slice(prefix.length)))
    .sort((a, b) => a - b);

describe("Should keep the column mapping dense, unique and within Analytics Engine's limits", () => {
  it("numbers blobs and doubles from 1 without gaps, and uses the one index", () => {
    const blobs = numbered("blob");
    const doubles = numbered("double");

    expect(new Set(columns).size).toBe(columns.length);
    expect(blobs).toEqual(blobs.map((_, i) => i + 1));
    expect(doubles).toEqual(doubles.map((_, i) => i + 1));
    expect(blobs.length).toBeLessThanOrEqual(AE_MAX_BLOBS);
    expect(doubles.length).toBeLessThanOrEqual(AE_MAX_DOUBLES);
    expect(columns.filter((column) => column.startsWith("index"))).toEqual(["index1"]);
    expect(blobs.length * MAX_BLOB_BYTES).toBeLessThanOrEqual(AE_MAX_BLOB_BYTES_TOTAL);
  });
});

describe("Should build the operator's queries from the mapping, sampling-aware", () => {
  const queries = metricQueries({ dataset: DEFAULT_DATASET, days: DEFAULT_DAYS });

  it("counts sessions per day from 201 creates, by mode", () => {
    expect(queries.find((q) => q.name === "sessions_per_day")?.sql).toBe(
      [
        "SELECT toStartOfInterval(timestamp, INTERVAL '1' DAY) AS day,",
        "       blob6 AS mode,",
        "       SUM(_sample_interval) AS sessions",
        "FROM chatkit_gate",
        `WHERE timestamp > NOW() - INTERVAL '7' DAY AND blob1 = '${CREATE_ROUTE}' AND blob2 = '201'`,
        "GROUP BY day, mode",
        "ORDER BY day, mode",
        "FORMAT JSON",
      ].join("\n"),
    );
  });

  it("weights p95 upstream time by _sample_interval, over requests that called upstream", () => {
    const sql = queries.find((q) => q.name === "upstream_p95")?.sql;
    expect(sql).toContain("       quantileExactWeighted(0.95)(double2, _sample_interval) AS p95_upstream_ms,\n");
    expect(sql).toContain("AND double3 > 0\n");
  });

  it("ranks owners by index1 and skips requests without a verified user", () => {
    const sql = queries.find((q) => q.name === "heaviest_users")?.sql;
    expect(sql).toContain(
      `SELECT index1 AS owner,\n       SUM(_sample_interval * if(blob1 = '${CREATE_ROUTE}' AND blob2 = '201', 1, 0)) AS sessions,`,
    );
    expect(sql).toContain("AND index1 != ''\n");
    expect(sql).toMatch(/\nLIMIT 20\nFORMAT JSON$/);
  });

  it("never counts rows: every count is SUM(_sample_interval), every quantile weighted", () => {
    expect(queries.map((q) => q.name)).toEqual([
      "sessions_per_day",
      "refusals_by_code",
      "upstream_p95",
      "heaviest_users",
    ]);
    for (const { sql } of queries) {
      expect(sql).toContain("SUM(_sample_interval");
      expect(sql).not.toMatch(/count\(|quantile\(|avg\(/i);
    }
  });

  it.each([
    [{ dataset: "chatkit_gate; DROP", days: 7 }, /^dataset must/],
    [{ dataset: "x' OR '1'='1", days: 7 }, /^dataset must/],
    [{ dataset: "chatkit_gate", days: 0 }, /^days must/],
    [{ dataset: "chatkit_gate", days: AE_RETENTION_DAYS + 1 }, /^days must/],
    [{ dataset: "chatkit_gate", days: 1.5 }, /^days must/],
  ])("refuses %o, naming the option and never its value", (options, message) => {
    const error = (() => {
      try {
        metricQueries(options);
      } catch (thrown) {
        return thrown as Error;
      }
    })();

    expect(error).toBeInstanceOf(RangeError);
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain(options.dataset);
  });
});
