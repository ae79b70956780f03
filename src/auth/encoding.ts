import { base64url as jose64 } from "jose";

/**
 * Unpadded base64url (RFC 4648 §5), the alphabet of JWTs and safe in KV keys.
 * jose's encoder, already in the bundle, uses the runtime's own
 * `Uint8Array.prototype.toBase64` where there is one; it runs on every
 * proxied request (assertion, jti).
 */
export const base64url = (bytes: Uint8Array): string => jose64.encode(bytes);

const encoder = new TextEncoder();

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** HMAC keys by secret, imported once per isolate instead of once per request. */
const hmacKeys = new Map<string, CryptoKey>();

export async function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (key === undefined) {
    key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    hmacKeys.set(secret, key);
  }
  return key;
}

export async function hmacSha256(secret: string, text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(text)));
}
