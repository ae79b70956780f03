import { existsSync, readFileSync } from "node:fs";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { parse } from "yaml";
import { TEST_ENV } from "./test/support/env.ts";

/** OpenAI's ChatKit spec, shared beside the repo (YAML or JSON) and never copied into it. */
const SPEC_DIR = new URL("../shared/upstream/", import.meta.url);

/** The spec as JSON text, or "" (and a warning) when it is not there. */
function chatkitSpec(): string {
  for (const [name, read] of [
    ["chatkit-openapi.yaml", (text: string) => JSON.stringify(parse(text))],
    ["chatkit-openapi.json", (text: string) => text],
  ] as const) {
    const path = new URL(name, SPEC_DIR);
    if (existsSync(path)) return read(readFileSync(path, "utf8"));
  }
  console.warn(
    "chatkit-gate: ../shared/upstream/chatkit-openapi.{yaml,json} not found; test/chatkit/spec.test.ts is SKIPPED",
  );
  return "";
}

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: TEST_ENV,
        ratelimits: {
          // Tests create many sessions per user; the real limit is exercised through STRICT_LIMITER.
          CREATE_LIMITER: { namespace_id: "1001", simple: { limit: 1_000_000, period: 60 } },
          STRICT_LIMITER: { namespace_id: "1002", simple: { limit: 3, period: 60 } },
        },
        // Nothing leaves the machine: tests fake every peer with a fetch spy, and a stray call fails loudly.
        outboundService: (request) =>
          new Response(`unexpected outbound request to ${new URL(request.url).host}`, { status: 599 }),
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    // Request logs are shown for failing tests only.
    silent: "passed-only",
    provide: { chatkitSpec: chatkitSpec() },
  },
});
