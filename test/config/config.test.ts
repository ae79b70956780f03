import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/config";
import { QUOTA_BINDING } from "../../src/config/quotas";
import settings from "../../src/config/settings.json";
import { callWith } from "../support/app";
import { TEST_ENV } from "../support/env";
import { clearKv } from "../support/http";
import { mintToken, Peers } from "../support/peers";

declare module "vitest" {
  interface ProvidedContext {
    /** wrangler.toml's [vars] names by environment, as wrangler reads them ("(top level)" and each [env.*]). */
    wranglerVarNames: Record<string, string[]>;
    /** wrangler.toml's worker name by environment. */
    wranglerWorkerNames: Record<string, string | undefined>;
    /** .dev.vars.example as committed. */
    devVarsExample: string;
  }
}

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
      mode: {
        kind: "hosted",
        openaiApiKey: TEST_ENV.OPENAI_API_KEY,
        openaiBaseUrl: "https://api.openai.test/v1",
        chatkitConfiguration: { history: { enabled: true, recent_threads: 5 }, file_upload: { enabled: false } },
      },
      workflow: { id: "wf_default", version: "3" },
      expiresAfterSeconds: 300,
      maxRequestsPerMinute: 12,
      allowedOrigins: ["https://app.example.com", "http://localhost:5173"],
      auth: { clockToleranceSeconds: 30, hs256Secret: undefined, userIds: { mode: "raw" } },
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
        requireVerifiedEmail: false,
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
      AUTH_ISSUER: "https://tenant.idp.test/",
      AUTH_AUDIENCE: "api",
    });

    expect(config.mode).toEqual({ kind: "hosted", openaiApiKey: "sk-x", openaiBaseUrl: "https://api.openai.com/v1" });
    expect(config).toMatchObject({
      workflow: { id: "wf_1" },
      expiresAfterSeconds: 600,
      maxRequestsPerMinute: 10,
      allowedOrigins: [],
      auth: { clockToleranceSeconds: 30 },
    });
    expect(config.auth.providers.get("https://tenant.idp.test/")).toMatchObject({
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
      "CHATKIT_CONFIGURATION has an unknown field; allowed: automatic_thread_titling, file_upload, history",
    ],
    [
      "configuration with a bad type",
      { CHATKIT_CONFIGURATION: '{"history":{"enabled":"yes"}}' },
      "CHATKIT_CONFIGURATION.history.enabled must be a boolean",
    ],
    [
      "upload size over 512 MB",
      { CHATKIT_CONFIGURATION: '{"file_upload":{"max_file_size":513}}' },
      "CHATKIT_CONFIGURATION.file_upload.max_file_size must be at most 512",
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
    ["JWKS URL over http", { AUTH_JWKS_URL: "http://idp.test/keys" }, "AUTH_JWKS_URL must use https"],
    ["algorithm none", { AUTH_ALGORITHMS: "RS256,none" }, "AUTH_ALGORITHMS must not include none"],
    [
      "algorithm HS256 without a secret",
      { AUTH_ALGORITHMS: "HS256" },
      "AUTH_ALGORITHMS lists HS256, which needs the AUTH_HS256_SECRET",
    ],
    [
      "HS256 mixed with RS256",
      { AUTH_ALGORITHMS: "HS256,RS256" },
      "AUTH_ALGORITHMS must be HS256 alone for a shared secret",
    ],
    ["HS384", { AUTH_ALGORITHMS: "HS384" }, "AUTH_ALGORITHMS must be HS256 alone for a shared secret"],
    ["unknown algorithm", { AUTH_ALGORITHMS: "RS257" }, "AUTH_ALGORITHMS may only list"],
    [
      "empty claim path segment",
      { AUTH_USER_CLAIM: "user..id" },
      "AUTH_USER_CLAIM must be a claim dot path such as user.id",
    ],
    [
      "prototype claim path",
      { AUTH_USER_CLAIM: "__proto__.x" },
      "AUTH_USER_CLAIM must be a claim dot path such as user.id",
    ],
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
      "AUTH_PROVIDERS[0].audience is required: the aud your tokens carry (see docs/providers.md)",
    ],
    [
      "a provider with an unknown field",
      { ...NO_SINGLE, AUTH_PROVIDERS: '[{"issuer":"https://a.test","audience":"x","jku":"y"}]' },
      "AUTH_PROVIDERS[0] must be an object with only",
    ],
    [
      "two providers sharing a prefix",
      { ...NO_SINGLE, AUTH_PROVIDERS: TWO("p|", "p|") },
      "AUTH_PROVIDERS needs a non-empty user_prefix per provider, none the start of another",
    ],
    [
      "two providers, one without a prefix",
      { ...NO_SINGLE, AUTH_PROVIDERS: TWO("p|", "") },
      "AUTH_PROVIDERS needs a non-empty user_prefix per provider, none the start of another",
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
    [
      "a short USER_ID_SECRET",
      { USER_ID_MODE: "hmac", USER_ID_SECRET: "short" },
      "USER_ID_SECRET must be at least 32 characters",
    ],
    ["an unknown USER_ID_MODE", { USER_ID_MODE: "sha256" }, "USER_ID_MODE must be raw (the default) or hmac"],
    [
      "USER_ID_MODE=hmac without its secret",
      { USER_ID_MODE: "hmac" },
      "USER_ID_SECRET is required when USER_ID_MODE=hmac",
    ],
    [
      "USER_ID_SECRET without USER_ID_MODE",
      { USER_ID_SECRET: "u".repeat(40) },
      "USER_ID_SECRET is set but USER_ID_MODE is not hmac",
    ],
    [
      "USER_ID_SECRET with USER_ID_MODE=raw",
      { USER_ID_MODE: "raw", USER_ID_SECRET: "u".repeat(40) },
      "USER_ID_SECRET is set but USER_ID_MODE is not hmac",
    ],
    [
      "USER_ID_SECRET equal to AUTH_HS256_SECRET",
      {
        AUTH_ALGORITHMS: "HS256",
        AUTH_HS256_SECRET: "shared-secret-0123456789abcdef-0123",
        USER_ID_MODE: "hmac",
        USER_ID_SECRET: "shared-secret-0123456789abcdef-0123",
      },
      "USER_ID_SECRET must differ from AUTH_HS256_SECRET",
    ],
    [
      "two providers whose prefixes are distinct but not prefix-free",
      { ...NO_SINGLE, AUTH_PROVIDERS: TWO("acme", "acme:") },
      "AUTH_PROVIDERS needs a non-empty user_prefix per provider, none the start of another",
    ],
    [
      "two providers, the second prefix starting with the first",
      { ...NO_SINGLE, AUTH_PROVIDERS: TWO("a|b|", "a|") },
      "none the start of another",
    ],
    [
      "AUTH_ALLOW_UNVERIFIED_EMAIL not a boolean",
      { AUTH_USER_CLAIM: "email", AUTH_ALLOW_UNVERIFIED_EMAIL: "yes" },
      "AUTH_ALLOW_UNVERIFIED_EMAIL must be true or false",
    ],
    [
      "AUTH_ALLOW_UNVERIFIED_EMAIL with a user claim that is not an email",
      { AUTH_ALLOW_UNVERIFIED_EMAIL: "true" },
      "AUTH_ALLOW_UNVERIFIED_EMAIL only applies to an email user claim",
    ],
    [
      "AUTH_ALLOW_UNVERIFIED_EMAIL together with AUTH_PROVIDERS",
      {
        AUTH_ISSUER: "",
        AUTH_AUDIENCE: "",
        AUTH_USER_PREFIX: "",
        AUTH_ALLOW_UNVERIFIED_EMAIL: "true",
        AUTH_PROVIDERS: '[{"issuer":"https://a.test","audience":"x","user_claim":"email"}]',
      },
      "AUTH_PROVIDERS cannot be combined with",
    ],
    [
      "a provider's allow_unverified_email given as a string",
      {
        ...NO_SINGLE,
        AUTH_PROVIDERS:
          '[{"issuer":"https://a.test","audience":"x","user_claim":"email","allow_unverified_email":"true"}]',
      },
      "AUTH_PROVIDERS[0].allow_unverified_email must be true or false",
    ],
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
      "CHATKIT_CLIENT_STATE_VARIABLES must not list a CHATKIT_STATE_FROM_CLAIMS variable",
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
      // Algorithm names and USER_ID_MODE's values are vocabulary the message may use, not secrets.
      if (text.length > 3 && !/^(HS|RS)\d+|^(hmac|raw)$/.test(text)) expect(problems[0]).not.toContain(text);
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
        {
          issuer: "https://access.test",
          audience: "aud-tag",
          user_claim: "email",
          user_prefix: "c|",
          allow_unverified_email: true,
        },
        { issuer: "https://google.test", audience: "client", user_claim: "email", user_prefix: "g|" },
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
        requireVerifiedEmail: false,
      },
      {
        issuer: "https://b.test",
        audiences: ["z"],
        keys: "jwks",
        jwksUrl: new URL("https://b.test/jwks"),
        algorithms: ["ES256"],
        userClaim: ["user", "id"],
        userPrefix: "b|",
        requireVerifiedEmail: false,
      },
      {
        issuer: "supabase",
        audiences: ["authenticated"],
        keys: "secret",
        jwksUrl: undefined,
        algorithms: ["HS256"],
        userClaim: ["sub"],
        userPrefix: "s|",
        requireVerifiedEmail: false,
      },
      expect.objectContaining({ issuer: "https://access.test", userClaim: ["email"], requireVerifiedEmail: false }),
      expect.objectContaining({ issuer: "https://google.test", userClaim: ["email"], requireVerifiedEmail: true }),
    ]);
  });

  it.each([
    ["email", true],
    ["user.email", true],
    ["https://example.com/email", true],
    ["mail", true],
    ["emailAddress", true],
    ["sub", false],
    ["user.id", false],
  ])("requires email_verified for the user claim %s: %s", (claim, required) => {
    const provider = [...parseConfig({ ...TEST_ENV, AUTH_USER_CLAIM: claim }).auth.providers.values()][0];

    expect(provider?.requireVerifiedEmail).toBe(required);
  });

  it("reads USER_ID_MODE=hmac with its secret", () => {
    const secret = "user-id-secret-0123456789abcdef-0123";
    const config = parseConfig({ ...TEST_ENV, USER_ID_MODE: "hmac", USER_ID_SECRET: secret });

    expect(config.auth.userIds).toEqual({ mode: "hmac", secret });
  });

  it("reports every problem at once", () => {
    expect(problemsFor({ OPENAI_API_KEY: "", AUTH_ISSUER: "", SESSION_EXPIRES_AFTER_SECONDS: "x" })).toEqual([
      "OPENAI_API_KEY is required: a secret (wrangler secret put; locally .dev.vars)",
      "SESSION_EXPIRES_AFTER_SECONDS must be a whole number from 1 to 600",
      "AUTH_ISSUER is required: the exact iss of your tokens (see docs/providers.md)",
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

/** Dotenv lines as a settings object (comments and blank lines skipped). */
function dotenv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim()))
      .flatMap((match) => (match ? [[match[1], match[2]]] : [])),
  );
}

/** Every setting name unset: a deployment configured only by what a test passes. */
const ALL_UNSET = Object.fromEntries([...settings.vars, ...settings.secrets].map((name) => [name, ""]));

describe("Should refuse placeholder values, naming the placeholder and never the value", () => {
  const example = dotenv(inject("devVarsExample"));

  it("answers 503 config_invalid for an unedited .dev.vars.example", async () => {
    expect(Object.keys(example)).toEqual(
      expect.arrayContaining(["OPENAI_API_KEY", "CHATKIT_WORKFLOW_ID", "AUTH_ISSUER", "AUTH_AUDIENCE"]),
    );
    const response = await callWith({ env: { ...ALL_UNSET, ...example } }, "GET", "/healthz");

    expect(response.status).toBe(503);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("config_invalid");
    for (const name of ["OPENAI_API_KEY", "CHATKIT_WORKFLOW_ID", "AUTH_ISSUER", "AUTH_AUDIENCE"]) {
      expect(error.message).toContain(`${name} is still a placeholder`);
    }
    for (const value of ["sk-proj", "wf_", "your-tenant.us.auth0.com", "chatkit-gate.example.com"]) {
      expect(error.message).not.toContain(value);
    }
  });

  it("answers 200 once the example's placeholders are replaced", async () => {
    const edited = {
      ...example,
      OPENAI_API_KEY: "sk-proj-Abc123",
      CHATKIT_WORKFLOW_ID: "wf_68df4b13b3588190a09d19288d4610ec",
      AUTH_ISSUER: "https://acme.us.auth0.com/",
      AUTH_AUDIENCE: "https://chat.acme.test",
    };
    const response = await callWith({ env: { ...ALL_UNSET, ...edited } }, "GET", "/healthz");

    expect(response.status).toBe(200);
  });

  it.each([
    ["an API key ending in ...", { OPENAI_API_KEY: "sk-proj-..." }, "OPENAI_API_KEY", '"..."'],
    ["an API key ending in …", { OPENAI_API_KEY: "sk-proj-abc…" }, "OPENAI_API_KEY", '"…"'],
    ["a workflow id wf_...", { CHATKIT_WORKFLOW_ID: "wf_..." }, "CHATKIT_WORKFLOW_ID", '"..."'],
    ["a your-tenant issuer", { AUTH_ISSUER: "https://your-tenant.us.auth0.com/" }, "AUTH_ISSUER", 'a "your-" host'],
    [
      "an example.com audience",
      { AUTH_AUDIENCE: "https://chatkit-gate.example.com" },
      "AUTH_AUDIENCE",
      "the documentation domain example.com",
    ],
    [
      "a JWKS URL with a <tenant> slot",
      { AUTH_JWKS_URL: "https://<tenant>.auth0.test/.well-known/jwks.json" },
      "AUTH_JWKS_URL",
      "an <angle-bracket> slot",
    ],
    [
      "a provider entry's <tenant-id> issuer",
      {
        ...NO_SINGLE,
        AUTH_PROVIDERS: '[{"issuer":"https://login.microsoftonline.com/<tenant-id>/v2.0","audience":"x"}]',
      },
      "AUTH_PROVIDERS[0].issuer",
      "an <angle-bracket> slot",
    ],
    [
      "a provider entry's example.com audience",
      { ...NO_SINGLE, AUTH_PROVIDERS: '[{"issuer":"https://a.test","audience":"https://api.example.com"}]' },
      "AUTH_PROVIDERS[0].audience",
      "the documentation domain example.com",
    ],
    ["an HS256 secret left as ...", { AUTH_HS256_SECRET: "..." }, "AUTH_HS256_SECRET", '"..."'],
  ])("%s", (_name, overrides, name, mark) => {
    expect(problemsFor(overrides)).toContain(`${name} is still a placeholder (${mark})`);
  });
});

describe("Should know every setting it reads, in settings.json and in wrangler.toml", () => {
  const secrets = new Set(settings.secrets);
  const known = new Set([...settings.vars, ...settings.secrets]);

  /** Parses `env` through a Proxy and returns every name the parser looked up. */
  const namesRead = (env: Record<string, unknown>): Set<string> => {
    const read = new Set<string>();
    const proxy = new Proxy(env, {
      get(target, key, receiver) {
        if (typeof key === "string") read.add(key);
        return Reflect.get(target, key, receiver);
      },
      has(target, key) {
        if (typeof key === "string") read.add(key);
        return Reflect.has(target, key);
      },
      getOwnPropertyDescriptor(target, key) {
        if (typeof key === "string") read.add(key);
        return Reflect.getOwnPropertyDescriptor(target, key);
      },
    });
    try {
      parseConfig(proxy);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
    }
    return read;
  };

  // Enough configurations to walk every branch that reads a setting.
  const read = new Set(
    [
      { ...ALL_UNSET, ...TEST_ENV },
      { ...ALL_UNSET, ...TEST_ENV, USER_ID_MODE: "hmac", USER_ID_SECRET: "u".repeat(40), AUTH_USER_CLAIM: "email" },
      { ...ALL_UNSET, ...TEST_ENV, AUTH_ALGORITHMS: "HS256", AUTH_HS256_SECRET: "h".repeat(40) },
      { ...ALL_UNSET, ...TEST_ENV, ...NO_SINGLE, AUTH_PROVIDERS: TWO("a|", "b|") },
      { ...ALL_UNSET, ...TEST_ENV, CHATKIT_MODE: "self-hosted", CHATKIT_SERVER_URL: "https://chatkit.test/chatkit" },
      {
        ...ALL_UNSET,
        ...TEST_ENV,
        ACCESS_POLICY: '{"require": [{"claim": "email_verified", "equals": true}]}',
        SESSION_DAILY_LIMIT_PER_USER: "5",
        SESSION_MAX_ACTIVE_PER_USER: "2",
        SESSION_LIMITS_PER_WORKFLOW: '{"support": {"daily": 1}}',
        ADMIN_POLICY: '{"require": [{"claim": "roles", "contains": "admin"}]}',
        ADMIN_AUDIENCE: "chatkit-gate-admin",
      },
      {},
    ].flatMap((env) => [...namesRead(env)]),
  );

  it("reads only names listed in src/config/settings.json", () => {
    expect(read.size).toBeGreaterThan(20);
    // A quota limit also looks for its Durable Object binding, which is not a setting.
    expect([...read].filter((name) => !known.has(name) && name !== QUOTA_BINDING)).toEqual([]);
  });

  it.each(Object.entries(inject("wranglerVarNames")))(
    "declares every var, and no secret, in the [vars] of %s",
    (_environment, vars) => {
      expect([...read].filter((name) => !secrets.has(name) && !vars.includes(name) && name !== QUOTA_BINDING)).toEqual(
        [],
      );
      expect([...vars].sort()).toEqual([...settings.vars].sort());
      expect(vars.filter((name) => secrets.has(name))).toEqual([]);
    },
  );
});

describe("Should keep a bare wrangler deploy away from the deployed environments", () => {
  it("gives the top level a name of its own, and each environment its own", () => {
    const { "(top level)": top, ...environments } = inject("wranglerWorkerNames");

    expect(Object.keys(environments)).toEqual(["staging", "production"]);
    expect(environments).toEqual({ staging: "chatkit-gate-staging", production: "chatkit-gate" });
    expect(top).toBeTypeOf("string");
    expect(Object.values(environments)).not.toContain(top);
  });
});

describe("Should parse the mode into the configuration, and refuse settings of the other mode", () => {
  const SELF_HOSTED = {
    ...TEST_ENV,
    CHATKIT_MODE: "self-hosted",
    OPENAI_API_KEY: "",
    OPENAI_BASE_URL: "",
    CHATKIT_CONFIGURATION: JSON.stringify({ file_upload: { enabled: true, max_file_size: 2 } }),
    CHATKIT_SERVER_URL: "https://chat.example.com/api/chatkit",
    GATE_SIGNING_KEY: "",
  };

  it("self-hosted: no OpenAI key or workflow needed; the upload rules come from CHATKIT_CONFIGURATION", async () => {
    const { exportJWK, generateKeyPair } = await import("jose");
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const key = { ...(await exportJWK(privateKey)), kid: "k1" };
    const config = parseConfig({
      ...SELF_HOSTED,
      GATE_SIGNING_KEY: JSON.stringify(key),
      CHATKIT_WORKFLOW_ID: "",
      CHATKIT_WORKFLOW_VERSION: "",
    });

    expect(config.mode).toMatchObject({
      kind: "self-hosted",
      serverUrl: "https://chat.example.com/api/chatkit",
      assertionAudience: "https://chat.example.com",
      maxRequestBytes: 1048576,
      uploads: { enabled: true, maxBytes: 2 * 1024 * 1024 + 16 * 1024 },
    });
    expect(config.workflow).toBeUndefined();
    expect(config.expiresAfterSeconds).toBe(300);
    expect(config.maxRequestsPerMinute).toBe(12);
  });

  it.each([
    [
      "GATE_SIGNING_KEY in hosted mode",
      { GATE_SIGNING_KEY: '{"kty":"EC"}' },
      "GATE_SIGNING_KEY is only read in self-hosted mode; remove it or set CHATKIT_MODE",
    ],
    [
      "CHATKIT_SERVER_URL in hosted mode",
      { CHATKIT_SERVER_URL: "https://chat.example.com/" },
      "CHATKIT_SERVER_URL is only read in self-hosted mode; remove it or set CHATKIT_MODE",
    ],
    [
      "OPENAI_API_KEY in self-hosted mode",
      { ...SELF_HOSTED, OPENAI_API_KEY: "sk-x" },
      "OPENAI_API_KEY is only read in hosted mode; remove it or set CHATKIT_MODE",
    ],
    [
      "CHATKIT_CONFIGURATION.history in self-hosted mode",
      { ...SELF_HOSTED, CHATKIT_CONFIGURATION: '{"history":{"enabled":true}}' },
      "CHATKIT_CONFIGURATION sets history, which only hosted mode applies",
    ],
    [
      "self-hosted mode without its signing key",
      SELF_HOSTED,
      "GATE_SIGNING_KEY is required: a secret (wrangler secret put; locally .dev.vars)",
    ],
    [
      "a workflow version without an id in self-hosted mode",
      { ...SELF_HOSTED, CHATKIT_WORKFLOW_ID: "" },
      "CHATKIT_WORKFLOW_VERSION is set without CHATKIT_WORKFLOW_ID; set both or neither",
    ],
    ["an unknown mode", { CHATKIT_MODE: "proxy" }, "CHATKIT_MODE must be hosted or self-hosted"],
  ])("%s is config_invalid", async (_name, overrides, problem) => {
    expect(problemsFor(overrides)).toContain(problem);
    const response = await callWith({ env: overrides }, "GET", "/healthz");
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("config_invalid");
  });
});
