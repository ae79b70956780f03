import { expect } from "vitest";
import type { Gate } from "../support/app";
import type { CallOptions } from "../support/http";

export interface Created {
  session_id: string;
  client_secret: string;
  expires_at: number;
  created_at: number;
  status: string;
}

/** Starts a session through the gate's create route, as the SPA does. */
export async function startSession(gate: Gate, token: string, body?: unknown): Promise<Created> {
  const response = await gate.call("POST", "/v1/chatkit/sessions", { token, body });
  expect(response.status).toBe(201);
  return (await response.json()) as Created;
}

export const THREADS_LIST = '{"type":"threads.list","params":{"limit":20,"order":"desc"}}';

/** A `/chatkit` request as ChatKit's fetch sends it, with the session's secret. */
export function chatkitCall(
  secret: string | undefined,
  body: string = THREADS_LIST,
  headers: Record<string, string> = {},
) {
  const options: CallOptions = { body, headers: { "content-type": "application/json", ...headers } };
  if (secret !== undefined) options.token = secret;
  return options;
}
