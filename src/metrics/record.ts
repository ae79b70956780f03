import type { ChatKitMode } from "../config/self-hosted";
import type { ErrorCode } from "../http/errors";
import { log } from "../http/log";
import { MAX_BLOB_BYTES, OWNER_KEY_SHAPE } from "./schema";

/** The binding's name in wrangler.toml. */
export const METRICS_BINDING = "METRICS";

/**
 * What one request did, as the gate's middleware knows it once the response
 * is final. Every field is an id, a code or a number: never a token, a
 * secret, a raw user id, a raw path or a request body.
 */
export interface RequestMetric {
  /** The request method, e.g. `POST`. */
  method: string;
  /** The endpoint's pattern (`endpointPattern` in ./route.ts), e.g. `/v1/chatkit/sessions/:session_id/cancel`, or `*`; never the raw path. */
  routePath: string;
  status: number;
  /** The refusal's error code; absent on success. */
  code?: ErrorCode;
  /** The issuer of the verified token; absent when no token was verified (an unverified `iss` is never passed). */
  provider?: string;
  /** The configured workflow alias a create resolved to; absent for the default workflow and other routes. */
  alias?: string;
  /** Absent when the configuration did not load. */
  mode?: ChatKitMode;
  /** The whole request, in milliseconds. */
  durationMs: number;
  /** Time spent waiting for ChatKit, summed over the request's upstream calls (see {@link UpstreamTimer}). */
  upstreamMs?: number;
  /** How many upstream calls the request made. */
  upstreamCalls?: number;
  /** The KV owner key from `ownerKeyFor`; absent when no user was verified. Anything else is not recorded. */
  ownerKey?: string;
}

/** What {@link recordRequest} did: `absent` without a binding, `failed` when the binding threw. */
export type MetricOutcome = "written" | "absent" | "failed";

/**
 * The data point for one request, in the order of `METRIC_COLUMNS` (./schema.ts): blob1 to
 * blob6, double1 to double3, index1 (test/metrics/record.test.ts checks each
 * field against its column). Blobs are cut to {@link MAX_BLOB_BYTES}; a
 * number that is not finite and non-negative is written as 0; an owner key
 * that does not have the owner key's shape is written as "", so a raw user
 * id can never become the index.
 */
export function toDataPoint(metric: RequestMetric): AnalyticsEngineDataPoint {
  const { ownerKey = "" } = metric;
  return {
    blobs: [
      `${metric.method} ${metric.routePath}`,
      String(metric.status),
      metric.code ?? "",
      metric.provider ?? "",
      metric.alias ?? "",
      metric.mode ?? "",
    ].map(capBytes),
    doubles: [metric.durationMs, metric.upstreamMs ?? 0, metric.upstreamCalls ?? 0].map(nonNegative),
    indexes: [OWNER_KEY_SHAPE.test(ownerKey) ? ownerKey : ""],
  };
}

/**
 * Writes one data point for the request to `dataset`. Without a binding
 * nothing is written; a binding that throws is logged once per binding
 * (by error name only) and never fails the request.
 */
export function recordRequest(dataset: AnalyticsEngineDataset | undefined, metric: RequestMetric): MetricOutcome {
  if (dataset === undefined) return "absent";
  try {
    // writeDataPoint queues the point and returns at once: nothing to await, no waitUntil needed.
    dataset.writeDataPoint(toDataPoint(metric));
    return "written";
  } catch (error) {
    if (!failingDatasets.has(dataset)) {
      failingDatasets.add(dataset);
      log("warn", "metrics_write_failed", { error: error instanceof Error ? error.name : typeof error });
    }
    return "failed";
  }
}

/** Bindings already reported as failing: one log line per isolate, not one per request. */
const failingDatasets = new WeakSet<AnalyticsEngineDataset>();

/**
 * The `METRICS` binding of `env`, if it is one: anything else under that
 * name (a var, say) counts as absent rather than failing every write.
 */
export function metricsBinding(env: object | undefined): AnalyticsEngineDataset | undefined {
  const candidate: unknown = (env as Record<string, unknown> | undefined)?.[METRICS_BINDING];
  return typeof candidate === "object" &&
    candidate !== null &&
    typeof (candidate as AnalyticsEngineDataset).writeDataPoint === "function"
    ? (candidate as AnalyticsEngineDataset)
    : undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units). */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/** The longest prefix of `value` within {@link MAX_BLOB_BYTES} of UTF-8, never splitting a character. */
function capBytes(value: string): string {
  // Every blob is usually far shorter: skip encoding what cannot be over the cap (this is per request).
  if (value.length * MAX_UTF8_BYTES_PER_UNIT <= MAX_BLOB_BYTES) return value;
  const bytes = encoder.encode(value);
  if (bytes.length <= MAX_BLOB_BYTES) return value;
  let end = MAX_BLOB_BYTES;
  // Step back over UTF-8 continuation bytes (10xxxxxx) to a character boundary.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}

function nonNegative(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}
