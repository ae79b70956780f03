/** `Uint8Array.prototype.toBase64` (TC39, in newer runtimes), typed here since the TypeScript lib may not know it. */
type ToBase64 = (this: Uint8Array, options: { alphabet: "base64url"; omitPadding: boolean }) => string;
const toBase64 = (Uint8Array.prototype as { toBase64?: ToBase64 }).toBase64;
/** Bytes per String.fromCharCode call: far below any engine's argument limit. */
const CHUNK = 0x8000;

/** Unpadded base64url (RFC 4648 §5), the alphabet of JWTs and safe in KV keys. */
export function base64url(bytes: Uint8Array): string {
  // The runtime's own encoder where there is one; it runs on every proxied request (assertion, jti).
  if (toBase64 !== undefined) return toBase64.call(bytes, { alphabet: "base64url", omitPadding: true });
  let binary = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

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
