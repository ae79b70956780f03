// Long-running tools (wrangler, Prism) run in their own process groups, so
// stopping one also stops what it spawned (workerd, Prism's workers).
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { sleep } from "./support.mjs";

/** After SIGTERM, a tool and its children get this long to exit before the group is killed. */
const STOP_GRACE_MS = 5_000;
/** How often a stopping process group is checked for exit. */
const STOP_POLL_MS = 100;

function isAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a process group started with `detached: true`: SIGTERM, then SIGKILL after a grace period. */
export async function stopGroup(child) {
  if (child.pid === undefined || !isAlive(child.pid)) return;
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + STOP_GRACE_MS;
  while (isAlive(child.pid) && Date.now() < deadline) await sleep(STOP_POLL_MS);
  if (isAlive(child.pid)) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  }
}

/** Synchronous last resort for signal and exit handlers, where nothing can be awaited. */
export function killGroupNow(child) {
  if (child?.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {}
}

/**
 * Spawns a tool in a new session and process group (Node's `detached` calls
 * setsid(2)). Output goes to `logFile` and, line by line, to `onLine`.
 */
export function spawnGroup(command, args, { cwd, env, logFile, onLine }) {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const file = createWriteStream(logFile);
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream.on("data", (chunk) => {
      file.write(chunk);
      const lines = (rest + chunk.toString("utf8")).split("\n");
      rest = lines.pop();
      for (const line of lines) onLine(line);
    });
  }
  child.on("close", () => file.end());
  return child;
}
