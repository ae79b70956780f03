import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app";
import { ConfigError, parseConfig } from "../src/config/config";
import settings from "../src/config/settings.json";
import { gateWith } from "./support/app";
import { clearKv, errorOf, kvEntries, requestFor } from "./support/http";
import { captureLogs, eventsOf } from "./support/logs";
import { mintToken, Peers } from "./support/peers";
import { SELF_HOSTED_ENV, signingKeys } from "./support/self-hosted";

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

describe("Should refuse a signing key WebCrypto cannot import as config_invalid on every route", () => {
  afterEach(() => vi.restoreAllMocks());

  it("answers 503 naming the key by position on health, sessions, /chatkit and the JWKS, logs once, and touches nothing", async () => {
    const lines = captureLogs();
    const peers = new Peers().install();
    await clearKv();
    // Every member has the right shape, but `d` belongs to another key than `x`/`y`: only the import can tell.
    const mismatched = { ...signingKeys.previous, x: signingKeys.current.x, y: signingKeys.current.y };
    const gate = gateWith({
      env: { ...SELF_HOSTED_ENV, GATE_SIGNING_KEY: JSON.stringify({ keys: [signingKeys.current, mismatched] }) },
    });
    expect(problemsOf({ ...env, ...gate.env })).toEqual([]);
    const token = await mintToken({ sub: "keyring" });

    const answers = [
      await gate.call("GET", "/healthz"),
      await gate.call("GET", "/openapi.json"),
      await gate.call("GET", "/.well-known/jwks.json"),
      await gate.call("GET", "/v1/chatkit/sessions", { token }),
      await gate.call("GET", "/v1/chatkit/sessions/cksess_abc", { token }),
      await gate.call("POST", "/v1/chatkit/sessions/cksess_abc/cancel", { token }),
      await gate.call("POST", "/v1/chatkit/sessions", { token }),
      await gate.call("POST", "/chatkit", { token, body: "{}" }),
    ];

    for (const answer of answers) {
      expect(await errorOf(answer)).toEqual({
        status: 503,
        code: "config_invalid",
        message: "GATE_SIGNING_KEY key #2 is not a usable P-256 private key",
      });
    }
    expect(eventsOf(lines, "config_invalid")).toEqual([
      {
        level: "error",
        event: "config_invalid",
        problems: ["GATE_SIGNING_KEY key #2 is not a usable P-256 private key"],
      },
    ]);
    expect(JSON.stringify(lines)).not.toContain(signingKeys.previous.d as string);
    expect(peers.calls).toEqual([]);
    expect(await kvEntries("")).toEqual([]);
  });
});
