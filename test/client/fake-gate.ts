import { SELF } from "cloudflare:test";
import type { FetchLike } from "../../client/index";
import { BASE, kvEntries } from "../support/http";
import { nowSeconds } from "../support/peers";

/** One request as it left the client's fetch. */
export interface SentCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** The body object exactly as handed to fetch (compared by identity across a resend). */
  rawBody: RequestInit["body"];
  /** The bytes as text, as the network would carry them. */
  text: string;
  /** The signal exactly as handed to fetch. */
  signal: AbortSignal | null | undefined;
}

const CHATKIT_PATHS = new Set(["/chatkit", "/chatkit/upload"]);

/**
 * The browser's view of a self-hosted gate at `BASE`: the session routes are
 * the real worker (SELF, with its KV and faked peers), and `/chatkit` and
 * `/chatkit/upload` are a stand-in that accepts a bearer only when it is the
 * client secret of a session the worker created and still records as
 * active and unexpired, as the self-hosted worker does. Requests to any
 * other origin are recorded and answered 200.
 */
export class FakeGate {
  /** Requests to `/chatkit` and `/chatkit/upload`, accepted or refused. */
  readonly chatkitCalls: SentCall[] = [];
  /** Requests to any other origin. */
  readonly foreignCalls: SentCall[] = [];
  /** client_secret → session_id, for every session the worker created. */
  private readonly sessions = new Map<string, string>();
  /** Awaited before a `/chatkit` request's secret is checked, to order a test's steps. */
  latch: Promise<unknown> | undefined;
  /** Refuse every `/chatkit` request, whatever its secret. */
  refuseAll = false;
  /** The answer to an accepted `/chatkit` request; default `{"ok": true}`. */
  answer: (call: SentCall) => Response | Promise<Response> = () => Response.json({ ok: true });

  readonly fetch: FetchLike = async (input, init) => {
    // A relative URL is the page's, as in a browser.
    const { origin, pathname } = new URL(input, (globalThis as { location?: { href: string } }).location?.href);
    if (origin === BASE && pathname.startsWith("/v1/")) return this.sessionRoute(input, init);
    const call = await record(input, init);
    if (origin === BASE && CHATKIT_PATHS.has(pathname)) {
      this.chatkitCalls.push(call);
      await this.latch;
      if (this.refuseAll || !(await this.accepts(call.headers.authorization))) {
        return Response.json(
          { error: { code: "invalid_token", message: "The client secret is not valid" } },
          { status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' } },
        );
      }
      return this.answer(call);
    }
    this.foreignCalls.push(call);
    return new Response("elsewhere");
  };

  /** The secrets `/chatkit` saw, in order ("" for none). */
  bearers(): string[] {
    return this.chatkitCalls.map((call) => call.headers.authorization?.replace(/^Bearer /, "") ?? "");
  }

  /** The session id a secret belongs to. */
  sessionOf(secret: string): string | undefined {
    return this.sessions.get(secret);
  }

  private async sessionRoute(input: string, init: RequestInit): Promise<Response> {
    const response = await SELF.fetch(input, init);
    if (init.method === "POST" && new URL(input).pathname === "/v1/chatkit/sessions" && response.ok) {
      const created = (await response.clone().json()) as { session_id: string; client_secret: string };
      this.sessions.set(created.client_secret, created.session_id);
    }
    return response;
  }

  private async accepts(authorization: string | undefined): Promise<boolean> {
    const sessionId = this.sessions.get(authorization?.replace(/^Bearer /, "") ?? "");
    if (sessionId === undefined) return false;
    const record = (await kvEntries()).find((entry) => entry.name.endsWith(`:${sessionId}`))?.value as
      | { status: string; expires_at: number }
      | undefined;
    return record?.status === "active" && record.expires_at > nowSeconds();
  }
}

async function record(url: string, init: RequestInit): Promise<SentCall> {
  const request = new Request(new URL(url, (globalThis as { location?: { href: string } }).location?.href), init);
  return {
    url,
    method: request.method,
    headers: Object.fromEntries(request.headers),
    rawBody: init.body,
    // Bytes, decoded: workerd warns on .text() of a form body.
    text: new TextDecoder().decode(await request.arrayBuffer()),
    signal: init.signal,
  };
}
