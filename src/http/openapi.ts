import { adminPaths } from "../admin/openapi";
import type { Config, SelfHostedModeConfig } from "../config/config";
import { createRequestSchemaFor } from "../sessions/create-request";
import { LIST_CURSOR } from "../sessions/routes";
import { CANCEL_ALL_SCHEMA, CREATED_SCHEMA, ERROR_SCHEMA, LIST_SCHEMA, SESSION_SCHEMA } from "../sessions/schemas";
import { errorResponse, jsonResponse, type Schema } from "./schema";

/** The API version in the document; bump with any change to the HTTP contract. */
const API_VERSION = "1.1.0";

const json = jsonResponse;
const error = errorResponse;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const sessionId = { name: "session_id", in: "path", required: true, schema: { type: "string", pattern: "^cksess_" } };
const listCursor = {
  name: "cursor",
  in: "query",
  required: false,
  description: "From the previous page",
  schema: { type: "string", pattern: LIST_CURSOR.source },
};
const notFound = error("session_not_found");
const upstreamError = error("upstream_error");
const upstreamTimeout = error("upstream_timeout");
const authErrors = {
  "401": error("invalid_token"),
  "403": error("forbidden: ACCESS_POLICY not met, or (create) the user is blocked"),
  "503": error("auth_unavailable, config_invalid or storage_unavailable"),
};
const upstreamErrors = {
  "429": error("rate_limited, with Retry-After"),
  "502": upstreamError,
  "504": upstreamTimeout,
};
const secretErrors = {
  "401": error("invalid_token, with WWW-Authenticate"),
  "429": error("rate_limited (SESSION_MAX_REQUESTS_PER_MINUTE), with Retry-After"),
  "502": upstreamError,
  "503": error("config_invalid or storage_unavailable"),
  "504": upstreamTimeout,
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
      description: `ChatKit sessions for your identity provider's users${selfHosted ? ", proxied to your ChatKit server" : ""}`,
    },
    security: [{ bearer: [] }],
    paths: {
      "/healthz": {
        get: {
          security: [],
          responses: { "200": json({ type: "object" }, "Valid configuration"), "503": error("config_invalid") },
        },
      },
      "/v1/chatkit/sessions": {
        post: {
          summary: "Start a session",
          requestBody: { required: false, content: { "application/json": { schema: ref("CreateSessionRequest") } } },
          responses: {
            "201": json(ref("CreatedSession"), "Started"),
            "400": error("invalid_request"),
            "413": error("payload_too_large: over 16 KiB"),
            "415": error("unsupported_media_type"),
            ...authErrors,
            ...(selfHosted ? { "429": upstreamErrors["429"] } : upstreamErrors),
          },
        },
        get: {
          summary: "List sessions",
          parameters: [listCursor],
          responses: {
            "200": json(ref("SessionList"), "A page of sessions"),
            "400": error("invalid_request: a cursor this list did not give"),
            ...authErrors,
          },
        },
      },
      "/v1/chatkit/sessions/{session_id}": {
        get: {
          summary: "Get a session",
          parameters: [sessionId],
          responses: { "200": json(ref("Session"), "The session"), "404": notFound, ...authErrors },
        },
      },
      "/v1/chatkit/sessions/{session_id}/cancel": {
        post: {
          summary: "Cancel a session (idempotent)",
          parameters: [sessionId],
          responses: {
            "200": json(ref("Session"), "Cancelled (or already ended)"),
            // Self-hosted, a cancel is complete once recorded: it is never left pending.
            ...(selfHosted ? {} : { "202": json(ref("Session"), "cancel_pending, for the sweep to finish") }),
            "404": notFound,
            ...authErrors,
          },
        },
      },
      "/v1/chatkit/sessions/cancel_all": {
        post: {
          summary: "Cancel all sessions (logout)",
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

const string: Schema = { type: "string" };
const only = (value: string): Schema => ({ type: "string", enum: [value] });
/** The members of a published key, all required: public members only. */
const JWK_MEMBERS = {
  kty: only("EC"),
  crv: only("P-256"),
  x: string,
  y: string,
  kid: string,
  alg: only("ES256"),
  use: only("sig"),
};
/** `/.well-known/jwks.json`. */
const JWKS_SCHEMA: Schema = {
  type: "object",
  required: ["keys"],
  properties: {
    keys: {
      type: "array",
      items: {
        type: "object",
        required: Object.keys(JWK_MEMBERS),
        additionalProperties: false,
        properties: JWK_MEMBERS,
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
        summary: "Forward a ChatKit request with ChatKit-Gate-Assertion",
        security: secretSecurity,
        requestBody: chatkitBody,
        responses: {
          default: passedThrough("The server's answer, passed through"),
          "400": error("invalid_request: not JSON with a known string type"),
          "403": error("forbidden: the user is blocked, or attachments.create while uploads are off"),
          "413": error(`payload_too_large: over ${mode.maxRequestBytes} bytes`),
          ...secretErrors,
        },
      },
    },
    "/.well-known/jwks.json": {
      get: {
        summary: "Public keys for ChatKit-Gate-Assertion",
        security: [],
        responses: { "200": json(ref("Jwks"), "Signing key first; cacheable") },
      },
    },
  };
  if (mode.uploadUrl !== undefined) {
    paths["/chatkit/upload"] = {
      post: {
        summary: "Forward an upload to CHATKIT_UPLOAD_URL with ChatKit-Gate-Assertion",
        security: secretSecurity,
        requestBody: { required: true, content: { "multipart/form-data": { schema: { type: "object" } } } },
        responses: {
          default: passedThrough("The upload server's answer, passed through"),
          "403": error("forbidden: the user is blocked, or uploads are off"),
          "413": error("payload_too_large: over file_upload.max_file_size"),
          "415": error("unsupported_media_type: not multipart/form-data"),
          ...secretErrors,
        },
      },
    };
  }
  return paths;
}
