import type { ChatkitConfigurationParam } from "../chatkit/types";
import { GateError } from "../http/errors";
import { proxyError } from "./failures";
import { type ForwardOptions, forward } from "./proxy";
import { declaredLength } from "./request";

/** `file_upload.max_file_size` when unset: the hosted API's default, which is also its maximum (FileUploadParam). */
export const DEFAULT_MAX_FILE_SIZE_MB = 512;
/** A megabyte of `max_file_size`, read generously as 2^20 bytes. */
const BYTES_PER_MB = 1024 * 1024;
/**
 * The multipart envelope around the file: boundary lines and the part's
 * headers (its file name among them). The cap allows this on top of the
 * file, so a file of exactly `max_file_size` still fits.
 */
export const MULTIPART_OVERHEAD_BYTES = 16 * 1024;

/** `CHATKIT_CONFIGURATION.file_upload` as the gate enforces it in self-hosted mode. */
export interface UploadPolicy {
  /** Off unless `file_upload.enabled` is true. */
  enabled: boolean;
  /** The largest upload body, inclusive: `max_file_size` plus {@link MULTIPART_OVERHEAD_BYTES}. */
  maxBytes: number;
}

export function uploadPolicy(configuration?: ChatkitConfigurationParam): UploadPolicy {
  const fileUpload = configuration?.file_upload;
  const megabytes = fileUpload?.max_file_size ?? DEFAULT_MAX_FILE_SIZE_MB;
  return { enabled: fileUpload?.enabled === true, maxBytes: megabytes * BYTES_PER_MB + MULTIPART_OVERHEAD_BYTES };
}

/**
 * The direct upload strategy: checks the upload, then streams it to
 * `CHATKIT_UPLOAD_URL` with the assertion and returns the server's answer
 * (the attachment JSON) unchanged. Refused with 403 `forbidden` while uploads
 * are off, 415 unless `multipart/form-data`, and 413 `payload_too_large` past
 * the cap, whether Content-Length says so up front or the stream runs over
 * it: the body is counted as it passes and never held whole.
 *
 * `authorize` authenticates the caller and gives the assertion. It is called
 * only once uploads are known to be on, so while they are off nothing about
 * the request (its secret included) is even read.
 */
export async function forwardUpload(
  request: Request,
  authorize: () => Promise<string>,
  policy: UploadPolicy,
  options: ForwardOptions,
): Promise<Response> {
  if (!policy.enabled) throw new GateError("forbidden", "File uploads are turned off for this app");
  const assertion = await authorize();
  const mediaType = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "multipart/form-data") {
    throw new GateError("unsupported_media_type", "An upload must be sent as multipart/form-data");
  }
  const declared = declaredLength(request);
  if (declared !== undefined && declared > policy.maxBytes) throw proxyError("too_large", policy.maxBytes);
  if (request.body === null) throw new GateError("invalid_request", "The upload has no body");

  const cap = byteCap(policy.maxBytes);
  let body = request.body.pipeThrough(cap.stream);
  // With a known length the server gets a Content-Length too, instead of a chunked body.
  if (declared !== undefined) body = body.pipeThrough(new FixedLengthStream(declared));
  try {
    return await forward({ request, body, assertion }, options);
  } catch (error) {
    if (cap.exceeded()) throw proxyError("too_large", policy.maxBytes);
    throw error;
  }
}

/** A pass-through stream that errors as soon as more than `limit` bytes went through it. */
function byteCap(limit: number): { stream: TransformStream<Uint8Array, Uint8Array>; exceeded: () => boolean } {
  let seen = 0;
  let exceeded = false;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > limit) {
        exceeded = true;
        controller.error(new RangeError("The upload passed its size cap"));
        return;
      }
      controller.enqueue(chunk);
    },
  });
  return { stream, exceeded: () => exceeded };
}
