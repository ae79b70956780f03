import { adminPaths } from "../admin/openapi";
import type { Config, SelfHostedModeConfig } from "../config/config";
import { createRequestSchemaFor } from "../sessions/create-request";
import { LIST_CURSOR } from "../sessions/routes";
import { CANCEL_ALL_SCHEMA, CREATED_SCHEMA, ERROR_SCHEMA, LIST_SCHEMA, SESSION_SCHEMA } from "../sessions/schemas";
import type { Schema } from "./schema";

/** The API version in the document; bump with any change to the HTTP contract. */
const API_VERSION = "1.1.0";

const json = (schema: Schema, description: string) => ({ description, content: { "application/json": { schema } } });
const error = (description: string) => json({ $ref: "#/components/schemas/Error" }, description);
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const sessionId = { name: "session_id", in: "path", required: true, schema: { type: "string", pattern: "^cksess_" } };
const listCursor = {
  name: "cursor",
  in: "query",
  required: false,
  description: "The `cursor` of the previous page, to read on.",
  schema: { type: "string", pattern: LIST_CURSOR.source },
};
const authErrors = {
  "401": error("Missing, invalid or expired token (invalid_token)"),
  "503": error("Signing keys unavailable, configuration invalid or storage unavailable"),
};
const upstreamErrors = {
  "429": error("Per-user create limit or ChatKit rate limit (rate_limited), with Retry-After"),
  "502": error("ChatKit failed or refused the gateway (upstream_error)"),
  "504": error("ChatKit did not answer in time (upstream_timeout)"),
};
const secretErrors = {
  "401": error("Missing, invalid, expired or cancelled session secret (invalid_token), with WWW-Authenticate"),
  "429": error("More than SESSION_MAX_REQUESTS_PER_MINUTE in this session (rate_limited), with Retry-After"),
  "502": error("The ChatKit server could not be reached (upstream_error)"),
  "503": error("Configuration invalid or storage unavailable"),
  "504": error("The ChatKit server sent no headers in time (upstream_timeout)"),
};
/** The server's answer, passed through unchanged: any status, its content type and body. */
const passedThrough = (description: string) => ({ description, content: { "*/*": {} } });
const secretSecurity = [{ sessionSecret: [] }];

/** Documents by configuration: aliases, state variables and the mode are the operator's, so the document is too. */
const documents = new WeakMap<Config, object>();

/**
 * chatkit-gate's own API as OpenAPI 3.1, for the configured mode, built from
 * the same schema objects that validate requests, so the two cannot disagree.
 */
export function openApiDocument(config: Config): object {
  let document = documents.get(config);
  if (document !== undefined) return document;
  const selfHosted = config.mode.kind === "self-hosted" ? config.mode : undefined;
  document = {
    openapi: "3.1.0",
    info: {
      title: "chatkit-gate",
      version: API_VERSION,
      description: selfHosted
        ? "Starts ChatKit sessions for users signed in with your identity provider, and forwards their ChatKit requests to your ChatKit server with a signed assertion of the user."
        : "Starts OpenAI ChatKit sessions for users signed in with your identity provider.",
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
            ...(selfHosted
              ? { "429": error("Per-user create limit (rate_limited), with Retry-After") }
              : upstreamErrors),
          },
        },
        get: {
          summary: "List the caller's sessions",
          parameters: [listCursor],
          responses: {
            "200": json(ref("SessionList"), "The caller's sessions"),
            "400": error("A cursor this list did not give (invalid_request)"),
            ...authErrors,
          },
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
          responses: selfHosted
            ? {
                "200": json(ref("Session"), "Cancelled at once (or already ended)"),
                "404": error("session_not_found"),
                ...authErrors,
              }
            : {
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
      ...(selfHosted ? selfHostedPaths(selfHosted) : {}),
      ...adminPaths(config),
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
        ...(selfHosted
          ? { sessionSecret: { type: "http", scheme: "bearer", description: "A session's client_secret" } }
          : {}),
      },
      schemas: {
        CreateSessionRequest: createRequestSchemaFor(config),
        CreatedSession: CREATED_SCHEMA,
        Session: SESSION_SCHEMA,
        SessionList: LIST_SCHEMA,
        CancelAll: CANCEL_ALL_SCHEMA,
        Error: ERROR_SCHEMA,
        ...(selfHosted ? { Jwks: JWKS_SCHEMA } : {}),
      },
    },
  };
  documents.set(config, document);
  return document;
}

/** `/.well-known/jwks.json`: public members only. */
const JWKS_SCHEMA: Schema = {
  type: "object",
  required: ["keys"],
  properties: {
    keys: {
      type: "array",
      items: {
        type: "object",
        required: ["kty", "crv", "x", "y", "kid", "alg", "use"],
        additionalProperties: false,
        properties: {
          kty: { type: "string", enum: ["EC"] },
          crv: { type: "string", enum: ["P-256"] },
          x: { type: "string" },
          y: { type: "string" },
          kid: { type: "string" },
          alg: { type: "string", enum: ["ES256"] },
          use: { type: "string", enum: ["sig"] },
        },
      },
    },
  },
};

/** The routes self-hosted mode adds; the upload route only when `CHATKIT_UPLOAD_URL` is set. */
function selfHostedPaths(mode: SelfHostedModeConfig): object {
  const chatkitBody = {
    required: true,
    content: {
      "application/json": { schema: { type: "object", required: ["type"], properties: { type: { type: "string" } } } },
    },
  };
  const paths: Record<string, object> = {
    "/chatkit": {
      post: {
        summary: "A ChatKit request, forwarded to your ChatKit server with ChatKit-Gate-Assertion",
        security: secretSecurity,
        requestBody: chatkitBody,
        responses: {
          default: passedThrough("The server's answer, unchanged: JSON, or text/event-stream streamed through"),
          "400": error("Not JSON with a string type, or a type the gate does not know (invalid_request)"),
          "403": error("attachments.create while uploads are off (forbidden)"),
          "413": error(`Body over ${mode.maxRequestBytes} bytes (payload_too_large)`),
          ...secretErrors,
        },
      },
    },
    "/.well-known/jwks.json": {
      get: {
        summary: "The public keys that verify ChatKit-Gate-Assertion",
        security: [],
        responses: { "200": json(ref("Jwks"), "Public keys, signing key first; cacheable") },
      },
    },
  };
  if (mode.uploadUrl !== undefined) {
    paths["/chatkit/upload"] = {
      post: {
        summary: "A direct upload, forwarded to CHATKIT_UPLOAD_URL with ChatKit-Gate-Assertion",
        security: secretSecurity,
        requestBody: { required: true, content: { "multipart/form-data": { schema: { type: "object" } } } },
        responses: {
          default: passedThrough("The upload server's answer (the attachment JSON), unchanged"),
          "403": error("Uploads are off (forbidden)"),
          "413": error("Over file_upload.max_file_size (payload_too_large)"),
          "415": error("Not multipart/form-data (unsupported_media_type)"),
          ...secretErrors,
        },
      },
    };
  }
  return paths;
}
