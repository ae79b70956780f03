// Free loopback ports for the processes the tests, the demo test and the
// bench start and must tell a port before it is bound: wrangler, its
// inspector, Prism, the dev stand-ins.
//
// A port the kernel hands out for `listen(0)` is an ephemeral one, and the
// kernel may hand it out again to anyone between our check and the child's
// bind. wrangler, workerd and Node all bind ephemeral ports of their own as
// they start, so two `npm run dev` starting together could take each
// other's ports (one CI run lost its ISSUER_PORT that way). These ports come
// from below the kernel's ephemeral range instead, where only an explicit
// bind lands, and each is checked free by binding it.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The ports `npm run dev` uses by default: never taken from a demo someone is running. */
const DEV_PORTS = new Set([8787, 8788, 8789, 8790]);
/** The lowest port handed out: above the ports that long-running local services usually sit on. */
const LOWEST_PORT = 10_000;
/** Linux's default first ephemeral port, for when /proc cannot say. */
const DEFAULT_EPHEMERAL_START = 32_768;

/** Ports handed out by this process already, so two calls never return the same one. */
const handedOut = new Set();

/** The first port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`). */
function ephemeralStart() {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && low > LOWEST_PORT) return low;
  } catch {
    // Not Linux, or no /proc: the usual default.
  }
  return DEFAULT_EPHEMERAL_START;
}

function bindable(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * `count` distinct ports on 127.0.0.1, each bound and released just now,
 * below the ephemeral range. The search starts at a random port so that
 * separate processes (the bench beside a test run) rarely look at the same
 * ones.
 */
export async function freePorts(count) {
  const highest = ephemeralStart() - 1;
  const span = highest - LOWEST_PORT + 1;
  const ports = [];
  let candidate = LOWEST_PORT + Math.floor(Math.random() * span);
  for (let looked = 0; ports.length < count; looked++) {
    if (looked >= span) throw new Error(`fewer than ${count} free ports between ${LOWEST_PORT} and ${highest}`);
    candidate = candidate >= highest ? LOWEST_PORT : candidate + 1;
    if (DEV_PORTS.has(candidate) || handedOut.has(candidate)) continue;
    if (await bindable(candidate)) {
      handedOut.add(candidate);
      ports.push(candidate);
    }
  }
  return ports;
}

/** One port, as {@link freePorts}. */
export async function freePort() {
  const [port] = await freePorts(1);
  return port;
}
