import type { Config } from "../config/config";
import { ERROR_STATUS } from "../http/errors";
import type { Schema } from "../http/schema";

/** Longest client-set state value; the body limit (16 KiB) bounds the whole anyway. */
export const MAX_STATE_VALUE_LENGTH = 4096;

/** A state value: a string within its cap, a (finite, see firstProblem) number or a boolean; nothing nested. */
const STATE_VALUE: Schema = { type: ["string", "number", "boolean"], maxLength: MAX_STATE_VALUE_LENGTH };

/**
 * The create body a client may send with this configuration: a workflow by
 * configured alias only, and only the state variables the operator allowed.
 */
export function createRequestSchema(config: Config): Schema {
  // fromEntries defines own properties, so even a name like `__proto__` could never become the map's prototype.
  const stateVariables = Object.fromEntries([...config.clientStateVariables].map((name) => [name, STATE_VALUE]));
  return {
    type: "object",
    additionalProperties: false,
    properties: {
      workflow: {
        type: "string",
        enum: [...config.workflowAliases.keys()],
        description: "A CHATKIT_WORKFLOWS alias; omitted: the default workflow",
      },
      state_variables: {
        type: "object",
        additionalProperties: false,
        properties: stateVariables,
        description: "CHATKIT_CLIENT_STATE_VARIABLES the client sets",
      },
    },
  };
}

const UNIX_SECONDS: Schema = { type: "integer", format: "unixtime" };

/** A session as the API shows it; never the client secret. */
export const SESSION_SCHEMA: Schema = {
  type: "object",
  required: ["session_id", "status", "created_at", "expires_at"],
  properties: {
    session_id: { type: "string" },
    status: { type: "string", enum: ["active", "cancelled", "cancel_pending", "expired"] },
    created_at: UNIX_SECONDS,
    expires_at: UNIX_SECONDS,
    cancelled_at: UNIX_SECONDS,
  },
};

export const CREATED_SCHEMA: Schema = {
  ...SESSION_SCHEMA,
  required: [...(SESSION_SCHEMA.required ?? []), "client_secret"],
  properties: {
    ...SESSION_SCHEMA.properties,
    client_secret: { type: "string", description: "Pass to ChatKit; shown once, never stored" },
  },
};

export const LIST_SCHEMA: Schema = {
  type: "object",
  required: ["data", "has_more"],
  properties: {
    data: { type: "array", items: SESSION_SCHEMA },
    has_more: { type: "boolean" },
    cursor: { type: "string", description: "Present when more remain: pass it as `cursor` for the next page" },
  },
};

export const CANCEL_ALL_SCHEMA: Schema = {
  type: "object",
  required: ["cancelled", "pending", "complete"],
  properties: {
    cancelled: { type: "integer", minimum: 0, description: "Ended now" },
    pending: { type: "integer", minimum: 0, description: "Left cancel_pending for the sweep" },
    complete: { type: "boolean", description: "False: some were not reached; call again" },
  },
};

export const ERROR_SCHEMA: Schema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string", enum: Object.keys(ERROR_STATUS) }, message: { type: "string" } },
    },
  },
};
