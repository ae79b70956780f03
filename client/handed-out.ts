/** What the client remembers of a session whose secret it handed to ChatKit: never the secret. */
export interface HandedOutSession {
  session_id: string;
  /** Unix seconds, the worker's clock. */
  expires_at: number;
}

/**
 * A session is forgotten this long after its `expires_at`: the browser's
 * clock may run ahead of the worker's, and cancelling an expired session
 * costs the worker nothing, while missing a live one leaves it usable.
 */
const CLOCK_SKEW_GRACE_SECONDS = 300;

/**
 * The sessions whose client secrets were handed out, keyed by a SHA-256
 * digest of the secret so that ChatKit's refresh (`getClientSecret(current)`)
 * names the session it replaces without the client ever storing a secret.
 *
 * SubtleCrypto exists only in secure contexts (https, localhost). Elsewhere
 * a refresh is taken to replace the most recently handed-out session.
 */
export class HandedOut {
  private readonly sessions = new Map<string, HandedOutSession>();

  async remember(secret: string, session: HandedOutSession): Promise<void> {
    const now = Date.now() / 1000;
    for (const [key, known] of this.sessions) {
      if (known.expires_at + CLOCK_SKEW_GRACE_SECONDS < now) this.sessions.delete(key);
    }
    this.sessions.set((await fingerprint(secret)) ?? session.session_id, {
      session_id: session.session_id,
      expires_at: session.expires_at,
    });
  }

  /** The session a secret belongs to, if this client handed it out and still remembers it. */
  async find(secret: string): Promise<HandedOutSession | undefined> {
    const key = await fingerprint(secret);
    if (key !== undefined) return this.sessions.get(key);
    return [...this.sessions.values()].at(-1);
  }

  forget(sessionId: string): void {
    for (const [key, known] of this.sessions) if (known.session_id === sessionId) this.sessions.delete(key);
  }

  clear(): void {
    this.sessions.clear();
  }
}

async function fingerprint(secret: string): Promise<string | undefined> {
  // Outside secure contexts `crypto` exists but `crypto.subtle` does not.
  const subtle: SubtleCrypto | undefined = typeof crypto === "undefined" ? undefined : crypto.subtle;
  if (subtle === undefined) return undefined;
  const digest = new Uint8Array(await subtle.digest("SHA-256", new TextEncoder().encode(secret)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
