// Signing keys and tokens for the in-process sections: an identity provider
// publishing one RS256 and one ES256 key, a shared HS256 secret, and a key
// it never publishes (for unknown-kid storms).
import { randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

/** `.test` (RFC 2606, for testing): the worker refuses the documentation domains (`example.*`) as placeholders. */
export const ISSUER = "https://idp.bench.test";
export const AUDIENCE = "chatkit-gate";
export const SUBJECT = "alice";
/** Tokens outlive the whole bench, including the JWKS section's simulated minutes. */
const TOKEN_SECONDS = 3600;

async function asymmetric(alg, kid) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/**
 * The HS256 secret as a Worker secret string: 64 hex characters. Read as
 * UTF-8 it is 64 bytes, as hex 32, as base64url 48: every reading is at least
 * the 32 bytes RFC 7518 §3.2 asks of an HS256 key, so whichever one the worker
 * uses, some signing key below matches it.
 */
function hs256Secret() {
  const secret = randomBytes(32).toString("hex");
  return {
    secret,
    readings: {
      utf8: new TextEncoder().encode(secret),
      hex: new Uint8Array(Buffer.from(secret, "hex")),
      base64url: new Uint8Array(Buffer.from(secret, "base64url")),
    },
  };
}

export async function createKeys() {
  return {
    RS256: await asymmetric("RS256", "bench-rsa"),
    ES256: await asymmetric("ES256", "bench-ec"),
    unpublished: await asymmetric("ES256", "never-published"),
    hs256: hs256Secret(),
  };
}

export const jwksOf = (keys) => ({ keys: [keys.RS256.jwk, keys.ES256.jwk] });

/**
 * A token the bench IdP would issue; `kid` and the signing key can be
 * overridden for the storm. `jti` makes a token unlike any other of the same
 * user and second, as a refreshed token is.
 */
export function mint(signingKey, alg, { kid, sub = SUBJECT, jti } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = kid === undefined ? { alg, typ: "JWT" } : { alg, kid, typ: "JWT" };
  const claims = { iss: ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + TOKEN_SECONDS };
  if (jti !== undefined) claims.jti = jti;
  return new SignJWT(claims).setProtectedHeader(header).sign(signingKey);
}

export const mintAsymmetric = (key, options = {}) => mint(key.privateKey, key.alg, { kid: key.kid, ...options });

/** Bound now, before the bench wraps importKey to count the worker's imports: the harness's own stay uncounted. */
const importKey = crypto.subtle.importKey.bind(crypto.subtle);

/** Imports an HS256 key once, for the floor: jose.jwtVerify with an already-imported key. */
export function importHmac(bytes) {
  return importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}
