import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app";
import { ConfigError, parseConfig } from "../src/config/config";
import settings from "../src/config/settings.json";
import { requestFor } from "./support/http";

/** The problems the configuration itself reports, so the test does not restate their wording. */
function problemsOf(bindings: Record<string, unknown>): readonly string[] {
  try {
    parseConfig(bindings);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("Should log why the configuration is invalid, once per isolate, naming settings and never values", () => {
  afterEach(() => vi.restoreAllMocks());

  it("logs the problem list once, while every request is answered 503 config_invalid", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
    vi.spyOn(console, "warn").mockImplementation((line: string) => void lines.push(line));
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    // Two problems, one of them a secret's value that must never be echoed.
    const secret = "sk-live-never-logged 0123456789";
    const bindings = { ...env, OPENAI_API_KEY: secret, OPENAI_BASE_URL: "not a url" };
    const app = createApp();

    for (const path of ["/healthz", "/openapi.json", "/v1/chatkit/sessions", "/healthz"]) {
      const ctx = createExecutionContext();
      const response = await app.fetch(requestFor("GET", path), bindings, ctx);
      await waitOnExecutionContext(ctx);
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("config_invalid");
    }

    const problems = problemsOf(bindings);
    expect(problems.length).toBeGreaterThanOrEqual(2);
    const events = lines.map((line) => JSON.parse(line)).filter((entry) => entry.event === "config_invalid");
    expect(events).toEqual([{ level: "error", event: "config_invalid", problems }]);
    const names = [...settings.vars, ...settings.secrets];
    for (const problem of problems) expect(names.some((name) => problem.startsWith(name))).toBe(true);
    expect(lines.join("\n")).not.toContain("sk-live");
    expect(lines.join("\n")).not.toContain("not a url");
  });

  it("logs nothing about configuration when it is valid", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
    const ctx = createExecutionContext();
    const response = await createApp().fetch(requestFor("GET", "/healthz"), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(200);
    expect(lines.filter((line) => line.includes("config_invalid"))).toEqual([]);
  });
});
