import type { ChatSessionResource } from "./types";

/**
 * How far ChatKit's clock may be from ours when its `expires_at` is checked.
 * Both sides keep NTP time; the rest covers the create call's own duration.
 */
export const CHATKIT_CLOCK_SKEW_SECONDS = 30;

/** The field of ChatKit's answer that does not match what was asked. */
export type SessionMismatch = "id" | "status" | "user" | "expires_at";

/** What a create asked for, and when (unix seconds by our clock). */
export interface CreateExpectation {
  user: string;
  expiresAfterSeconds: number;
  /** Just before the call. */
  startedAt: number;
  /** Just after the answer. */
  endedAt: number;
}

/**
 * Checks a created session: `active`, for our `user`, and ending within the
 * window we asked for (`expires_after` from creation, give or take
 * {@link CHATKIT_CLOCK_SKEW_SECONDS}). A session that would outlive the
 * operator's setting, or belongs to another user, must never be handed out.
 */
export function createdMismatch(
  session: ChatSessionResource,
  expected: CreateExpectation,
): SessionMismatch | undefined {
  if (session.status !== "active") return "status";
  if (session.user !== expected.user) return "user";
  const earliest = expected.startedAt - CHATKIT_CLOCK_SKEW_SECONDS;
  const latest = expected.endedAt + expected.expiresAfterSeconds + CHATKIT_CLOCK_SKEW_SECONDS;
  if (session.expires_at <= earliest || session.expires_at > latest) return "expires_at";
  return undefined;
}

/** Checks a cancel's answer: the session we named, now `cancelled`. */
export function cancelledMismatch(session: ChatSessionResource, sessionId: string): SessionMismatch | undefined {
  if (session.id !== sessionId) return "id";
  if (session.status !== "cancelled") return "status";
  return undefined;
}
