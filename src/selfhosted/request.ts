import { isPlainObject } from "../config/reader";
import { parseJsonBytes, readCapped } from "../http/body";
import { GateError } from "../http/errors";

/** Request types answered with `text/event-stream` (chatkit-python 1.6.5, `StreamingReq`). */
export const STREAMING_TYPES: ReadonlySet<string> = new Set([
  "threads.create",
  "threads.add_user_message",
  "threads.add_client_tool_output",
  "threads.add_structured_input",
  "threads.retry_after_item",
  "threads.custom_action",
]);

/** Request types answered with one JSON document (chatkit-python 1.6.5, `NonStreamingReq`). */
export const JSON_TYPES: ReadonlySet<string> = new Set([
  "threads.get_by_id",
  "threads.list",
  "items.list",
  "items.feedback",
  "attachments.create",
  "attachments.delete",
  "threads.update",
  "threads.delete",
  "input.transcribe",
  "threads.sync_custom_action",
]);

/** The type that starts a two-phase upload; refused while uploads are off. */
const UPLOAD_TYPE = "attachments.create";

export type ChatKitRequestKind = "streaming" | "json";

/** A request that passed every check, with the exact bytes to forward. */
export interface ChatKitRequest {
  /** The body exactly as received: forwarded unchanged. */
  bytes: Uint8Array;
  type: string;
  kind: ChatKitRequestKind;
}

export interface RequestRules {
  /** `CHATKIT_MAX_REQUEST_BYTES`, inclusive. */
  maxBytes: number;
  /** `CHATKIT_CONFIGURATION.file_upload.enabled`. */
  uploadsEnabled: boolean;
}

/**
 * Reads and checks a `POST /chatkit` body before anything reaches the server:
 * at most `maxBytes` with or without Content-Length (413
 * `payload_too_large`), a JSON object with a known string `type` (400
 * `invalid_request`), and no `attachments.create` while uploads are off (403
 * `forbidden`). Unknown types are refused rather than passed on, so a type
 * added to ChatKit later cannot slip past a rule the gate enforces by type.
 */
export async function readChatKitRequest(request: Request, rules: RequestRules): Promise<ChatKitRequest> {
  const tooLarge = () =>
    new GateError("payload_too_large", `The ChatKit request body must be at most ${rules.maxBytes} bytes`);
  if ((declaredLength(request) ?? 0) > rules.maxBytes) throw tooLarge();
  const bytes = await readCapped(request.body, rules.maxBytes);
  if (bytes === "too_large") throw tooLarge();

  const type = typeOf(bytes);
  if (type === undefined) {
    throw new GateError("invalid_request", 'The ChatKit request must be a JSON object with a string "type"');
  }
  const kind: ChatKitRequestKind | undefined = STREAMING_TYPES.has(type)
    ? "streaming"
    : JSON_TYPES.has(type)
      ? "json"
      : undefined;
  if (kind === undefined) throw new GateError("invalid_request", "The ChatKit request type is not one the gate knows");
  if (type === UPLOAD_TYPE && !rules.uploadsEnabled) {
    throw new GateError("forbidden", "File uploads are turned off for this app");
  }
  return { bytes, type, kind };
}

/**
 * The request's Content-Length, so an oversized body is refused before a
 * byte of it is read; undefined when the body is streamed without one.
 */
export function declaredLength(request: Request): number | undefined {
  const declared = request.headers.get("content-length");
  if (declared === null) return undefined;
  if (!/^\d+$/.test(declared)) throw new GateError("invalid_request", "The Content-Length header is not a number");
  return Number(declared);
}

/** The body's `type`, or undefined when it is not UTF-8 JSON of an object with a string `type`. */
function typeOf(bytes: Uint8Array): string | undefined {
  const parsed = parseJsonBytes(bytes);
  const body = typeof parsed === "object" ? parsed.value : undefined;
  return isPlainObject(body) && typeof body.type === "string" ? body.type : undefined;
}
