#!/usr/bin/env node
// `npm run metrics -- --account-id <id> [--days N] [--dataset chatkit_gate] [--sql]`:
// runs the operator's queries (sessions per day, refusals by code, p95
// upstream time, heaviest users) against the Workers Analytics Engine SQL
// API and prints each as a small table. The SQL comes from
// src/metrics/schema.ts, the same mapping the worker writes with.
//
// The API token is read from CLOUDFLARE_API_TOKEN only, never from the
// command line, so it stays out of shell history and process lists; it is
// sent only in the Authorization header. Operator tool: never bundled.
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_DATASET, DEFAULT_DAYS, metricQueries } from "../src/metrics/schema.ts";

/** The Cloudflare API; tests pass their own local base instead. */
export const CLOUDFLARE_API_BASE = "https://api.cloudflare.com/client/v4";
/** Where the token comes from: a token needs the Account | Account Analytics | Read permission. */
export const TOKEN_VARIABLE = "CLOUDFLARE_API_TOKEN";
/** Every query call is bounded; the SQL API answers well within this or not at all. */
export const QUERY_TIMEOUT_MS = 30_000;
/** Cloudflare account ids are 32 hex digits: anything else is refused before the token goes anywhere. */
const ACCOUNT_ID = /^[0-9a-f]{32}$/i;
/** How much of a failed answer's body is shown. */
const ERROR_BODY_CHARS = 300;

const USAGE = `usage: ${TOKEN_VARIABLE}=<token> npm run metrics -- --account-id <32 hex digits> [--days N] [--dataset ${DEFAULT_DATASET}]
       npm run metrics -- --sql [--days N] [--dataset ${DEFAULT_DATASET}]   (print the queries, contact nothing)`;

/** A mistake in how the script was called: printed with the usage, without a stack. */
export class MetricsUsageError extends Error {}

/** Reads the arguments; throws {@link MetricsUsageError}. */
export function parseOptions(args) {
  if (args.some((arg) => /^--(api-)?token(=|$)/.test(arg))) {
    throw new MetricsUsageError(`the token is read from ${TOKEN_VARIABLE}, never from the command line`);
  }
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        "account-id": { type: "string" },
        days: { type: "string", default: String(DEFAULT_DAYS) },
        dataset: { type: "string", default: DEFAULT_DATASET },
        sql: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new MetricsUsageError(error.message);
  }
  const days = /^\d+$/.test(values.days) ? Number(values.days) : Number.NaN;
  return { accountId: values["account-id"], days, dataset: values.dataset, sqlOnly: values.sql, help: values.help };
}

/**
 * Runs the script. `apiBase`, `fetch`, `out` and `err` are injected so tests can
 * point it at a local server and read what it prints.
 * @returns the exit code: 0, 1 when a query failed, 2 for a usage mistake
 */
export async function runMetrics({ args, env, apiBase = CLOUDFLARE_API_BASE, fetch = globalThis.fetch, out, err }) {
  const print = out ?? ((line) => console.log(line));
  const complain = err ?? ((line) => console.error(line));
  let options;
  let queries;
  try {
    options = parseOptions(args);
    if (options.help) {
      print(USAGE);
      return 0;
    }
    queries = metricQueries({ dataset: options.dataset, days: options.days });
  } catch (error) {
    if (!(error instanceof MetricsUsageError || error instanceof RangeError)) throw error;
    complain(`metrics: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (options.sqlOnly) {
    for (const query of queries) print(`-- ${query.title}\n${query.sql}\n`);
    return 0;
  }
  const token = env[TOKEN_VARIABLE];
  if (options.accountId === undefined || !ACCOUNT_ID.test(options.accountId)) {
    complain(`metrics: --account-id must be your Cloudflare account id (32 hex digits)\n${USAGE}`);
    return 2;
  }
  if (!token) {
    complain(`metrics: set ${TOKEN_VARIABLE} to an API token with Account Analytics Read\n${USAGE}`);
    return 2;
  }

  const url = `${apiBase}/accounts/${options.accountId}/analytics_engine/sql`;
  /** Nothing printed can carry the token, even if an answer were to echo it. */
  const redact = (text) => text.replaceAll(token, "[token]");
  let failed = false;
  print(`${options.dataset}, last ${options.days} day(s)\n`);
  for (const query of queries) {
    print(query.title);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
        body: query.sql,
        signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, ERROR_BODY_CHARS)}`);
      print(redact(table(JSON.parse(text))));
    } catch (error) {
      failed = true;
      print(redact(`  failed: ${error instanceof Error ? error.message : String(error)}`));
    }
    print("");
  }
  return failed ? 1 : 0;
}

/** A FORMAT JSON answer (`{meta, data, rows}`) as an aligned text table; numbers are right-aligned. */
export function table(answer) {
  if (!Array.isArray(answer?.data)) throw new Error("the answer has no data rows");
  const names = Array.isArray(answer.meta)
    ? answer.meta.map((column) => column.name)
    : Object.keys(answer.data[0] ?? {});
  if (answer.data.length === 0) return "  (no rows)";
  const cells = answer.data.map((row) => names.map((name) => cell(row[name])));
  const widths = names.map((name, i) => Math.max(name.length, ...cells.map((row) => row[i].length)));
  const numeric = names.map((_, i) => cells.every((row) => row[i] === "" || isNumber(row[i])));
  const line = (row) =>
    `  ${row.map((text, i) => (numeric[i] ? text.padStart(widths[i]) : text.padEnd(widths[i]))).join("  ")}`.trimEnd();
  return [line(names), line(widths.map((width) => "-".repeat(width))), ...cells.map(line)].join("\n");
}

const isNumber = (text) => text !== "" && Number.isFinite(Number(text));

/** Whole numbers as they are, others to one decimal (milliseconds need no more). */
function cell(value) {
  if (value === null || value === undefined) return "";
  const text = String(value);
  if (!isNumber(text) || Number.isInteger(Number(text))) return text;
  return Number(text).toFixed(1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await runMetrics({ args: process.argv.slice(2), env: process.env });
}
