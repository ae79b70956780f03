// `npm run metrics` against a fake Analytics Engine SQL API on 127.0.0.1.
// Runs in Node, not workerd (it needs a listening socket and a child process):
//   npx node --test test/metrics/script.node-test.mjs
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { after, before, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { runMetrics } from "../../scripts/metrics.mjs";
import { metricQueries } from "../../src/metrics/schema.ts";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const TOKEN = "cf-test-token-7d1e";
const SCRIPT = fileURLToPath(new URL("../../scripts/metrics.mjs", import.meta.url));

/** Canned FORMAT JSON answers, keyed by a phrase of each query. */
const ANSWERS = [
  [
    "AS sessions\n",
    {
      meta: [
        { name: "day", type: "DateTime" },
        { name: "mode", type: "String" },
        { name: "sessions", type: "UInt64" },
      ],
      data: [
        { day: "2026-11-01 00:00:00", mode: "hosted", sessions: "12" },
        { day: "2026-11-02 00:00:00", mode: "self-hosted", sessions: "3" },
      ],
      rows: 2,
    },
  ],
  ["AS code", { meta: [{ name: "code" }, { name: "status" }, { name: "requests" }], data: [], rows: 0 }],
  [
    "p95_upstream_ms",
    {
      meta: [
        { name: "route" },
        { name: "mode" },
        { name: "requests" },
        { name: "p95_upstream_ms" },
        { name: "p95_total_ms" },
      ],
      data: [
        {
          route: "POST /v1/chatkit/sessions",
          mode: "hosted",
          requests: "15",
          p95_upstream_ms: 412.25,
          p95_total_ms: 430,
        },
      ],
      rows: 1,
    },
  ],
  [
    "AS owner",
    { meta: [{ name: "owner" }, { name: "sessions" }], data: [{ owner: "A".repeat(43), sessions: "9" }], rows: 1 },
  ],
];

let server;
let base;
/** What the fake API received. */
let calls;
/** Lets a test answer differently; by default the canned answer for the query. */
let respond;

before(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      calls.push({ method: request.method, url: request.url, authorization: request.headers.authorization, body });
      const { status, json } = respond(body);
      response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}/client/v4`;
});
after(() => server.close());
beforeEach(() => {
  calls = [];
  respond = (sql) => ({ status: 200, json: ANSWERS.find(([phrase]) => sql.includes(phrase))?.[1] ?? { data: [] } });
});

/** Runs the script in-process against the fake API; returns its exit code and what it printed. */
async function run(args, env = { CLOUDFLARE_API_TOKEN: TOKEN }) {
  const out = [];
  const err = [];
  const code = await runMetrics({
    args,
    env,
    apiBase: base,
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("npm run metrics: queries and tables", () => {
  it("POSTs each query's SQL to the account's endpoint, with the token only in the Authorization header", async () => {
    const { code, out } = await run(["--account-id", ACCOUNT]);

    assert.equal(code, 0);
    const expected = metricQueries({ dataset: "chatkit_gate", days: 7 }).map((q) => q.sql);
    assert.deepEqual(
      calls.map((c) => [c.method, c.url, c.authorization, c.body]),
      expected.map((sql) => ["POST", `/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`, `Bearer ${TOKEN}`, sql]),
    );
    for (const c of calls) {
      assert.ok(!c.url.includes(TOKEN) && !c.body.includes(TOKEN));
    }
    assert.ok(!out.includes(TOKEN));
  });

  it("prints each answer as a small aligned table, numbers right-aligned", async () => {
    const { out } = await run(["--account-id", ACCOUNT]);

    assert.equal(
      out,
      [
        "chatkit_gate, last 7 day(s)\n",
        "Sessions created per day (201 on create), by mode",
        "  day                  mode         sessions",
        "  -------------------  -----------  --------",
        "  2026-11-01 00:00:00  hosted             12",
        "  2026-11-02 00:00:00  self-hosted         3",
        "",
        "Refusals by error code",
        "  (no rows)",
        "",
        "p95 upstream time by route and mode (requests that called upstream)",
        "  route                      mode    requests  p95_upstream_ms  p95_total_ms",
        "  -------------------------  ------  --------  ---------------  ------------",
        "  POST /v1/chatkit/sessions  hosted        15            412.3           430",
        "",
        "Heaviest 20 users by owner key (sessions created, then requests)",
        "  owner                                        sessions",
        "  -------------------------------------------  --------",
        `  ${"A".repeat(43)}         9`,
        "",
      ].join("\n"),
    );
  });

  it("takes --days and --dataset into the SQL", async () => {
    await run(["--account-id", ACCOUNT, "--days", "30", "--dataset", "gate_staging"]);

    assert.deepEqual(
      calls.map((c) => c.body),
      metricQueries({ dataset: "gate_staging", days: 30 }).map((q) => q.sql),
    );
    assert.ok(calls.every((c) => c.body.includes("FROM gate_staging\n") && c.body.includes("INTERVAL '30' DAY")));
  });

  it("reports a refused query, redacting the token, runs the others and exits 1", async () => {
    respond = (sql) =>
      sql.includes("AS code")
        ? { status: 403, json: { errors: [{ message: `bad token ${TOKEN}` }] } }
        : { status: 200, json: { data: [] } };

    const { code, out } = await run(["--account-id", ACCOUNT]);

    assert.equal(code, 1);
    assert.equal(calls.length, 4);
    assert.match(
      out,
      /Refusals by error code\n {2}failed: HTTP 403: \{"errors":\[\{"message":"bad token \[token\]"\}\]\}\n/,
    );
    assert.ok(!out.includes(TOKEN));
  });
});

describe("npm run metrics: refusals before anything is sent", () => {
  for (const [what, args, env, message] of [
    ["no token", ["--account-id", ACCOUNT], {}, /set CLOUDFLARE_API_TOKEN/],
    ["a token on the command line", ["--account-id", ACCOUNT, "--token", TOKEN], {}, /never from the command line/],
    ["a token as --token=", ["--account-id", ACCOUNT, `--api-token=${TOKEN}`], {}, /never from the command line/],
    ["no account id", [], { CLOUDFLARE_API_TOKEN: TOKEN }, /--account-id must/],
    [
      "an account id that is not 32 hex digits",
      ["--account-id", "../x"],
      { CLOUDFLARE_API_TOKEN: TOKEN },
      /--account-id must/,
    ],
    [
      "a dataset that is not a plain name",
      ["--account-id", ACCOUNT, "--dataset", "x;y"],
      { CLOUDFLARE_API_TOKEN: TOKEN },
      /^metrics: dataset must/,
    ],
    [
      "days beyond retention",
      ["--account-id", ACCOUNT, "--days", "91"],
      { CLOUDFLARE_API_TOKEN: TOKEN },
      /^metrics: days must/,
    ],
    [
      "an unknown option",
      ["--account-id", ACCOUNT, "--host", "x"],
      { CLOUDFLARE_API_TOKEN: TOKEN },
      /Unknown option '--host'/,
    ],
  ]) {
    it(`exits 2 for ${what}, having sent nothing`, async () => {
      const { code, out, err } = await run(args, env);

      assert.equal(code, 2);
      assert.match(err, message);
      assert.equal(out, "");
      assert.equal(calls.length, 0);
      assert.ok(!err.includes(TOKEN));
    });
  }

  it("prints the SQL with --sql, needing neither account nor token", async () => {
    const { code, out } = await run(["--sql", "--days", "3"], {});

    assert.equal(code, 0);
    assert.equal(calls.length, 0);
    for (const { title, sql } of metricQueries({ dataset: "chatkit_gate", days: 3 })) {
      assert.ok(out.includes(`-- ${title}\n${sql}\n`));
    }
  });

  it("refuses a token on the command line as a real process, on stderr, exit 2", () => {
    const child = spawnSync(process.execPath, [SCRIPT, "--account-id", ACCOUNT, "--token", TOKEN], {
      env: { PATH: process.env.PATH },
      encoding: "utf8",
    });

    assert.equal(child.status, 2);
    assert.equal(child.stdout, "");
    assert.match(child.stderr, /the token is read from CLOUDFLARE_API_TOKEN, never from the command line/);
    assert.ok(!child.stderr.includes(TOKEN));
  });
});
