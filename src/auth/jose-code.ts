/**
 * jose's stable error `code` (`ERR_JWT_EXPIRED`, ...), or undefined for
 * anything that is not a jose error. Matching codes instead of
 * `instanceof errors.X` keeps jose's whole error namespace (every JWE and
 * JWK class) out of the bundle.
 */
export function joseCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_J") ? code : undefined;
}
