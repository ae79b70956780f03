/**
 * Cheap checks on the raw Authorization header, done before any parsing or
 * cryptography so hostile input costs us almost nothing.
 */

/**
 * The longest token accepted, in characters. Entra ID tokens with 200 group
 * claims, the largest common case, stay near 10 KiB; anything longer is
 * refused before it is decoded.
 */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Three base64url segments; the signature may only be empty for `alg: none`, which we refuse later. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export type BearerResult =
  | { kind: "token"; token: string }
  | { kind: "absent" }
  | { kind: "malformed" }
  | { kind: "too_large" };

/** Extracts a compact JWT from `Authorization: Bearer <token>` (RFC 6750 §2.1). */
export function readBearer(header: string | undefined): BearerResult {
  return readBearerCredential(header, COMPACT_JWS);
}

/**
 * The credential in `Authorization: Bearer <credential>` (RFC 6750 §2.1), at
 * most {@link MAX_TOKEN_LENGTH} characters and, when `format` is given,
 * matching it. The IdP token and the self-hosted client secret share it, so
 * both get the same scheme rules and the same size bound.
 */
export function readBearerCredential(header: string | null | undefined, format?: RegExp): BearerResult {
  if (header === null || header === undefined || header.trim() === "") return { kind: "absent" };
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) return header.length > MAX_TOKEN_LENGTH ? { kind: "too_large" } : { kind: "malformed" };
  const token = match[1] as string;
  if (token.length > MAX_TOKEN_LENGTH) return { kind: "too_large" };
  if (format !== undefined && !format.test(token)) return { kind: "malformed" };
  return { kind: "token", token };
}
