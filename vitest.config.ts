import { existsSync, readFileSync } from "node:fs";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { experimental_readRawConfig } from "wrangler";
import { parse } from "yaml";
import { TEST_ENV } from "./test/support/env.ts";

const WRANGLER_CONFIG = "./wrangler.toml";

/**
 * Every setting name (src/config/settings.json), empty: unset. The tests'
 * bindings start from these, so a developer's .dev.vars or .env, which the
 * plugin reads beside wrangler.toml, can never leak a setting into a test.
 */
function unsetSettings(): Record<string, string> {
  const { vars, secrets } = JSON.parse(readFileSync("./src/config/settings.json", "utf8")) as Record<string, string[]>;
  return Object.fromEntries([...(vars ?? []), ...(secrets ?? [])].map((name) => [name, ""]));
}

/** The worker name of the top level and of each environment: a bare `wrangler deploy` uses the top level's. */
function wranglerWorkerNames(): Record<string, string | undefined> {
  const { rawConfig } = experimental_readRawConfig({ config: WRANGLER_CONFIG });
  return {
    "(top level)": rawConfig.name,
    ...Object.fromEntries(
      Object.entries(rawConfig.env ?? {}).map(([name, env]) => [name, (env as { name?: string }).name]),
    ),
  };
}

/**
 * The [vars] names of the top level and of each environment, as wrangler
 * itself reads them (vars are not inherited), for the settings inventory in test/config/config.test.ts.
 */
function wranglerVarNames(): Record<string, string[]> {
  const { rawConfig } = experimental_readRawConfig({ config: WRANGLER_CONFIG });
  return {
    "(top level)": Object.keys(rawConfig.vars ?? {}),
    ...Object.fromEntries(
      Object.entries(rawConfig.env ?? {}).map(([name, env]) => [
        name,
        Object.keys((env as { vars?: object }).vars ?? {}),
      ]),
    ),
  };
}

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
      wrangler: { configPath: WRANGLER_CONFIG },
      miniflare: {
        bindings: { ...unsetSettings(), ...TEST_ENV },
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
    provide: {
      chatkitSpec: chatkitSpec(),
      wranglerVarNames: wranglerVarNames(),
      wranglerWorkerNames: wranglerWorkerNames(),
      devVarsExample: readFileSync(".dev.vars.example", "utf8"),
    },
  },
});
