import { GateError } from "../http/errors";
import { firstProblem, type Schema } from "../http/schema";

/** An operator's note is a sentence or two, not a document. */
export const MAX_REASON_LENGTH = 500;
/**
 * The furthest `until` may lie ahead: a year. A block meant to last longer
 * is a block without `until`, lifted by DELETE.
 */
export const MAX_BLOCK_SECONDS = 366 * 86_400;

/** `POST /admin/v1/users/{user}/block`: `{until?, reason}`; also published in /openapi.json. */
export const BLOCK_REQUEST_SCHEMA: Schema = {
  type: "object",
  required: ["reason"],
  additionalProperties: false,
  properties: {
    reason: {
      type: "string",
      maxLength: MAX_REASON_LENGTH,
      description: "Why, for other operators; never shown to the user",
    },
    until: {
      type: "integer",
      minimum: 0,
      description: "Unix seconds, within a year; absent: until lifted",
    },
  },
};

export interface BlockRequest {
  reason: string;
  until?: number;
}

/** Validates a block body: a 400 `invalid_request` naming the field, never echoing the reason. */
export function parseBlockRequest(body: unknown, now: number): BlockRequest {
  const problem = body === undefined ? "body is required" : firstProblem(body, BLOCK_REQUEST_SCHEMA);
  if (problem) throw new GateError("invalid_request", problem);
  const { reason, until } = body as { reason: string; until?: number };
  if (reason.trim() === "") throw new GateError("invalid_request", "body.reason must not be empty");
  if (until !== undefined && (until <= now || until > now + MAX_BLOCK_SECONDS)) {
    throw new GateError("invalid_request", "body.until must be in the future, at most a year ahead");
  }
  return until === undefined ? { reason } : { reason, until };
}
