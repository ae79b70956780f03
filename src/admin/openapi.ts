import type { Config } from "../config/config";
import { errorResponse, jsonResponse } from "../http/schema";
import { BLOCK_REQUEST_SCHEMA } from "./block-request";

const user = { name: "user", in: "path", required: true, schema: { type: "string" } };
/** 400: not a user the gate maps; 401: not an ADMIN_AUDIENCE token; 403: ADMIN_POLICY not met. */
const refusals = {
  "400": errorResponse("invalid_request"),
  "401": errorResponse("invalid_token"),
  "403": errorResponse("forbidden"),
  "503": errorResponse("auth_unavailable, config_invalid or storage_unavailable"),
};

/** The admin API's routes for /openapi.json; none unless ADMIN_POLICY is set (docs/operations.md, Admin API). */
export function adminPaths(config: Config): Record<string, object> {
  if (config.admin === undefined) return {};
  const operation = (summary: string, extra: object = {}) => ({
    summary,
    parameters: [user],
    responses: { "200": jsonResponse({ type: "object" }, summary), ...refusals },
    ...extra,
  });
  return {
    "/admin/v1/users/{user}/sessions": { get: operation("A user's sessions, owner key and block") },
    "/admin/v1/users/{user}/block": {
      post: operation("Block a user: cancel every session, refuse new ones", {
        requestBody: { required: true, content: { "application/json": { schema: BLOCK_REQUEST_SCHEMA } } },
      }),
      delete: operation("Lift a user's block"),
    },
  };
}
