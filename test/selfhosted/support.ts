import { exportJWK, generateKeyPair } from "jose";
import type { PrivateSigningJwk, SelfHostedConfig } from "../../src/config/self-hosted";

/** A private P-256 JWK as an operator would paste it: every member jose exports, plus a kid. */
export async function privateJwk(kid: string): Promise<PrivateSigningJwk & Record<string, unknown>> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid } as PrivateSigningJwk & Record<string, unknown>;
}

/** The gate's current and previous keys, and another gate's key that reuses the current kid. */
export const gateKeys = {
  current: await privateJwk("gate-2026-12"),
  previous: await privateJwk("gate-2026-06"),
  stranger: await privateJwk("gate-2026-12"),
};

/** The reduced form the configuration keeps. */
export const reduced = ({ kty, crv, kid, d, x, y }: PrivateSigningJwk): PrivateSigningJwk => ({
  kty,
  crv,
  kid,
  d,
  x,
  y,
});

export const SERVER_URL = "https://chat.example.com/api/chatkit";
export const UPLOAD_URL = "https://chat.example.com/api/upload";

/** A self-hosted configuration; `keys` come first-signs, like GATE_SIGNING_KEY. */
export function selfHosted(
  keys: PrivateSigningJwk[] = [gateKeys.current, gateKeys.previous],
  overrides: Partial<SelfHostedConfig> = {},
): SelfHostedConfig {
  const [first, ...rest] = keys.map(reduced) as [PrivateSigningJwk, ...PrivateSigningJwk[]];
  return {
    serverUrl: SERVER_URL,
    uploadUrl: UPLOAD_URL,
    signingKeys: [first, ...rest],
    assertionAudience: "https://chat.example.com",
    maxRequestBytes: 1024 * 1024,
    ...overrides,
  };
}

/** What a fake server saw of one forwarded request. */
export interface Received {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array;
  redirect: string;
  signal: AbortSignal;
}

type Answer = (received: Received) => Response | Promise<Response>;

/**
 * A ChatKit server stand-in, injected as `fetch`: records each request (its
 * body read in full, as a server would) and answers with `answer`.
 */
export class FakeServer {
  readonly received: Received[] = [];
  constructor(private readonly answer: Answer = () => Response.json({ ok: true })) {}

  readonly fetch = (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const body = new Uint8Array(await request.arrayBuffer());
    const received: Received = {
      url: request.url,
      method: request.method,
      headers: Object.fromEntries(request.headers),
      body,
      redirect: init?.redirect ?? "follow",
      signal: init?.signal as AbortSignal,
    };
    this.received.push(received);
    return this.answer(received);
  }) as typeof fetch;
}

export const bytesOf = (text: string) => new TextEncoder().encode(text);

/** A body sent as a stream in chunks, so the request has no Content-Length. */
export function streamOf(bytes: Uint8Array, chunk = 1000): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}
