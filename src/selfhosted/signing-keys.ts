import { base64url } from "jose";
import type { PrivateSigningJwk, SelfHostedConfig } from "../config/self-hosted";
import { GateError } from "../http/errors";

/**
 * How long a server may cache `/.well-known/jwks.json`. To rotate, publish
 * the new key second in `GATE_SIGNING_KEY`, wait this long, then move it
 * first: no server ever meets a kid it has not fetched yet.
 */
export const JWKS_MAX_AGE_SECONDS = 300;

/**
 * HKDF `info` for the client-secret key, so the AES key derived from a
 * signing key's private scalar can never equal or reveal anything used for
 * signing, and a future format gets a new label instead of reusing keys.
 */
const CLIENT_SECRET_KEY_LABEL = "chatkit-gate/client-secret/A256GCM/v1";

/** A published key: only public members, with how it is used. */
export interface PublicSigningJwk {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
  kid: string;
  alg: "ES256";
  use: "sig";
}

export interface PublicJwks {
  keys: PublicSigningJwk[];
}

/** The imported keys of one configuration. */
export interface Keyring {
  /** Signs assertions: the first configured key. */
  signer: { kid: string; key: CryptoKey };
  /** AES-256-GCM keys for client secrets by kid; the first configured key's seals new ones, every configured key opens. */
  secretKeys: ReadonlyMap<string, CryptoKey>;
  /** The kid whose secret key seals new client secrets. */
  sealingKid: string;
}

/**
 * The keyring of a configuration, imported and derived once per isolate and
 * shared by concurrent requests. A key the runtime refuses (a point off the
 * curve, or `d` that does not match `x`/`y`) is `config_invalid`, naming
 * the key by position only.
 */
export function keyringFor(keys: SelfHostedConfig["signingKeys"]): Promise<Keyring> {
  let keyring = keyrings.get(keys);
  if (keyring === undefined) {
    keyring = importKeyring(keys);
    keyrings.set(keys, keyring);
  }
  return keyring;
}

/** By the configuration's key list, which lives as long as the parsed configuration. */
const keyrings = new WeakMap<SelfHostedConfig["signingKeys"], Promise<Keyring>>();

async function importKeyring(keys: SelfHostedConfig["signingKeys"]): Promise<Keyring> {
  const imported = await Promise.all(
    keys.map(async (jwk, index) => {
      try {
        const [signing, secret] = await Promise.all([importSigningKey(jwk), deriveSecretKey(jwk)]);
        return { kid: jwk.kid, signing, secret };
      } catch {
        throw new GateError("config_invalid", `GATE_SIGNING_KEY key #${index + 1} is not a usable P-256 private key`);
      }
    }),
  );
  const first = imported[0] as (typeof imported)[number];
  return {
    signer: { kid: first.kid, key: first.signing },
    secretKeys: new Map(imported.map(({ kid, secret }) => [kid, secret])),
    sealingKid: first.kid,
  };
}

/** Non-extractable: the private key never leaves WebCrypto again once imported. */
function importSigningKey({ kty, crv, d, x, y }: PrivateSigningJwk): Promise<CryptoKey> {
  return crypto.subtle.importKey("jwk", { kty, crv, d, x, y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
}

/** HKDF-SHA256 over the private scalar, bound to the label and the kid. */
async function deriveSecretKey({ d, kid }: PrivateSigningJwk): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", base64url.decode(d), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(0),
      info: new TextEncoder().encode(`${CLIENT_SECRET_KEY_LABEL}\u0000${kid}`),
    },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/**
 * What `/.well-known/jwks.json` serves: every configured key, signing key
 * first, with only its public members. Built member by member, so a private
 * member can never slip through.
 */
export function publicJwks(keys: SelfHostedConfig["signingKeys"]): PublicJwks {
  return {
    keys: keys.map(({ x, y, kid }) => ({ kty: "EC", crv: "P-256", x, y, kid, alg: "ES256", use: "sig" })),
  };
}
