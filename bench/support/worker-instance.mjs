// Runs the built bundle in this Node process the way workerd calls it:
// `fetch(request, env, ctx)` with one env object per isolate, reused across
// requests. Importing the bundle under a new query string gives a fresh
// module instance, which is what a cold isolate is.
import { registerHooks } from "node:module";
import { pathToFileURL } from "node:url";
import { CHATKIT_BASE_URL, JWKS_URL } from "./fake-peers.mjs";
import { AUDIENCE, ISSUER } from "./tokens.mjs";

/** Requests carry the SPA's origin, as a browser call does, so CORS work is included. */
export const ORIGIN = "https://app.bench.test";
/** Where the worker is called; `.test`, like the other bench hosts. */
export const BASE = "https://gate.bench.test";

/** A complete configuration, like test/support/env.ts, against the in-memory peers. */
export const BASE_VARS = {
  OPENAI_API_KEY: "sk-bench-not-a-real-key",
  OPENAI_BASE_URL: CHATKIT_BASE_URL,
  CHATKIT_WORKFLOW_ID: "wf_bench",
  CHATKIT_WORKFLOW_VERSION: "3",
  CHATKIT_WORKFLOWS: JSON.stringify({ support: { id: "wf_support", version: "7" } }),
  CHATKIT_CONFIGURATION: JSON.stringify({ history: { enabled: true, recent_threads: 5 } }),
  CHATKIT_CLIENT_STATE_VARIABLES: "locale,theme",
  SESSION_EXPIRES_AFTER_SECONDS: "600",
  SESSION_MAX_REQUESTS_PER_MINUTE: "10",
  AUTH_ISSUER: ISSUER,
  AUTH_AUDIENCE: AUDIENCE,
  AUTH_JWKS_URL: JWKS_URL,
  AUTH_ALGORITHMS: "RS256,ES256",
  AUTH_USER_CLAIM: "sub",
  AUTH_USER_PREFIX: "bench|",
  AUTH_CLOCK_TOLERANCE_SECONDS: "30",
  ALLOWED_ORIGINS: ORIGIN,
};

/** The per-user create limiter binding, always allowing: the bench measures the worker, not the limit. */
const ALWAYS_ALLOW = { limit: async () => ({ success: true }) };

/**
 * workerd's own modules, which the bundle imports and Node cannot: each is
 * resolved to a stand-in next to this file, once per process.
 */
const WORKERD_MODULES = { "cloudflare:workers": new URL("./cloudflare-workers-stub.mjs", import.meta.url).href };
registerHooks({
  resolve(specifier, context, nextResolve) {
    const stand = WORKERD_MODULES[specifier];
    return stand === undefined ? nextResolve(specifier, context) : { url: stand, shortCircuit: true };
  },
});

let isolates = 0;

/** A fresh module instance of the bundle: empty key caches, empty config cache. */
export async function coldIsolate(bundleEntry) {
  const url = pathToFileURL(bundleEntry);
  url.search = `?isolate=${++isolates}`;
  return (await import(url.href)).default;
}

/**
 * The env object of one isolate. Reads of OPENAI_API_KEY are counted: the
 * worker reads it only while parsing its configuration, so the count is the
 * number of config parses.
 */
export function isolateEnv(vars, kv) {
  const { OPENAI_API_KEY: apiKey, ...rest } = vars;
  const env = { ...rest, SESSIONS: kv, CREATE_LIMITER: ALWAYS_ALLOW };
  const counter = { parses: 0 };
  // Self-hosted mode has no API key (setting one is config_invalid): nothing to count then.
  if (apiKey === undefined) return { env, counter };
  Object.defineProperty(env, "OPENAI_API_KEY", {
    enumerable: true,
    get() {
      counter.parses++;
      return apiKey;
    },
  });
  return { env, counter };
}

/** AbortSignal.timeout timers started while requests run; see {@link scopeTimeoutsToRequests}. */
const requestTimers = new Set();
let inFlight = 0;

/**
 * Ends the timers of AbortSignal.timeout when the requests that started them
 * end, as workerd does when a request's context goes away. Node would
 * otherwise fire every one of them 15 s later (the upstream timeout), each
 * building a TimeoutError with its stack trace, in the middle of whatever
 * benchmark runs then.
 */
export function scopeTimeoutsToRequests() {
  const original = AbortSignal.timeout;
  AbortSignal.timeout = function timeout(ms) {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      requestTimers.delete(timer);
      controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    }, ms);
    timer.unref();
    requestTimers.add(timer);
    return controller.signal;
  };
  return {
    restore: () => {
      AbortSignal.timeout = original;
    },
  };
}

function endRequestTimers() {
  for (const timer of requestTimers) clearTimeout(timer);
  requestTimers.clear();
}

/**
 * Calls the worker and reads the whole answer; waits for ctx.waitUntil work,
 * as workerd would before the request's context ends. Once no request is in
 * flight, their timers end too. `init` adds a body and headers (a ChatKit
 * request, for instance).
 */
export function caller(worker, env, served = { requests: 0 }) {
  return async (method, path, token, init = {}) => {
    const pending = [];
    const ctx = { waitUntil: (promise) => pending.push(promise), passThroughOnException() {}, props: {} };
    const headers = { origin: ORIGIN, ...init.headers };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    inFlight++;
    try {
      const request = new Request(`${BASE}${path}`, { method, headers, body: init.body });
      const response = await worker.fetch(request, env, ctx);
      const body = await response.text();
      if (pending.length > 0) await Promise.allSettled(pending);
      served.requests++;
      return { status: response.status, body };
    } finally {
      if (--inFlight === 0) endRequestTimers();
    }
  };
}

/** Counts crypto.subtle.importKey calls: a per-request key import would show up here. */
export function countKeyImports() {
  const subtle = globalThis.crypto.subtle;
  const original = subtle.importKey;
  const counter = { imports: 0 };
  subtle.importKey = function importKey(...args) {
    counter.imports++;
    return original.apply(this, args);
  };
  return { counter, restore: () => delete subtle.importKey };
}

/**
 * Silences console.* while the worker runs: its one JSON log line per request
 * is still built (that is the worker's CPU), but not written to this terminal,
 * which in Workers is the runtime's job, not the isolate's.
 */
export function silenceConsole() {
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error };
  const counter = { lines: 0 };
  const swallow = () => {
    counter.lines++;
  };
  Object.assign(console, { log: swallow, info: swallow, warn: swallow, error: swallow });
  return { counter, restore: () => Object.assign(console, saved) };
}
