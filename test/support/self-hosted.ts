import { exportJWK, generateKeyPair } from "jose";
import { SERVER_ORIGIN } from "./peers";

/** A private P-256 JWK as an operator would paste it into GATE_SIGNING_KEY. */
async function privateJwk(kid: string): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid };
}

/** The gate's signing keys (current first, previous still published), and another gate's key with the same kid. */
export const signingKeys = {
  current: await privateJwk("gate-test-2"),
  previous: await privateJwk("gate-test-1"),
  otherGate: await privateJwk("gate-test-2"),
};

export const SERVER_URL = `${SERVER_ORIGIN}/api/chatkit`;
export const UPLOAD_URL = `${SERVER_ORIGIN}/api/upload`;
export const AUDIENCE = "https://chatkit-server.example";

/**
 * The test settings switched to self-hosted mode: the hosted-only settings
 * cleared, and a CHATKIT_CONFIGURATION without the fields only OpenAI
 * applies. Everything else (identity, workflows, state variables, limits,
 * origins) is TEST_ENV's, so both modes are judged on the same settings.
 */
export const SELF_HOSTED_ENV = {
  CHATKIT_MODE: "self-hosted",
  OPENAI_API_KEY: "",
  OPENAI_BASE_URL: "",
  CHATKIT_CONFIGURATION: JSON.stringify({ file_upload: { enabled: false } }),
  CHATKIT_SERVER_URL: SERVER_URL,
  CHATKIT_UPLOAD_URL: UPLOAD_URL,
  GATE_SIGNING_KEY: JSON.stringify({ keys: [signingKeys.current, signingKeys.previous] }),
  ASSERTION_AUDIENCE: AUDIENCE,
} as const;

/** The same, with uploads on and capped at 1 MB. */
export const UPLOADS_ON = {
  CHATKIT_CONFIGURATION: JSON.stringify({ file_upload: { enabled: true, max_file_size: 1 } }),
} as const;

/** One of the two modes a session-route behaviour is run in, on the same settings. */
export interface ModeCase {
  mode: "hosted" | "self-hosted";
  /** Laid over the test bindings: nothing for hosted mode, {@link SELF_HOSTED_ENV} for self-hosted. */
  env: Readonly<Record<string, unknown>>;
  /** Calls to OpenAI one create and one cancel make: none in self-hosted mode, where the gate issues sessions. */
  calls: { create: number; cancel: number };
}

export const HOSTED: ModeCase = { mode: "hosted", env: {}, calls: { create: 1, cancel: 1 } };
export const SELF_HOSTED: ModeCase = { mode: "self-hosted", env: SELF_HOSTED_ENV, calls: { create: 0, cancel: 0 } };
/** Both modes, for `describe.each(MODES)("... ($mode mode)", ...)`. */
export const MODES: readonly ModeCase[] = [HOSTED, SELF_HOSTED];
