/**
 * A small reader over the raw Worker environment that collects every problem
 * instead of stopping at the first, so an operator fixes a bad deploy in one
 * go. Problems name the setting and what is expected, never the value.
 */

import { placeholderProblem, placeholderText } from "./placeholders";

/** A raw setting: wrangler vars arrive as strings, numbers, booleans or JSON objects. */
export type RawEnv = Readonly<Record<string, unknown>>;

const DECIMAL_INTEGER = /^\d+$/;

/** Where a missing secret goes (README, Configuration, has the steps). */
export const SECRET_HINT = "a secret (wrangler secret put; locally .dev.vars)";

export class SettingsReader {
  readonly problems: string[] = [];

  constructor(private readonly env: RawEnv) {}

  /**
   * The trimmed string value, or undefined when unset or empty. A placeholder
   * copied from `.dev.vars.example` is a problem, and is still returned so
   * the settings that depend on it are judged as if it were set.
   */
  string(name: string): string | undefined {
    const value = this.env[name] ?? undefined;
    return this.text(name, typeof value === "number" || typeof value === "boolean" ? String(value) : value);
  }

  /** {@link string} for a value found elsewhere (a field of a JSON setting), named `name` in problems. */
  text(name: string, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      this.problem(name, "must be a string");
      return undefined;
    }
    const trimmed = value.trim();
    if (trimmed === "") return undefined;
    const placeholder = placeholderText(trimmed);
    if (placeholder !== undefined) this.problem(name, placeholderProblem(placeholder));
    return trimmed;
  }

  /** `true` or `false` (any case); anything else is a problem and gives the fallback. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.string(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (value === "true" || value === "false") return value === "true";
    this.problem(name, "must be true or false");
    return fallback;
  }

  /** @param hint what to set it to, told to the operator when it is missing */
  required(name: string, hint?: string): string | undefined {
    const value = this.string(name);
    if (value === undefined) this.missing(name, hint);
    return value;
  }

  /** Reports a missing setting, unless a problem already names it (a value of the wrong type, say). */
  missing(name: string, hint?: string): void {
    if (!this.problems.some((p) => p.startsWith(`${name} `)))
      this.problem(name, hint ? `is required: ${hint}` : "is required");
  }

  /** A comma-separated list with blanks dropped. */
  list(name: string): string[] {
    const value = this.string(name);
    if (value === undefined) return [];
    return value
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.string(name);
    if (value === undefined) return fallback;
    const parsed = DECIMAL_INTEGER.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problem(name, `must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return parsed;
  }

  /** A JSON setting, given either as a JSON string or as a structured wrangler var. */
  json(name: string): unknown {
    const value = this.env[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") return value;
    if (value.trim() === "") return undefined;
    try {
      return JSON.parse(value);
    } catch {
      this.problem(name, "must be valid JSON");
      return undefined;
    }
  }

  /** An absolute URL that passes {@link checkUrl}. */
  url(name: string, fallback?: string): URL | undefined {
    const value = this.string(name) ?? fallback;
    if (value === undefined) return undefined;
    const checked = checkUrl(value);
    if (typeof checked === "string") {
      this.problem(name, checked);
      return undefined;
    }
    return checked;
  }

  /** Records a problem once: a setting read twice (a default check, then the value) is reported once. */
  problem(name: string, expectation: string): void {
    const problem = `${name} ${expectation}`;
    if (!this.problems.includes(problem)) this.problems.push(problem);
  }
}

/**
 * Checks an absolute URL. Plain http is accepted only for loopback hosts,
 * which local development and tests use; anything else must be https so keys
 * and tokens never cross the network in clear text. Returns the problem as text.
 */
export function checkUrl(value: string): URL | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute URL";
  }
  if (url.username || url.password || url.hash) return "must not contain credentials or a fragment";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url.hostname))) {
    return "must use https (plain http only for localhost)";
  }
  return url;
}

/** A dot path deeper than this is a typo, not a real token layout. */
const MAX_CLAIM_PATH_DEPTH = 8;
/** Path segments that would walk into prototypes rather than the token's own claims. */
const FORBIDDEN_SEGMENTS = new Set(["__proto__", "prototype", "constructor"]);

/** Splits a claim dot path such as `app_metadata.plan`; undefined when it is not a usable path. */
export function parseClaimPath(path: unknown): string[] | undefined {
  if (typeof path !== "string") return undefined;
  const segments = path.split(".");
  const usable =
    segments.length <= MAX_CLAIM_PATH_DEPTH &&
    segments.every((segment) => segment !== "" && !/\s/.test(segment) && !FORBIDDEN_SEGMENTS.has(segment));
  return usable ? segments : undefined;
}

export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
