import { GateError } from "./errors";

/** The largest request body accepted, inclusive: the create body is tiny, this leaves room for state variables. */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Reads a stream to the end, giving up as soon as it passes `limit` bytes,
 * so an oversized or endless body never sits in memory whole.
 */
export async function readCapped(
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array | "too_large"> {
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return "too_large";
    }
    chunks.push(value);
  }
  // The usual small body arrives in one chunk: hand it over rather than copy it.
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Strict UTF-8; `decode` without `stream` keeps no state between calls, so one decoder serves every request. */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Why bytes are not a JSON document. */
export type JsonFailure = "not_utf8" | "not_json";

/**
 * Strict UTF-8 then JSON, the one way the gate reads a JSON document from
 * bytes (bodies and sealed payloads). The value is wrapped so that a document
 * that is itself a string can never be mistaken for a failure.
 */
export function parseJsonBytes(bytes: Uint8Array): { value: unknown } | JsonFailure {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return "not_utf8";
  }
  try {
    return { value: JSON.parse(text) };
  } catch {
    return "not_json";
  }
}

const tooLarge = () => new GateError("payload_too_large", `The request body must be at most ${MAX_BODY_BYTES} bytes`);

/**
 * The request's JSON body, or undefined when it has none. Enforces the size
 * limit with or without Content-Length, requires `application/json` for a
 * non-empty body, and rejects bytes that are not UTF-8 JSON.
 */
export async function readJsonBody(request: Request): Promise<unknown> {
  const declared = request.headers.get("content-length");
  if (declared !== null && !(/^\d+$/.test(declared) && Number(declared) <= MAX_BODY_BYTES)) {
    if (/^\d+$/.test(declared)) throw tooLarge();
    throw new GateError("invalid_request", "The Content-Length header is not a number");
  }
  const bytes = await readCapped(request.body, MAX_BODY_BYTES);
  if (bytes === "too_large") throw tooLarge();
  if (bytes.byteLength === 0) return undefined;
  if (!isJsonMediaType(request.headers.get("content-type"))) {
    throw new GateError("unsupported_media_type", "A request body must be sent as Content-Type: application/json");
  }
  const parsed = parseJsonBytes(bytes);
  if (parsed === "not_utf8") throw new GateError("invalid_request", "The request body is not valid UTF-8");
  if (parsed === "not_json") throw new GateError("invalid_request", "The request body is not valid JSON");
  return parsed.value;
}

function isJsonMediaType(header: string | null): boolean {
  if (header === null) return false;
  const [type = "", ...params] = header.split(";").map((part) => part.trim().toLowerCase());
  if (type !== "application/json") return false;
  // JSON is UTF-8 by definition (RFC 8259 §8.1); refuse a body that claims otherwise.
  return params.every((param) => !param.startsWith("charset=") || param.replace(/"/g, "") === "charset=utf-8");
}
