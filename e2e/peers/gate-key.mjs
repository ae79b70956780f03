// The gate's own signing key for self-hosted mode (GATE_SIGNING_KEY): a
// fresh EC P-256 key per run, as docs/self-hosted.md tells an operator to
// generate one. The private JWK goes to the worker's settings only; flows
// compare what the worker publishes with its public half, and sign
// assertions with it to call the ChatKit server without the gate.
import { exportJWK, generateKeyPair } from "jose";

/** `{ kid, privateJwk, publicJwk }` for a new ES256 key named `kid`. */
export async function gateSigningKey(kid) {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid },
    publicJwk: { ...(await exportJWK(publicKey)), kid },
  };
}
