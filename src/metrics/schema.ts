/**
 * The `METRICS` dataset's contract: which column holds what, the platform's
 * limits on a data point, and the SQL an operator runs over it. The writer
 * (./record.ts) places each value at the column named here, and the queries
 * are built from the same names, so the two cannot drift apart.
 *
 * Only type imports and erasable syntax: `scripts/metrics.mjs` imports this
 * file directly under Node's type stripping, so there is one copy of the SQL.
 */
/** Analytics Engine accepts at most 20 blobs per `writeDataPoint` (Workers Analytics Engine limits). */
export const AE_MAX_BLOBS = 20;
/** Analytics Engine accepts at most 20 doubles per `writeDataPoint`. */
export const AE_MAX_DOUBLES = 20;
/** Analytics Engine accepts one index per data point; it is also the key it samples by. */
export const AE_MAX_INDEXES = 1;
/** An index must not be more than 96 bytes. */
export const AE_MAX_INDEX_BYTES = 96;
/**
 * All blobs of one data point together: 16 KB since June 2025, 5,120 bytes
 * before. The stricter old figure is kept, so a point is accepted either way.
 */
export const AE_MAX_BLOB_BYTES_TOTAL = 5_120;
/** Analytics Engine keeps data points for three months; a longer window only returns less. */
export const AE_RETENTION_DAYS = 90;

/**
 * Every column the gate writes, by field name. Blobs and doubles are
 * numbered from 1 and dense; `index1` is the sampling key.
 *
 * - `route`: `METHOD pattern` of the endpoint the request was for, e.g. `POST /v1/chatkit/sessions`, also when
 *   it was refused before reaching it; `METHOD *` when no endpoint matched (never a raw path or id)
 * - `status`: the HTTP status, as text
 * - `code`: the error `code` of a refusal, `""` on success
 * - `provider`: the verified token's issuer, `""` when no token was verified
 * - `alias`: the configured workflow alias a create used, `""` for the default workflow and other routes
 * - `mode`: `hosted` or `self-hosted`, `""` when the configuration did not load
 * - `durationMs`: the whole request, in milliseconds
 * - `upstreamMs`: time spent waiting for ChatKit (OpenAI or the app's server), summed over calls
 * - `upstreamCalls`: how many upstream calls the request made; 0 means `upstreamMs` says nothing
 * - `owner`: the KV owner key (`ownerKeyFor`), `""` when no user was verified
 */
export const METRIC_COLUMNS = {
  route: "blob1",
  status: "blob2",
  code: "blob3",
  provider: "blob4",
  alias: "blob5",
  mode: "blob6",
  durationMs: "double1",
  upstreamMs: "double2",
  upstreamCalls: "double3",
  owner: "index1",
} as const satisfies Record<string, `blob${number}` | `double${number}` | "index1">;

export type MetricField = keyof typeof METRIC_COLUMNS;
type FieldsIn<Prefix extends string> = {
  [K in MetricField]: (typeof METRIC_COLUMNS)[K] extends `${Prefix}${number}` ? K : never;
}[MetricField];
/** Fields written as blobs (text). */
export type BlobField = FieldsIn<"blob">;
/** Fields written as doubles (numbers). */
export type DoubleField = FieldsIn<"double">;

/**
 * One byte cap per blob, so the six together stay far below
 * {@link AE_MAX_BLOB_BYTES_TOTAL} whatever an issuer URL holds. Route
 * patterns, codes, aliases (at most 64 characters) and modes are much shorter.
 */
export const MAX_BLOB_BYTES = 256;

/** The owner key is base64url of a SHA-256 or HMAC-SHA256 digest: 43 characters, well within the index limit. */
export const OWNER_KEY_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** The route (as {@link METRIC_COLUMNS}.route holds it) that creates a session. */
export const CREATE_ROUTE = "POST /v1/chatkit/sessions";
/** The status of a created session. */
export const CREATED_STATUS = "201";
/** The dataset name `npm run metrics` queries unless told otherwise. */
export const DEFAULT_DATASET = "chatkit_gate";
/** The window `npm run metrics` covers unless told otherwise. */
export const DEFAULT_DAYS = 7;
/** Rows of the heaviest-users table. */
export const HEAVIEST_USERS_LIMIT = 20;
/** The quantile the latency table reports. */
export const LATENCY_QUANTILE = 0.95;

/** A dataset is a table name in the SQL: plain identifiers only, so nothing can be injected through it. */
const DATASET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** One query an operator runs, and what it answers. */
export interface MetricQuery {
  name: "sessions_per_day" | "refusals_by_code" | "upstream_p95" | "heaviest_users";
  title: string;
  sql: string;
}

export interface QueryOptions {
  /** The Analytics Engine dataset (table) name, as in wrangler.toml. */
  dataset: string;
  /** How many days back from now, 1..{@link AE_RETENTION_DAYS}. */
  days: number;
}

/** Checks the options; throws a RangeError naming the option (never its value) when one is unusable. */
export function checkQueryOptions(options: QueryOptions): void {
  if (!DATASET_NAME.test(options.dataset)) {
    throw new RangeError("dataset must be a plain name of letters, digits and _ (at most 64), as in wrangler.toml");
  }
  if (!Number.isInteger(options.days) || options.days < 1 || options.days > AE_RETENTION_DAYS) {
    throw new RangeError(`days must be a whole number from 1 to ${AE_RETENTION_DAYS} (Analytics Engine's retention)`);
  }
}

/** A SQL string literal of one of this file's constants (never input), which hold no quote or backslash. */
const literal = (value: string) => `'${value}'`;

/**
 * The operator's queries over the last `days` days. Analytics Engine may
 * sample: each stored row stands for `_sample_interval` requests, so counts
 * are `SUM(_sample_interval)` and quantiles are weighted by it, never
 * `count()` or a plain quantile.
 */
export function metricQueries(options: QueryOptions): MetricQuery[] {
  checkQueryOptions(options);
  const c = METRIC_COLUMNS;
  const from = `FROM ${options.dataset}`;
  const window = `timestamp > NOW() - INTERVAL '${options.days}' DAY`;
  const isCreate = `${c.route} = ${literal(CREATE_ROUTE)} AND ${c.status} = ${literal(CREATED_STATUS)}`;
  const sql = (columns: string[], ...clauses: string[]) =>
    [`SELECT ${columns.join(",\n       ")}`, from, ...clauses, "FORMAT JSON"].join("\n");
  const p95 = (column: string) => `quantileExactWeighted(${LATENCY_QUANTILE})(${column}, _sample_interval)`;
  return [
    {
      name: "sessions_per_day",
      title: "Sessions created per day (201 on create), by mode",
      sql: sql(
        [
          "toStartOfInterval(timestamp, INTERVAL '1' DAY) AS day",
          `${c.mode} AS mode`,
          "SUM(_sample_interval) AS sessions",
        ],
        `WHERE ${window} AND ${isCreate}`,
        "GROUP BY day, mode",
        "ORDER BY day, mode",
      ),
    },
    {
      name: "refusals_by_code",
      title: "Refusals by error code",
      sql: sql(
        [`${c.code} AS code`, `${c.status} AS status`, "SUM(_sample_interval) AS requests"],
        `WHERE ${window} AND ${c.code} != ''`,
        "GROUP BY code, status",
        "ORDER BY requests DESC",
      ),
    },
    {
      name: "upstream_p95",
      title: `p${LATENCY_QUANTILE * 100} upstream time by route and mode (requests that called upstream)`,
      sql: sql(
        [
          `${c.route} AS route`,
          `${c.mode} AS mode`,
          "SUM(_sample_interval) AS requests",
          `${p95(c.upstreamMs)} AS p95_upstream_ms`,
          `${p95(c.durationMs)} AS p95_total_ms`,
        ],
        `WHERE ${window} AND ${c.upstreamCalls} > 0`,
        "GROUP BY route, mode",
        "ORDER BY p95_upstream_ms DESC",
      ),
    },
    {
      name: "heaviest_users",
      title: `Heaviest ${HEAVIEST_USERS_LIMIT} users by owner key (sessions created, then requests)`,
      sql: sql(
        [
          `${c.owner} AS owner`,
          `SUM(_sample_interval * if(${isCreate}, 1, 0)) AS sessions`,
          "SUM(_sample_interval) AS requests",
          `SUM(_sample_interval * ${c.upstreamMs}) AS upstream_ms`,
        ],
        `WHERE ${window} AND ${c.owner} != ''`,
        "GROUP BY owner",
        "ORDER BY sessions DESC, requests DESC",
        `LIMIT ${HEAVIEST_USERS_LIMIT}`,
      ),
    },
  ];
}
