/**
 * One JSON object per line, which Workers Logs index by field. Callers pass
 * only ids, codes and numbers: never tokens, keys, client secrets or raw users.
 */
export function log(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
