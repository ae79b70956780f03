// The ports `npm run dev` uses: read from PORT, ISSUER_PORT, CHATKIT_PORT and
// DEMO_PORT (or `--port` for the worker), and checked before anything starts,
// so a taken port is reported with the knob that moves it, never half-way
// through a start. Dev-only: never bundled.
import { createServer } from "node:net";

/** Each port's variable, default and what listens on it, in banner order. */
export const PORTS = [
  { variable: "PORT", fallback: 8787, role: "the worker" },
  { variable: "ISSUER_PORT", fallback: 8788, role: "the dev token issuer" },
  { variable: "CHATKIT_PORT", fallback: 8789, role: "the ChatKit stand-in" },
  { variable: "DEMO_PORT", fallback: 8790, role: "the demo page" },
];

/** A mistake in how `npm run dev` was called: printed as is, without a stack. */
export class DevUsageError extends Error {}

function parsePort(source, text) {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > 65_535) {
    throw new DevUsageError(`${source} must be a port number from 1 to 65535, not "${text}"`);
  }
  return value;
}

/**
 * Takes `--port N` or `--port=N` out of the arguments meant for `wrangler
 * dev`: the script already passes `--port`, and wrangler refuses a second
 * one ("expects a single value"), which is exactly what its own hint
 * (`npm run dev -- --port 9787`) would give.
 */
export function takePortArg(args) {
  const rest = [];
  let port;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let text;
    if (arg === "--port") {
      text = args[++i];
      if (text === undefined || text.startsWith("-")) throw new DevUsageError("--port needs a port number");
    } else if (arg.startsWith("--port=")) {
      text = arg.slice("--port=".length);
    } else {
      rest.push(arg);
      continue;
    }
    if (port !== undefined) throw new DevUsageError("pass --port once");
    port = parsePort("--port", text);
  }
  return { port, rest };
}

/**
 * The port of each variable in {@link PORTS}, with `source` naming the knob
 * that set it (the variable, or `--port` for the worker when given).
 */
export function resolvePorts(env, portArg) {
  return PORTS.map(({ variable, fallback, role }) => {
    if (variable === "PORT" && portArg !== undefined) return { variable, role, port: portArg, source: "--port" };
    const text = env[variable];
    const port = text === undefined || text === "" ? fallback : parsePort(variable, text);
    return { variable, role, port, source: variable };
  });
}

/** How to move a port: the worker's has two knobs, and `--port` is the one wrangler suggests. */
function howToMove({ variable }) {
  return variable === "PORT"
    ? "pass another with `npm run dev -- --port <port>` (or set PORT)"
    : `set ${variable} to another, e.g. \`${variable}=<port> npm run dev\``;
}

/** Resolves true when nothing listens on `port` at `host`: binds it exclusively for a moment. */
function probe(port, host) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error) => (error.code === "EADDRINUSE" ? resolve(false) : reject(error)));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * What stops these ports from being used, one sentence each naming the
 * variable to change: two uses of one port, or a port something already
 * listens on. Empty when all are free.
 */
export async function portProblems(entries, host) {
  const problems = [];
  const seen = new Map();
  for (const entry of entries) {
    const first = seen.get(entry.port);
    if (first) {
      problems.push(
        `${first.source} and ${entry.source} are both ${entry.port}: ${entry.role} needs its own port; ${howToMove(entry)}`,
      );
      continue;
    }
    seen.set(entry.port, entry);
    let free;
    try {
      free = await probe(entry.port, host);
    } catch (error) {
      problems.push(
        `port ${entry.port} (${entry.source}) for ${entry.role} cannot be used (${error.code}); ${howToMove(entry)}`,
      );
      continue;
    }
    if (!free) problems.push(`port ${entry.port} (${entry.source}) for ${entry.role} is in use; ${howToMove(entry)}`);
  }
  return problems;
}
