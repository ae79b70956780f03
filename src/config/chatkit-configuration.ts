import type { ChatkitConfigurationParam } from "../chatkit/types";
import { firstProblem, type Schema } from "../http/schema";

/** The largest upload size the API accepts, in megabytes (FileUploadParam.max_file_size). */
const MAX_FILE_SIZE_MB = 512;

const section = (properties: Record<string, Schema>): Schema => ({
  type: "object",
  additionalProperties: false,
  properties,
});
const enabled: Schema = { type: "boolean" };
const atLeastOne: Schema = { type: "integer", minimum: 1 };

/**
 * ChatkitConfigurationParam from the OpenAPI spec, as a schema, so unknown keys are caught (looked up as
 * own properties: a key such as `toString` or `constructor` is unknown, not an inherited member).
 */
const SCHEMA = section({
  automatic_thread_titling: section({ enabled }),
  file_upload: section({
    enabled,
    max_file_size: { type: "integer", minimum: 1, maximum: MAX_FILE_SIZE_MB },
    max_files: atLeastOne,
  }),
  history: section({ enabled, recent_threads: atLeastOne }),
});

/**
 * Validates `CHATKIT_CONFIGURATION` against the API's schema. Returns the
 * problem as text (naming the field, not its value), or the typed value.
 */
export function parseChatkitConfiguration(
  value: unknown,
): { ok: true; value: ChatkitConfigurationParam } | { ok: false; problem: string } {
  const problem = firstProblem(value, SCHEMA, "CHATKIT_CONFIGURATION", false);
  return problem === undefined ? { ok: true, value: value as ChatkitConfigurationParam } : { ok: false, problem };
}
