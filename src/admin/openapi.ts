import type { Config } from "../config/config";
import { BLOCK_REQUEST_SCHEMA } from "./block-request";

const ok = (description: string) => ({ description, content: { "application/json": { schema: { type: "object" } } } });
const error = {
  description: "Error",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
};
const user = { name: "user", in: "path", required: true, schema: { type: "string" } };
/** 400: not a user the gate maps; 401: not an ADMIN_AUDIENCE token; 403: ADMIN_POLICY not met. */
const refusals = { "400": error, "401": error, "403": error, "503": error };

/** The admin API's routes for /openapi.json; none unless ADMIN_POLICY is set (docs/operations.md, Admin API). */
export function adminPaths(config: Config): Record<string, object> {
  if (config.admin === undefined) return {};
  const operation = (summary: string, extra: object = {}) => ({
    summary,
    parameters: [user],
    responses: { "200": ok(summary), ...refusals },
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
