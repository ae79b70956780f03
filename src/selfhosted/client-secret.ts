import { base64url as jose64 } from "jose";
import { base64url } from "../auth/encoding";
import { LruMap } from "../auth/lru";
import { MAX_TOKEN_LENGTH, readBearerCredential } from "../auth/token";
import type { StateValue } from "../chatkit/types";
import { isPlainObject } from "../config/reader";
import type { Workflow } from "../config/workflows";
import { parseJsonBytes } from "../http/body";
import { GateError } from "../http/errors";
import { type SecretFailure, secretError } from "./failures";
import type { Keyring } from "./signing-keys";

/**
 * A client secret is a compact JWE (RFC 7516), `dir` + `A256GCM`, sealed with
 * a key derived from a signing key (see {@link Keyring}). Only this gate can
 * make or read one: it is unguessable because forging it means breaking
 * AES-GCM, and its random `jti` and IV make every secret unique. It is never
 * stored: the session's KV record is found from the sealed `sid` and `own`.
 *
 * The format is narrow and fixed, so it is written here on WebCrypto rather
 * than with jose's general JWE code, which would add about 5 KiB gzip to the
 * worker; test/selfhosted/client-secret.test.ts opens these secrets with jose
 * to show they are standard JWEs.
 */

/**
 * The longest secret accepted or issued, in characters: the same bound the
 * gate puts on any bearer token (src/auth/token.ts), so an Authorization
 * header never grows past what proxies and Workers accept.
 */
export const MAX_CLIENT_SECRET_LENGTH = MAX_TOKEN_LENGTH;
/**
 * How many opened secrets an isolate remembers, forgetting the least recently
 * used first; each entry is small (see {@link MAX_CACHED_SECRET_LENGTH}).
 */
export const MAX_OPENED_SECRETS = 512;
/** Secrets longer than this (sessions with large state) are opened on every request instead of cached, bounding memory to about 2 MB. */
const MAX_CACHED_SECRET_LENGTH = 2048;
/** AES-GCM's standard 96-bit nonce; random per secret, so a key seals about 2^32 secrets before nonce reuse is a risk. */
const IV_BYTES = 12;
/** AES-GCM's full 128-bit tag; a shorter one would weaken forgery resistance. */
const TAG_BYTES = 16;
/** Unpadded base64url lengths of the IV and the tag. */
const IV_CHARS = Math.ceil((IV_BYTES * 4) / 3);
const TAG_CHARS = Math.ceil((TAG_BYTES * 4) / 3);
/** 128 bits of randomness in each secret, whatever else it holds. */
const JTI_BYTES = 16;
/** Session ids carry 128 random bits and keep the `cksess_` shape every route and KV key already accepts. */
const SESSION_ID_BYTES = 16;

const HEADER_ALG = "dir";
const HEADER_ENC = "A256GCM";
const SEGMENT = /^[A-Za-z0-9_-]*$/;

/** What a secret grants: one session of one user, until it expires. */
export interface SessionGrant {
  sessionId: string;
  /** The KV owner key of the user (see `ownerKeyFor`), so the record is found without the user's token. */
  ownerKey: string;
  /** The ChatKit `user`, asserted to the server as `sub`. */
  user: string;
  /** Unix seconds: the session's `expires_at`. */
  expiresAt: number;
  workflow?: Workflow;
  stateVariables?: Readonly<Record<string, StateValue>>;
}

/** The sealed payload: short names, since it travels on every request. */
interface SealedClaims {
  sid: string;
  own: string;
  sub: string;
  exp: number;
  jti: string;
  wf?: Workflow;
  sv?: Record<string, StateValue>;
}

/** A fresh session id: `cksess_` and 128 random bits. */
export function newSessionId(): string {
  return `cksess_${base64url(crypto.getRandomValues(new Uint8Array(SESSION_ID_BYTES)))}`;
}

/**
 * Seals a grant under the keyring's current key. A grant too large to fit in
 * {@link MAX_CLIENT_SECRET_LENGTH} (very large state variables) is
 * `invalid_request`: the session could never be used.
 */
export async function sealClientSecret(keyring: Keyring, grant: SessionGrant): Promise<string> {
  const claims: SealedClaims = {
    sid: grant.sessionId,
    own: grant.ownerKey,
    sub: grant.user,
    exp: grant.expiresAt,
    jti: base64url(crypto.getRandomValues(new Uint8Array(JTI_BYTES))),
  };
  if (grant.workflow !== undefined) claims.wf = grant.workflow;
  if (grant.stateVariables !== undefined && Object.keys(grant.stateVariables).length > 0) {
    claims.sv = { ...grant.stateVariables };
  }
  const kid = keyring.sealingKid;
  const key = keyring.secretKeys.get(kid) as CryptoKey;
  const header = base64url(encode(JSON.stringify({ alg: HEADER_ALG, enc: HEADER_ENC, kid })));
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encode(header), tagLength: TAG_BYTES * 8 },
      key,
      encode(JSON.stringify(claims)),
    ),
  );
  const ciphertext = sealed.subarray(0, -TAG_BYTES);
  const tag = sealed.subarray(-TAG_BYTES);
  const secret = `${header}..${base64url(iv)}.${base64url(ciphertext)}.${base64url(tag)}`;
  if (secret.length > MAX_CLIENT_SECRET_LENGTH) {
    throw new GateError("invalid_request", "The session's state variables are too large for a self-hosted session");
  }
  return secret;
}

/** The secret from `Authorization: Bearer <secret>`, or why there is none. */
export function readSecretBearer(header: string | null | undefined): string | SecretFailure {
  // No format check here: `open` tells a JWS, a truncated secret and noise apart.
  const bearer = readBearerCredential(header);
  return bearer.kind === "token" ? bearer.token : bearer.kind;
}

/**
 * Opens a secret, or says exactly why it is refused. Opened secrets are
 * cached per keyring, by their full text, until their `exp`: a repeat request
 * costs a map lookup. The cache cannot accept what a fresh open would refuse:
 * only a secret that opened is stored, byte-identical text is required to
 * find it, expiry is checked on every use, and a new configuration (a key
 * rotated out) gets a new keyring and so an empty cache.
 */
export async function openClientSecret(
  keyring: Keyring,
  secret: string,
  nowSeconds: number,
): Promise<SessionGrant | SecretFailure> {
  const cache = cacheFor(keyring);
  const cached = cache.get(secret);
  if (cached !== undefined) {
    if (nowSeconds < cached.expiresAt) return cached;
    cache.delete(secret);
    return "expired";
  }
  const opened = await open(keyring, secret);
  if (typeof opened === "string") return opened;
  if (nowSeconds >= opened.expiresAt) return "expired";
  if (secret.length <= MAX_CACHED_SECRET_LENGTH) cache.set(secret, opened);
  return opened;
}

/**
 * The session grant of a request's Authorization header; throws the 401
 * `invalid_token` {@link GateError} for any refusal.
 */
export async function authenticateSecret(
  keyring: Keyring,
  authorization: string | null | undefined,
  nowSeconds: number,
): Promise<SessionGrant> {
  const secret = readSecretBearer(authorization);
  const opened = SECRET_FAILURES.has(secret) ? secret : await openClientSecret(keyring, secret, nowSeconds);
  if (typeof opened === "string") throw secretError(opened as SecretFailure);
  return opened;
}

const SECRET_FAILURES: ReadonlySet<string> = new Set<SecretFailure>(["absent", "too_large", "malformed"]);

const caches = new WeakMap<Keyring, LruMap<string, SessionGrant>>();

function cacheFor(keyring: Keyring): LruMap<string, SessionGrant> {
  let cache = caches.get(keyring);
  if (cache === undefined) {
    cache = new LruMap(MAX_OPENED_SECRETS);
    caches.set(keyring, cache);
  }
  return cache;
}

/** Every structural check runs before any cryptography, so hostile input costs almost nothing. */
async function open(keyring: Keyring, secret: string): Promise<SessionGrant | SecretFailure> {
  if (secret.length > MAX_CLIENT_SECRET_LENGTH) return "too_large";
  const parts = secret.split(".");
  const [headerPart = "", keyPart, ivPart = "", ciphertextPart = "", tagPart = ""] = parts;
  const header = parseJson(decodeSegment(headerPart));
  if (header === undefined) return "malformed";
  if (header.alg !== HEADER_ALG || header.enc !== HEADER_ENC) return "algorithm";
  if (parts.length < 5) return "truncated";
  if (parts.length > 5 || keyPart !== "") return "malformed";
  if (ivPart.length < IV_CHARS || tagPart.length < TAG_CHARS || ciphertextPart === "") return "truncated";
  const iv = decodeSegment(ivPart);
  const ciphertext = decodeSegment(ciphertextPart);
  const tag = decodeSegment(tagPart);
  if (iv?.byteLength !== IV_BYTES || tag?.byteLength !== TAG_BYTES || ciphertext === undefined) return "malformed";
  const key = typeof header.kid === "string" ? keyring.secretKeys.get(header.kid) : undefined;
  if (key === undefined) return "unknown_key";

  const sealed = new Uint8Array(ciphertext.byteLength + TAG_BYTES);
  sealed.set(ciphertext);
  sealed.set(tag, ciphertext.byteLength);
  let plaintext: Uint8Array;
  try {
    plaintext = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv, additionalData: encode(headerPart), tagLength: TAG_BYTES * 8 },
        key,
        sealed,
      ),
    );
  } catch {
    return "undecryptable";
  }
  return toGrant(parseJson(plaintext)) ?? "malformed";
}

/** Only this gate seals, so a payload of another shape means a bug or an old format: refused all the same. */
function toGrant(claims: Record<string, unknown> | undefined): SessionGrant | undefined {
  if (claims === undefined) return undefined;
  const { sid, own, sub, exp, wf, sv } = claims;
  if (typeof sid !== "string" || typeof own !== "string" || typeof sub !== "string" || !Number.isSafeInteger(exp)) {
    return undefined;
  }
  const grant: SessionGrant = { sessionId: sid, ownerKey: own, user: sub, expiresAt: exp as number };
  if (wf !== undefined) grant.workflow = wf as Workflow;
  if (sv !== undefined) grant.stateVariables = sv as Record<string, StateValue>;
  return grant;
}

/** Strict base64url: the alphabet only, and canonical, so no two texts decode to the same bytes. */
function decodeSegment(segment: string): Uint8Array | undefined {
  if (!SEGMENT.test(segment)) return undefined;
  try {
    const bytes = jose64.decode(segment);
    return base64url(bytes) === segment ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** A JSON object from strict UTF-8, or undefined for anything else. */
function parseJson(bytes: Uint8Array | undefined): Record<string, unknown> | undefined {
  const parsed = bytes === undefined ? undefined : parseJsonBytes(bytes);
  return typeof parsed === "object" && isPlainObject(parsed.value) ? parsed.value : undefined;
}

const encoder = new TextEncoder();

function encode(text: string): Uint8Array {
  return encoder.encode(text);
}
