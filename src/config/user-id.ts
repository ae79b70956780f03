import { SECRET_HINT, type SettingsReader } from "./reader";

/** RFC 2104 §3 and RFC 7518 §3.2: an HMAC-SHA256 key under 256 bits is guessable. */
export const MIN_SECRET_LENGTH = 32;

/**
 * How the verified claim becomes the ChatKit `user`. `raw` sends
 * `prefix + claim`; `hmac` sends a keyed pseudonym, so OpenAI never sees the
 * raw email or id, and also keys KV names and log ids with the secret.
 */
export type UserIdConfig = { mode: "raw" } | { mode: "hmac"; secret: string };

/**
 * Reads `USER_ID_MODE` and `USER_ID_SECRET`. Pseudonymisation is asked for
 * explicitly and fails closed: `hmac` without its secret, or a secret without
 * `hmac`, is a problem rather than a guess, so a deployment that asked for
 * pseudonyms never sends a raw id because a secret went missing.
 *
 * @param hs256Secret the token-signing secret, which must never double as the pseudonym key
 */
export function readUserIds(read: SettingsReader, hs256Secret: string | undefined): UserIdConfig | undefined {
  const mode = read.string("USER_ID_MODE") ?? "raw";
  const secret = readSecret(read, "USER_ID_SECRET");
  if (mode !== "raw" && mode !== "hmac") {
    read.problem("USER_ID_MODE", "must be raw (the default) or hmac");
    return undefined;
  }
  if (mode === "raw") {
    if (secret !== undefined) {
      read.problem("USER_ID_SECRET", "is set but USER_ID_MODE is not hmac");
    }
    return { mode: "raw" };
  }
  if (secret === undefined) {
    read.problem("USER_ID_SECRET", `is required when USER_ID_MODE=hmac: ${SECRET_HINT}`);
    return undefined;
  }
  // Anyone who can mint tokens would otherwise also hold the pseudonym key.
  if (secret === hs256Secret) read.problem("USER_ID_SECRET", "must differ from AUTH_HS256_SECRET");
  return { mode: "hmac", secret };
}

/** A secret setting of at least {@link MIN_SECRET_LENGTH} characters. */
export function readSecret(read: SettingsReader, name: string): string | undefined {
  const secret = read.string(name);
  // A short secret is still returned, so the settings that depend on it are judged as if it were set.
  if (secret !== undefined && secret.length < MIN_SECRET_LENGTH) {
    read.problem(name, `must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  return secret;
}
