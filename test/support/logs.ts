import { vi } from "vitest";

/** Every JSON log line the worker writes from now on (info, warn and error), parsed, in order. */
export function captureLogs(): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  const keep = (line: unknown) => {
    try {
      lines.push(JSON.parse(String(line)) as Record<string, unknown>);
    } catch {}
  };
  for (const level of ["log", "warn", "error"] as const) vi.spyOn(console, level).mockImplementation(keep);
  return lines;
}

/** The lines of one event. */
export const eventsOf = (lines: Array<Record<string, unknown>>, event: string) =>
  lines.filter((line) => line.event === event);
