import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/config";
import { callWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv } from "../support/http";
import { mintToken, Peers } from "../support/peers";

/** Clears the single-issuer settings, as an AUTH_PROVIDERS deployment would. */
const NO_SINGLE = { AUTH_ISSUER: "", AUTH_AUDIENCE: "", AUTH_USER_PREFIX: "" };
const TWO = (a: string, b: string) =>
  JSON.stringify([
    { issuer: "https://a.test", audience: "x", user_prefix: a },
    { issuer: "https://b.test", audience: "y", user_prefix: b },
  ]);

const problemsFor = (overrides: Record<string, unknown>): readonly string[] => {
  try {
    parseConfig({ ...TEST_ENV, ...overrides });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

describe("parseConfig", () => {
  it("parses the test settings into a typed config", () => {
    const config = parseConfig(TEST_ENV);

    expect(config).toMatchObject({
      openaiBaseUrl: "https://api.openai.test/v1",
      workflow: { id: "wf_default", version: "3" },
      expiresAfterSeconds: 300,
      maxRequestsPerMinute: 12,
      allowedOrigins: ["https://app.example.com", "http://localhost:5173"],
      auth: { clockToleranceSeconds: 30, hs256Secret: undefined, userIdSecret: undefined },
    });
    expect([...config.auth.providers.values()]).toEqual([
      {
        issuer: "https://idp.test",
        audiences: ["chatkit-gate", "other-api"],
        keys: "jwks",
        jwksUrl: undefined,
        algorithms: ["RS256", "ES256"],
        userClaim: ["sub"],
        userPrefix: "idp|",
      },
    ]);
    expect([...config.workflowAliases]).toEqual([
      ["support", { id: "wf_support", version: "7" }],
      ["sales", { id: "wf_sales" }],
    ]);
    expect([...config.clientStateVariables]).toEqual(["locale", "theme"]);
  });

  it("applies the contract's defaults when only the required settings are given", () => {
    const config = parseConfig({
      OPENAI_API_KEY: "sk-x",
      CHATKIT_WORKFLOW_ID: "wf_1",
      AUTH_ISSUER: "https://tenant.example.com/",
      AUTH_AUDIENCE: "api",
    });

    expect(config).toMatchObject({
      openaiBaseUrl: "https://api.openai.com/v1",
      workflow: { id: "wf_1" },
      chatkitConfiguration: undefined,
      expiresAfterSeconds: 600,
      maxRequestsPerMinute: 10,
      allowedOrigins: [],
      auth: { clockToleranceSeconds: 30 },
    });
    expect(config.auth.providers.get("https://tenant.example.com/")).toMatchObject({
      algorithms: ["RS256", "ES256"],
      userClaim: ["sub"],
      userPrefix: "",
    });
  });

  it("accepts structured wrangler vars as well as JSON strings", () => {
    const config = parseConfig({
      ...TEST_ENV,
      CHATKIT_WORKFLOWS: { a: { id: "wf_a" } },
      SESSION_EXPIRES_AFTER_SECONDS: 60,
    });

    expect(config.workflowAliases.get("a")).toEqual({ id: "wf_a" });
    expect(config.expiresAfterSeconds).toBe(60);
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ["missing API key", { OPENAI_API_KEY: "" }, "OPENAI_API_KEY is required"],
    ["API key with a space", { OPENAI_API_KEY: "sk-a b" }, "OPENAI_API_KEY must not contain spaces"],
    ["base URL over http", { OPENAI_BASE_URL: "http://api.openai.com/v1" }, "OPENAI_BASE_URL must use https"],
    ["base URL not a URL", { OPENAI_BASE_URL: "api.openai.com" }, "OPENAI_BASE_URL must be an absolute URL"],
    ["missing workflow", { CHATKIT_WORKFLOW_ID: " " }, "CHATKIT_WORKFLOW_ID is required"],
    ["workflow id with spaces", { CHATKIT_WORKFLOW_ID: "wf 1" }, "CHATKIT_WORKFLOW_ID must be an id"],
    ["workflows not JSON", { CHATKIT_WORKFLOWS: "{oops" }, "CHATKIT_WORKFLOWS must be valid JSON"],
    ["workflows an array", { CHATKIT_WORKFLOWS: "[]" }, "CHATKIT_WORKFLOWS must be a JSON object"],
    ["workflow alias without id", { CHATKIT_WORKFLOWS: '{"a":{"version":"1"}}' }, "CHATKIT_WORKFLOWS alias #1 must be"],
    [
      "workflow alias with extra keys",
      { CHATKIT_WORKFLOWS: '{"a":{"id":"wf","user":"x"}}' },
      "CHATKIT_WORKFLOWS alias #1",
    ],
    [
      "workflow alias name with spaces",
      { CHATKIT_WORKFLOWS: '{"a b":{"id":"wf"}}' },
      "CHATKIT_WORKFLOWS alias #1 must be 1 to 64",
    ],
    [
      "configuration with an unknown key",
      { CHATKIT_CONFIGURATION: '{"scope":{}}' },
      "CHATKIT_CONFIGURATION has an unknown key",
    ],
    [
      "configuration with a bad type",
      { CHATKIT_CONFIGURATION: '{"history":{"enabled":"yes"}}' },
      "CHATKIT_CONFIGURATION .history.enabled",
    ],
    [
      "upload size over 512 MB",
      { CHATKIT_CONFIGURATION: '{"file_upload":{"max_file_size":513}}' },
      ".file_upload.max_file_size",
    ],
    [
      "state variable name with spaces",
      { CHATKIT_CLIENT_STATE_VARIABLES: "a b" },
      "CHATKIT_CLIENT_STATE_VARIABLES must list",
    ],
    [
      "expiry 0",
      { SESSION_EXPIRES_AFTER_SECONDS: "0" },
      "SESSION_EXPIRES_AFTER_SECONDS must be a whole number from 1 to 600",
    ],
    ["expiry 601", { SESSION_EXPIRES_AFTER_SECONDS: "601" }, "SESSION_EXPIRES_AFTER_SECONDS must be"],
    ["expiry 1.5", { SESSION_EXPIRES_AFTER_SECONDS: "1.5" }, "SESSION_EXPIRES_AFTER_SECONDS must be"],
    ["rate limit 0", { SESSION_MAX_REQUESTS_PER_MINUTE: "0" }, "SESSION_MAX_REQUESTS_PER_MINUTE must be"],
    ["missing issuer", { AUTH_ISSUER: "" }, "AUTH_ISSUER is required"],
    [
      "issuer not a URL without a JWKS URL",
      { AUTH_ISSUER: "my-idp" },
      "AUTH_ISSUER must be an https URL when AUTH_JWKS_URL is unset",
    ],
    ["missing audience", { AUTH_AUDIENCE: " , " }, "AUTH_AUDIENCE is required"],
    ["JWKS URL over http", { AUTH_JWKS_URL: "http://idp.example.com/keys" }, "AUTH_JWKS_URL must use https"],
    ["algorithm none", { AUTH_ALGORITHMS: "RS256,none" }, "AUTH_ALGORITHMS must not include none"],
    [
      "algorithm HS256 without a secret",
      { AUTH_ALGORITHMS: "HS256" },
      "AUTH_ALGORITHMS lists HS256, which needs the AUTH_HS256_SECRET",
    ],
    ["HS256 mixed with RS256", { AUTH_ALGORITHMS: "HS256,RS256" }, "AUTH_ALGORITHMS must be exactly HS256"],
    ["HS384", { AUTH_ALGORITHMS: "HS384" }, "AUTH_ALGORITHMS must be exactly HS256"],
    ["unknown algorithm", { AUTH_ALGORITHMS: "RS257" }, "AUTH_ALGORITHMS may only list"],
    ["empty claim path segment", { AUTH_USER_CLAIM: "user..id" }, "AUTH_USER_CLAIM must be a claim name"],
    ["prototype claim path", { AUTH_USER_CLAIM: "__proto__.x" }, "AUTH_USER_CLAIM must be a claim name"],
    ["tolerance over 300", { AUTH_CLOCK_TOLERANCE_SECONDS: "301" }, "AUTH_CLOCK_TOLERANCE_SECONDS must be"],
    [
      "both AUTH_PROVIDERS and AUTH_ISSUER",
      { AUTH_PROVIDERS: '[{"issuer":"https://a.test","audience":"x"}]' },
      "AUTH_PROVIDERS cannot be combined with AUTH_ISSUER",
    ],
    [
      "AUTH_PROVIDERS not an array",
      { ...NO_SINGLE, AUTH_PROVIDERS: '{"issuer":"https://a.test"}' },
      "AUTH_PROVIDERS must be a JSON array",
    ],
    ["AUTH_PROVIDERS empty", { ...NO_SINGLE, AUTH_PROVIDERS: "[]" }, "AUTH_PROVIDERS must be a JSON array"],
    [
      "a provider without audience",
      { ...NO_SINGLE, AUTH_PROVIDERS: '[{"issuer":"https://a.test"}]' },
      "AUTH_PROVIDERS[0] .audience is required",
    ],
    [
      "a provider with an unknown field",
      { ...NO_SINGLE, AUTH_PROVIDERS: '[{"issuer":"https://a.test","audience":"x","jku":"y"}]' },
      "AUTH_PROVIDERS[0] must be an object with only",
    ],
    [
      "two providers sharing a prefix",
      { ...NO_SINGLE, AUTH_PROVIDERS: TWO("p|", "p|") },
      "needs a distinct, non-empty user_prefix",
    ],
    [
      "two providers, one without a prefix",
      { ...NO_SINGLE, AUTH_PROVIDERS: TWO("p|", "") },
      "needs a distinct, non-empty user_prefix",
    ],
    [
      "the same issuer twice",
      {
        ...NO_SINGLE,
        AUTH_PROVIDERS:
          '[{"issuer":"https://a.test","audience":"x","user_prefix":"a"},{"issuer":"https://a.test","audience":"y","user_prefix":"b"}]',
      },
      "lists the same issuer twice",
    ],
    [
      "a provider JWKS over http",
      { ...NO_SINGLE, AUTH_PROVIDERS: '[{"issuer":"https://a.test","audience":"x","jwks_url":"http://a.test/k"}]' },
      "AUTH_PROVIDERS[0].jwks_url must use https",
    ],
    [
      "a short HS256 secret",
      { AUTH_HS256_SECRET: "short", AUTH_ALGORITHMS: "HS256" },
      "AUTH_HS256_SECRET must be at least 32 characters",
    ],
    [
      "an HS256 secret nobody uses",
      { AUTH_HS256_SECRET: "x".repeat(40) },
      "AUTH_HS256_SECRET is set but no provider accepts HS256",
    ],
    [
      "HS256 with a JWKS URL",
      { AUTH_HS256_SECRET: "x".repeat(40), AUTH_ALGORITHMS: "HS256", AUTH_JWKS_URL: "https://idp.test/keys" },
      "AUTH_JWKS_URL must be unset for HS256",
    ],
    ["a short USER_ID_SECRET", { USER_ID_SECRET: "short" }, "USER_ID_SECRET must be at least 32 characters"],
    [
      "state from claims not an object",
      { CHATKIT_STATE_FROM_CLAIMS: '["plan"]' },
      "CHATKIT_STATE_FROM_CLAIMS must be a JSON object",
    ],
    [
      "state from claims with a bad path",
      { CHATKIT_STATE_FROM_CLAIMS: '{"plan":"a..b"}' },
      "CHATKIT_STATE_FROM_CLAIMS entry #1 must map",
    ],
    [
      "a client variable also filled from claims",
      { CHATKIT_STATE_FROM_CLAIMS: '{"locale":"locale"}' },
      "CHATKIT_CLIENT_STATE_VARIABLES must not list a variable that CHATKIT_STATE_FROM_CLAIMS fills",
    ],
    ["origin with a path", { ALLOWED_ORIGINS: "https://app.example.com/" }, "ALLOWED_ORIGINS must list exact origins"],
    ["wildcard origin", { ALLOWED_ORIGINS: "*" }, "ALLOWED_ORIGINS must list exact origins"],
  ];

  it.each(bad)("names the setting for %s, never its value", (_name, overrides, problem) => {
    const problems = problemsFor(overrides);

    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(problem);
    for (const value of Object.values(overrides)) {
      const text = String(value).trim();
      // Algorithm names are vocabulary the message may use, not secrets.
      if (text.length > 3 && !/^(HS|RS)\d+/.test(text)) expect(problems[0]).not.toContain(text);
    }
  });

  it("parses AUTH_PROVIDERS into one provider per issuer", () => {
    const config = parseConfig({
      ...TEST_ENV,
      ...NO_SINGLE,
      AUTH_HS256_SECRET: "s".repeat(32),
      AUTH_PROVIDERS: JSON.stringify([
        { issuer: "https://a.test", audience: "x,y", user_prefix: "a|" },
        {
          issuer: "https://b.test",
          audience: ["z"],
          jwks_url: "https://b.test/jwks",
          algorithms: "ES256",
          user_claim: "user.id",
          user_prefix: "b|",
        },
        { issuer: "supabase", audience: "authenticated", algorithms: ["HS256"], user_prefix: "s|" },
      ]),
    });

    expect([...config.auth.providers.values()]).toEqual([
      {
        issuer: "https://a.test",
        audiences: ["x", "y"],
        keys: "jwks",
        jwksUrl: undefined,
        algorithms: ["RS256", "ES256"],
        userClaim: ["sub"],
        userPrefix: "a|",
      },
      {
        issuer: "https://b.test",
        audiences: ["z"],
        keys: "jwks",
        jwksUrl: new URL("https://b.test/jwks"),
        algorithms: ["ES256"],
        userClaim: ["user", "id"],
        userPrefix: "b|",
      },
      {
        issuer: "supabase",
        audiences: ["authenticated"],
        keys: "secret",
        jwksUrl: undefined,
        algorithms: ["HS256"],
        userClaim: ["sub"],
        userPrefix: "s|",
      },
    ]);
  });

  it("reports every problem at once", () => {
    expect(problemsFor({ OPENAI_API_KEY: "", AUTH_ISSUER: "", SESSION_EXPIRES_AFTER_SECONDS: "x" })).toEqual([
      "OPENAI_API_KEY is required: run `npx wrangler secret put OPENAI_API_KEY` (locally: put it in .dev.vars)",
      "SESSION_EXPIRES_AFTER_SECONDS must be a whole number from 1 to 600",
      "AUTH_ISSUER is required: the exact `iss` of your tokens, e.g. https://your-tenant.us.auth0.com/ (docs/providers.md has each provider's)",
    ]);
  });
});

describe("Should answer 503 config_invalid on every route when the configuration is bad", () => {
  let peers: Peers;
  beforeEach(async () => {
    await clearKv();
    peers = new Peers().install();
  });
  afterEach(() => vi.restoreAllMocks());

  it.each([
    ["GET", "/healthz"],
    ["POST", "/v1/chatkit/sessions"],
    ["GET", "/v1/chatkit/sessions"],
    ["GET", "/v1/chatkit/sessions/cksess_1"],
    ["POST", "/v1/chatkit/sessions/cksess_1/cancel"],
    ["POST", "/v1/chatkit/sessions/cancel_all"],
    ["OPTIONS", "/v1/chatkit/sessions"],
    ["GET", "/nope"],
  ])("%s %s", async (method, path) => {
    const response = await callWith({ env: { OPENAI_API_KEY: "sk proj secret", AUTH_AUDIENCE: "" } }, method, path, {
      token: await mintToken(),
    });

    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("config_invalid");
    expect(body.error.message).toContain("OPENAI_API_KEY must not contain spaces");
    expect(body.error.message).toContain("AUTH_AUDIENCE is required");
    expect(body.error.message).not.toContain("secret");
    expect(peers.calls).toEqual([]);
  });
});
