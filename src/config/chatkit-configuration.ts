import type { ChatkitConfigurationParam } from "../chatkit/types";
import { isPlainObject } from "./reader";

/** The largest upload size the API accepts, in megabytes (FileUploadParam.max_file_size). */
const MAX_FILE_SIZE_MB = 512;

type FieldRule = "boolean" | { min: number; max?: number };

/**
 * ChatkitConfigurationParam from the OpenAPI spec, as data, so unknown keys are caught. Maps, not
 * object literals: a key such as `toString` or `constructor` must be unknown, not an inherited member.
 */
const SHAPE: ReadonlyMap<keyof ChatkitConfigurationParam, ReadonlyMap<string, FieldRule>> = new Map([
  ["automatic_thread_titling", new Map([["enabled", "boolean"]])],
  [
    "file_upload",
    new Map<string, FieldRule>([
      ["enabled", "boolean"],
      ["max_file_size", { min: 1, max: MAX_FILE_SIZE_MB }],
      ["max_files", { min: 1 }],
    ]),
  ],
  [
    "history",
    new Map<string, FieldRule>([
      ["enabled", "boolean"],
      ["recent_threads", { min: 1 }],
    ]),
  ],
]);

const allowed = (map: ReadonlyMap<string, unknown>) => [...map.keys()].join(", ");

/**
 * Validates `CHATKIT_CONFIGURATION` against the API's schema. Returns the
 * problem as text (naming the field, not its value), or the typed value.
 */
export function parseChatkitConfiguration(
  value: unknown,
): { ok: true; value: ChatkitConfigurationParam } | { ok: false; problem: string } {
  if (!isPlainObject(value)) return { ok: false, problem: "must be a JSON object" };
  for (const [section, fields] of Object.entries(value)) {
    const rules = SHAPE.get(section as keyof ChatkitConfigurationParam);
    if (!rules) return { ok: false, problem: `has an unknown key (allowed: ${allowed(SHAPE)})` };
    if (!isPlainObject(fields)) return { ok: false, problem: `.${section} must be an object` };
    for (const [field, fieldValue] of Object.entries(fields)) {
      const rule = rules.get(field);
      if (!rule) return { ok: false, problem: `.${section} has an unknown key (allowed: ${allowed(rules)})` };
      if (rule === "boolean") {
        if (typeof fieldValue !== "boolean")
          return { ok: false, problem: `.${section}.${field} must be true or false` };
      } else if (
        typeof fieldValue !== "number" ||
        !Number.isSafeInteger(fieldValue) ||
        fieldValue < rule.min ||
        (rule.max !== undefined && fieldValue > rule.max)
      ) {
        const range = rule.max === undefined ? `at least ${rule.min}` : `from ${rule.min} to ${rule.max}`;
        return { ok: false, problem: `.${section}.${field} must be a whole number ${range}` };
      }
    }
  }
  return { ok: true, value: value as ChatkitConfigurationParam };
}
