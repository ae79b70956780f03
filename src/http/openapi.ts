import type { Config } from "../config/config";
import { createRequestSchemaFor } from "../sessions/create-request";
import { CANCEL_ALL_SCHEMA, CREATED_SCHEMA, ERROR_SCHEMA, LIST_SCHEMA, SESSION_SCHEMA } from "../sessions/schemas";
import type { Schema } from "./schema";

/** The API version in the document; bump with any change to the HTTP contract. */
const API_VERSION = "1.0.0";

const json = (schema: Schema, description: string) => ({ description, content: { "application/json": { schema } } });
const error = (description: string) => json({ $ref: "#/components/schemas/Error" }, description);
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const sessionId = { name: "session_id", in: "path", required: true, schema: { type: "string", pattern: "^cksess_" } };
const authErrors = {
  "401": error("Missing, invalid or expired token (invalid_token)"),
  "503": error("Signing keys unavailable, configuration invalid or storage unavailable"),
};
const upstreamErrors = {
  "429": error("Per-user create limit or ChatKit rate limit (rate_limited), with Retry-After"),
  "502": error("ChatKit failed or refused the gateway (upstream_error)"),
  "504": error("ChatKit did not answer in time (upstream_timeout)"),
};

/** Documents by configuration: aliases and state variables are the operator's, so the document is too. */
const documents = new WeakMap<Config, object>();

/**
 * chatkit-gate's own API as OpenAPI 3.1, built from the same schema objects
 * that validate requests, so the two cannot disagree.
 */
export function openApiDocument(config: Config): object {
  let document = documents.get(config);
  if (document !== undefined) return document;
  document = {
    openapi: "3.1.0",
    info: {
      title: "chatkit-gate",
      version: API_VERSION,
      description: "Starts OpenAI ChatKit sessions for users signed in with your identity provider.",
    },
    security: [{ bearer: [] }],
    paths: {
      "/healthz": {
        get: {
          security: [],
          responses: { "200": json({ type: "object" }, "Configuration is valid"), "503": error("config_invalid") },
        },
      },
      "/v1/chatkit/sessions": {
        post: {
          summary: "Start a ChatKit session for the caller",
          requestBody: { required: false, content: { "application/json": { schema: ref("CreateSessionRequest") } } },
          responses: {
            "201": json(ref("CreatedSession"), "Session started"),
            "400": error("Invalid body (invalid_request)"),
            "413": error("Body over 16 KiB (payload_too_large)"),
            "415": error("Body is not application/json (unsupported_media_type)"),
            ...authErrors,
            ...upstreamErrors,
          },
        },
        get: {
          summary: "List the caller's sessions",
          responses: { "200": json(ref("SessionList"), "The caller's sessions"), ...authErrors },
        },
      },
      "/v1/chatkit/sessions/{session_id}": {
        get: {
          summary: "One of the caller's sessions",
          parameters: [sessionId],
          responses: { "200": json(ref("Session"), "The session"), "404": error("session_not_found"), ...authErrors },
        },
      },
      "/v1/chatkit/sessions/{session_id}/cancel": {
        post: {
          summary: "Cancel one of the caller's sessions (idempotent)",
          parameters: [sessionId],
          responses: {
            "200": json(ref("Session"), "Cancelled (or already ended)"),
            "202": json(ref("Session"), "ChatKit did not confirm yet: cancel_pending, finished by the sweep"),
            "404": error("session_not_found"),
            ...authErrors,
          },
        },
      },
      "/v1/chatkit/sessions/cancel_all": {
        post: {
          summary: "Cancel all of the caller's sessions (logout)",
          responses: { "200": json(ref("CancelAll"), "Counts"), ...authErrors },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: {
        CreateSessionRequest: createRequestSchemaFor(config),
        CreatedSession: CREATED_SCHEMA,
        Session: SESSION_SCHEMA,
        SessionList: LIST_SCHEMA,
        CancelAll: CANCEL_ALL_SCHEMA,
        Error: ERROR_SCHEMA,
      },
    },
  };
  documents.set(config, document);
  return document;
}
