import { existsSync, readFileSync } from "node:fs";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_ENV } from "./test/support/env.ts";

/** OpenAI's ChatKit spec, shared beside the repo and never copied into it. */
const SPEC_PATH = new URL("../shared/upstream/chatkit-openapi.json", import.meta.url);

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
    provide: { chatkitSpec: existsSync(SPEC_PATH) ? readFileSync(SPEC_PATH, "utf8") : "" },
  },
});
