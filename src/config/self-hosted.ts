import type { ChatkitConfigurationParam } from "../chatkit/types";
import { isPlainObject, SECRET_HINT, type SettingsReader } from "./reader";

/** `hosted`: OpenAI-hosted sessions. `self-hosted`: the gate issues its own sessions and proxies to the app's server. */
export type ChatKitMode = "hosted" | "self-hosted";

/** The largest ChatKit request body by default, inclusive: ample for any message, and for a short voice clip. */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;
/**
 * The highest `CHATKIT_MAX_REQUEST_BYTES` allowed. The body is held whole to
 * check its `type` before forwarding, and decoding plus `JSON.parse` need
 * several times its size again; an isolate's 128 MB is shared by the requests
 * it runs at once, so 8 MiB leaves room for a few of those at a time.
 */
export const MAX_REQUEST_BYTES_LIMIT = 8 * 1024 * 1024;
/** Smaller than the smallest ChatKit request with a real message: such a cap is a typo. */
export const MIN_REQUEST_BYTES_LIMIT = 1024;
/** Rotation needs two or three keys; more is a mistake, and each costs an import when an isolate starts. */
export const MAX_SIGNING_KEYS = 8;
/** A `kid` travels in every assertion and client secret header: short, printable, without spaces. */
const KEY_ID = /^[\x21-\x7e]{1,128}$/;
/** A P-256 coordinate or private scalar is 32 bytes: exactly 43 unpadded base64url characters (RFC 7518 §6.2.1.2). */
const P256_MEMBER = /^[A-Za-z0-9_-]{43}$/;
/** `aud` is any StringOrURI; this keeps it to one printable token. */
const AUDIENCE = /^[\x21-\x7e]{1,512}$/;

/** A private EC P-256 JWK, reduced to the members the gate uses. */
export interface PrivateSigningJwk {
  kty: "EC";
  crv: "P-256";
  kid: string;
  /** The private scalar: never published, logged or sent anywhere. */
  d: string;
  x: string;
  y: string;
}

export interface SelfHostedConfig {
  /** The app's ChatKit endpoint (`CHATKIT_SERVER_URL`), as an absolute URL. */
  serverUrl: string;
  /** Where direct uploads go (`CHATKIT_UPLOAD_URL`); undefined answers `POST /chatkit/upload` with 404. */
  uploadUrl?: string;
  /** `GATE_SIGNING_KEY`: the first key signs assertions and seals new client secrets; all are published and still open secrets. */
  signingKeys: readonly [PrivateSigningJwk, ...PrivateSigningJwk[]];
  /** The `aud` of every assertion (`ASSERTION_AUDIENCE`, by default the origin of the server URL). */
  assertionAudience: string;
  /** The largest ChatKit request body, inclusive (`CHATKIT_MAX_REQUEST_BYTES`). */
  maxRequestBytes: number;
}

/** Settings that only hosted mode reads; set in self-hosted mode they would be silently ignored. */
export const HOSTED_ONLY_SETTINGS = ["OPENAI_API_KEY", "OPENAI_BASE_URL"] as const;
/** Settings that only self-hosted mode reads. */
export const SELF_HOSTED_ONLY_SETTINGS = [
  "CHATKIT_SERVER_URL",
  "CHATKIT_UPLOAD_URL",
  "GATE_SIGNING_KEY",
  "ASSERTION_AUDIENCE",
  "CHATKIT_MAX_REQUEST_BYTES",
] as const;
/**
 * `CHATKIT_CONFIGURATION` fields only OpenAI's hosted sessions apply. With a
 * self-hosted server the page sets them in its own ChatKit options, and the
 * gate cannot count files per message; only `file_upload.enabled` and
 * `file_upload.max_file_size` are enforced by the gate.
 */
export const HOSTED_ONLY_CHATKIT_CONFIGURATION = [
  "history",
  "automatic_thread_titling",
  "file_upload.max_files",
] as const;

/**
 * Values that say nothing in either mode: wrangler.toml ships OPENAI_BASE_URL
 * at its default, and an operator switching to self-hosted should not have
 * to delete it first. Any other value is an intent the mode would ignore.
 */
const INERT_DEFAULTS: Readonly<Record<string, string>> = { OPENAI_BASE_URL: "https://api.openai.com/v1" };

/** `CHATKIT_MODE`, `hosted` when unset. */
export function readMode(read: SettingsReader): ChatKitMode {
  const mode = read.string("CHATKIT_MODE") ?? "hosted";
  if (mode === "hosted" || mode === "self-hosted") return mode;
  read.problem("CHATKIT_MODE", "must be hosted or self-hosted");
  return "hosted";
}

/**
 * Reports every setting that only the other mode reads, so a half-migrated
 * deploy is `config_invalid` instead of quietly using neither setting.
 */
export function reportMixedSettings(
  read: SettingsReader,
  mode: ChatKitMode,
  chatkitConfiguration?: ChatkitConfigurationParam,
): void {
  const [foreign, other] =
    mode === "hosted" ? [SELF_HOSTED_ONLY_SETTINGS, "self-hosted"] : [HOSTED_ONLY_SETTINGS, "hosted"];
  for (const name of foreign) {
    const value = read.string(name);
    if (value !== undefined && value !== INERT_DEFAULTS[name]) {
      read.problem(name, `is only read in ${other} mode; remove it or set CHATKIT_MODE`);
    }
  }
  if (mode === "hosted" || chatkitConfiguration === undefined) return;
  const present = HOSTED_ONLY_CHATKIT_CONFIGURATION.filter((path) => {
    const [section, field] = path.split(".") as [keyof ChatkitConfigurationParam, string?];
    const value: unknown = chatkitConfiguration[section];
    return field === undefined ? value !== undefined : isPlainObject(value) && value[field] !== undefined;
  });
  if (present.length > 0) {
    // The page sets these in its own ChatKit options instead (docs/self-hosted.md).
    read.problem("CHATKIT_CONFIGURATION", `sets ${present.join(", ")}, which only hosted mode applies`);
  }
}

/** Reads the self-hosted settings; undefined when a required one is missing or invalid (the reader has the problems). */
export function readSelfHosted(read: SettingsReader): SelfHostedConfig | undefined {
  const serverUrl = read.required("CHATKIT_SERVER_URL") ? read.url("CHATKIT_SERVER_URL") : undefined;
  const uploadUrl = read.url("CHATKIT_UPLOAD_URL");
  const signingKeys = readSigningKeys(read);
  const audience = read.string("ASSERTION_AUDIENCE") ?? serverUrl?.origin;
  if (audience !== undefined && !AUDIENCE.test(audience)) {
    read.problem("ASSERTION_AUDIENCE", "must be printable characters without spaces");
  }
  const maxRequestBytes = read.integer(
    "CHATKIT_MAX_REQUEST_BYTES",
    DEFAULT_MAX_REQUEST_BYTES,
    MIN_REQUEST_BYTES_LIMIT,
    MAX_REQUEST_BYTES_LIMIT,
  );
  if (serverUrl === undefined || signingKeys === undefined || audience === undefined || !AUDIENCE.test(audience)) {
    return undefined;
  }
  return {
    serverUrl: serverUrl.href,
    uploadUrl: uploadUrl?.href,
    signingKeys,
    assertionAudience: audience,
    maxRequestBytes,
  };
}

const KEY_SHAPE = `must be a private EC P-256 JWK with a kid, or {"keys":[...]} of 1 to ${MAX_SIGNING_KEYS} of them`;

/**
 * `GATE_SIGNING_KEY`. Problems name the key by position, never by any of
 * its members, so no key material reaches a log or a 503 body.
 */
function readSigningKeys(read: SettingsReader): SelfHostedConfig["signingKeys"] | undefined {
  if (read.required("GATE_SIGNING_KEY", SECRET_HINT) === undefined) return undefined;
  const raw = read.json("GATE_SIGNING_KEY");
  const entries = isPlainObject(raw) ? ("keys" in raw ? raw.keys : [raw]) : undefined;
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_SIGNING_KEYS) {
    // Unset, it is already reported as required.
    if (raw !== undefined) read.problem("GATE_SIGNING_KEY", KEY_SHAPE);
    return undefined;
  }
  const keys: PrivateSigningJwk[] = [];
  for (const [index, entry] of entries.entries()) {
    const problem =
      signingKeyProblem(entry) ??
      (keys.some((key) => key.kid === entry.kid) ? "repeats an earlier key's kid" : undefined);
    if (problem !== undefined) {
      read.problem("GATE_SIGNING_KEY", `key #${index + 1} ${problem}`);
      continue;
    }
    const { kid, d, x, y } = entry as PrivateSigningJwk;
    keys.push({ kty: "EC", crv: "P-256", kid, d, x, y });
  }
  const [first, ...rest] = keys;
  return first !== undefined && keys.length === entries.length ? [first, ...rest] : undefined;
}

/** What is wrong with one key, as text that quotes none of its members. */
function signingKeyProblem(entry: unknown): string | undefined {
  if (!isPlainObject(entry)) return KEY_SHAPE;
  if (entry.kty !== "EC" || entry.crv !== "P-256") return "must have kty EC and crv P-256";
  if (![entry.d, entry.x, entry.y].every((member) => typeof member === "string" && P256_MEMBER.test(member))) {
    return "must have d (the private part), x and y as 43-character base64url values";
  }
  if (typeof entry.kid !== "string" || !KEY_ID.test(entry.kid)) {
    return "must have a kid of 1 to 128 printable characters, no spaces";
  }
  if ((entry.alg ?? "ES256") !== "ES256" || (entry.use ?? "sig") !== "sig")
    return "may only have alg ES256 and use sig";
  return undefined;
}
