/**
 * The worker settings every test starts from. Values are distinctive so the
 * hygiene tests can look for them in logs, responses and KV.
 */
export const TEST_ENV = {
  OPENAI_API_KEY: "sk-test-SECRET-api-key-0123456789",
  OPENAI_BASE_URL: "https://api.openai.test/v1",
  CHATKIT_WORKFLOW_ID: "wf_default",
  CHATKIT_WORKFLOW_VERSION: "3",
  CHATKIT_WORKFLOWS: JSON.stringify({ support: { id: "wf_support", version: "7" }, sales: { id: "wf_sales" } }),
  CHATKIT_CONFIGURATION: JSON.stringify({
    history: { enabled: true, recent_threads: 5 },
    file_upload: { enabled: false },
  }),
  CHATKIT_CLIENT_STATE_VARIABLES: "locale,theme",
  SESSION_EXPIRES_AFTER_SECONDS: "300",
  SESSION_MAX_REQUESTS_PER_MINUTE: "12",
  AUTH_ISSUER: "https://idp.test",
  AUTH_AUDIENCE: "chatkit-gate,other-api",
  AUTH_JWKS_URL: "",
  AUTH_ALGORITHMS: "RS256,ES256",
  AUTH_USER_CLAIM: "sub",
  AUTH_USER_PREFIX: "idp|",
  AUTH_CLOCK_TOLERANCE_SECONDS: "30",
  ALLOWED_ORIGINS: "https://app.example.com,http://localhost:5173",
} as const;
